"""Publishing the chart: chart-testing's `ct lint` with its version-increment check, and `helm package` +
`helm push` to an OCI registry (the CNCF distribution registry on 127.0.0.1), pulled back and rendered from
`oci://`. Both tools are built from their Go modules (hack/tools) by support.publish_tools, cached like the cluster.

Contracts: ct v3.14.0 `pkg/chart/chart.go` (LintChart: version check against <remote>/<target-branch>, then
yamale on Chart.yaml, yamllint on Chart.yaml, values.yaml and ci/*-values.yaml, then helm lint); Helm's OCI
layout, https://helm.sh/docs/topics/registries/ (config media type application/vnd.cncf.helm.config.v1+json,
one layer application/vnd.cncf.helm.chart.content.v1.tar+gzip, tagged with the chart version).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from paths import CHART, REPO, VALUES_FILES
from support import publish_tools
from vllm_serving import gobuild, helm

pytestmark = pytest.mark.publish

VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
REGISTRY = "github.com/distribution/distribution/v3"
HELM_CONFIG_MEDIA = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MEDIA = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


@pytest.fixture(scope="session")
def tools() -> Path:
    return publish_tools.TOOLS.ensure()


def _env(tmp: Path) -> dict[str, str]:
    """helm, yamllint and yamale of this venv first on PATH; Helm's config, cache and registry logins in tmp."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["PATH"] = os.pathsep.join([str(Path(helm.helm_executable()).parent), env["PATH"]])
    for var, sub in (("HELM_CONFIG_HOME", "config"), ("HELM_CACHE_HOME", "cache"), ("HELM_DATA_HOME", "data")):
        env[var] = str(tmp / "helm" / sub)
    env["HELM_REGISTRY_CONFIG"] = str(tmp / "helm" / "registry.json")
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_tools_report_the_versions_go_mod_pins(tools: Path) -> None:
    # ct v3.14.0 ct/cmd/version.go prints its Version variable ("unreleased" unless the build sets it with -X);
    # the registry prints its module's version from the binary's build info
    pinned = {m: gobuild.module_version(publish_tools.TOOLS.src, m) for m in (publish_tools.CT, REGISTRY)}
    ct = subprocess.run([str(tools / "ct"), "version"], capture_output=True, text=True, check=True)
    assert f"Version:\t {pinned[publish_tools.CT]}\n" in ct.stdout
    registry = subprocess.run([str(tools / "registry"), "--version"], capture_output=True, text=True, check=True)
    assert registry.stdout.split()[1:3] == [REGISTRY, f"{pinned[REGISTRY]}+unknown"]


class TestCtLint:
    """ct lint in a scratch repository holding the chart: a chart change without a version bump fails."""

    @pytest.fixture
    def repo(self, tmp_path: Path) -> Path:
        repo = tmp_path / "repo"
        # ci/ files are helm-linted one by one by .ci/run already; without them ct lints values.yaml alone
        shutil.copytree(CHART, repo / "charts" / "vllm-serving", ignore=shutil.ignore_patterns("ci"))
        shutil.copytree(REPO / ".ci" / "ct", repo / ".ci" / "ct")
        self.git(repo, "init", "-q", "-b", "main")
        self.commit(repo, "chart")
        return repo

    @staticmethod
    def git(repo: Path, *args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    def commit(self, repo: Path, message: str) -> None:
        self.git(repo, "add", "-A")
        self.git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)

    def lint(self, repo: Path, tools: Path) -> subprocess.CompletedProcess[str]:
        # what .ci/run does: the previous commit is the target branch
        self.git(repo, "update-ref", "refs/remotes/ct-previous/head", "HEAD~1")
        return _run([str(tools / "ct"), "lint", "--config", ".ci/ct/ct.yaml"], repo, _env(repo.parent))

    def test_a_chart_change_needs_a_version_bump(self, repo, tools):
        chart = repo / "charts" / "vllm-serving"
        values = chart / "values.yaml"
        values.write_text(values.read_text() + "\n# a change\n")
        self.commit(repo, "change without bump")
        refused = self.lint(repo, tools)
        assert refused.returncode != 0
        assert f"Old chart version: {VERSION}\nNew chart version: {VERSION}" in refused.stdout
        assert "chart version not ok. Needs a version bump!" in refused.stdout

        chart_yaml = chart / "Chart.yaml"
        major, minor, _ = VERSION.split("-")[0].split(".")
        bumped = f"{major}.{int(minor) + 1}.0"
        chart_yaml.write_text(chart_yaml.read_text().replace(f"version: {VERSION}\n", f"version: {bumped}\n"))
        self.commit(repo, "bump")
        passed = self.lint(repo, tools)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "Chart version ok." in passed.stdout and "All charts linted successfully" in passed.stdout

    def test_no_chart_change_passes(self, repo, tools):
        (repo / "README.md").write_text("not the chart\n")
        self.commit(repo, "docs")
        result = self.lint(repo, tools)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "No chart changes detected." in result.stdout

    def test_our_yamllint_rules_refuse_a_duplicate_key(self, repo, tools):
        chart = repo / "charts" / "vllm-serving"
        (chart / "ci").mkdir()
        (chart / "ci" / "dup-values.yaml").write_text("model:\n  name: a\nmodel:\n  name: b\n")
        chart_yaml = chart / "Chart.yaml"
        chart_yaml.write_text(chart_yaml.read_text().replace(f"version: {VERSION}\n", "version: 99.0.0\n"))
        self.commit(repo, "duplicate key")
        result = self.lint(repo, tools)
        assert result.returncode != 0
        assert '3:1       error    duplication of key "model" in mapping  (key-duplicates)' in result.stdout

    def test_our_chart_schema_refuses_a_non_semver_version(self, repo, tools):
        chart_yaml = repo / "charts" / "vllm-serving" / "Chart.yaml"
        chart_yaml.write_text(chart_yaml.read_text().replace(f"version: {VERSION}\n", "version: 99.1\n"))
        self.commit(repo, "bad version")
        result = self.lint(repo, tools)
        assert result.returncode != 0
        assert "version: '99.1' is not a SemVer 2." in result.stdout + result.stderr


@pytest.fixture(scope="module")
def registry(tools: Path, tmp_path_factory: pytest.TempPathFactory):
    """The distribution registry on a free loopback port, storing in a temporary directory."""
    root = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (root / "config.yml").write_text(yaml.safe_dump(config))
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen([str(tools / "registry"), "serve", str(root / "config.yml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as ok:
                    assert ok.status == 200
                break
            except OSError:
                assert proc.poll() is None, (root / "registry.log").read_text()
                assert time.monotonic() < deadline, "the registry did not answer within 30 s"
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _get(url: str, accept: str = "application/json") -> dict:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def pushed(registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The chart packaged by `helm package` and pushed by `helm push` to the loopback registry."""
    tmp = tmp_path_factory.mktemp("publish")
    env = _env(tmp)
    packaged = _run([helm.helm_executable(), "package", str(CHART), "-d", str(tmp / "dist")], tmp, env)
    assert packaged.returncode == 0, packaged.stderr
    tgz = tmp / "dist" / f"vllm-serving-{VERSION}.tgz"
    push = _run([helm.helm_executable(), "push", str(tgz), f"oci://{registry}/charts", "--plain-http"], tmp, env)
    assert push.returncode == 0, push.stderr
    assert f"Pushed: {registry}/charts/vllm-serving:{VERSION}" in push.stdout + push.stderr
    return {"tgz": tgz, "oci": f"oci://{registry}/charts/vllm-serving", "registry": registry}


def test_the_registry_stores_helms_oci_layout(pushed):
    registry, tgz = pushed["registry"], pushed["tgz"]
    digest = "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest()
    assert _get(f"http://{registry}/v2/charts/vllm-serving/tags/list")["tags"] == [VERSION]
    manifest = _get(
        f"http://{registry}/v2/charts/vllm-serving/manifests/{VERSION}", "application/vnd.oci.image.manifest.v1+json"
    )
    assert manifest["config"]["mediaType"] == HELM_CONFIG_MEDIA
    assert [(layer["mediaType"], layer["digest"]) for layer in manifest["layers"]] == [(HELM_CHART_MEDIA, digest)]


def test_pull_returns_the_packaged_archive(pushed, tmp_path):
    (tmp_path / "pulled").mkdir()
    argv = [helm.helm_executable(), "pull", pushed["oci"], "--version", VERSION, "--plain-http", "-d", "pulled"]
    pulled = _run(argv, tmp_path, _env(tmp_path))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "pulled" / pushed["tgz"].name).read_bytes() == pushed["tgz"].read_bytes()


def _template(chart: str, values: Path, tmp: Path, *extra: str) -> str:
    argv = [helm.helm_executable(), "template", "gemma", chart, "--namespace", "llm", "-f", str(values), *extra]
    result = _run(argv, tmp, _env(tmp))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_chart_from_oci_renders_like_the_source(pushed, tmp_path):
    values = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
    from_oci = _template(pushed["oci"], values, tmp_path, "--version", VERSION, "--plain-http")
    assert from_oci == _template(str(CHART), values, tmp_path)


class TestOciApplicationSet:
    """examples/argocd/applicationset-oci.yaml: the chart at a pinned version from OCI, values from git."""

    APPSET = yaml.safe_load((REPO / "examples" / "argocd" / "applicationset-oci.yaml").read_text())
    GIT = yaml.safe_load((REPO / "examples" / "argocd" / "applicationset.yaml").read_text())

    def test_the_chart_source_pins_a_published_version(self):
        chart, values = self.APPSET["spec"]["template"]["spec"]["sources"]
        assert chart["repoURL"].startswith("oci://") and chart["repoURL"].endswith("/vllm-serving")
        assert chart["path"] == "."
        pinned = tuple(int(x) for x in chart["targetRevision"].split("."))  # a plain version: no range, no tag
        assert pinned <= tuple(int(x) for x in VERSION.split("-")[0].split("."))
        assert values == {"repoURL": self.GIT["spec"]["generators"][0]["git"]["repoURL"], "targetRevision": "main",
                          "ref": "values"}  # fmt: skip

    def test_everything_else_matches_the_git_applicationset(self):
        def without_source(appset: dict) -> dict:
            spec = {k: v for k, v in appset["spec"]["template"]["spec"].items() if k not in ("source", "sources")}
            return {**appset, "spec": {**appset["spec"], "template": {**appset["spec"]["template"], "spec": spec}}}

        assert without_source(self.APPSET) == without_source(self.GIT)

    def test_renders_a_values_file_from_the_pinned_oci_chart(self, pushed, tmp_path):
        values_file = next(p for p in VALUES_FILES if p.name == "gemma-2-9b-it-l4.yaml")
        (chart, _) = self.APPSET["spec"]["template"]["spec"]["sources"]
        relative = values_file.relative_to(REPO)
        (value_ref,) = chart["helm"]["valueFiles"]
        resolved = value_ref.replace("{{ .path.path }}", str(relative.parent)).replace(
            "{{ .path.filename }}", relative.name
        )
        assert resolved.startswith("$values/")
        path = REPO / resolved.removeprefix("$values/")
        assert path == values_file
        from_oci = _template(pushed["oci"], path, tmp_path, "--version", VERSION, "--plain-http")
        assert from_oci == _template(str(CHART), values_file, tmp_path)
