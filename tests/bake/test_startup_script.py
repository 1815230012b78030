"""The build VM's startup script: shellcheck, and runs with stub commands that touch only a temp dir.

Every system command the script uses (ctr, mkfs.ext4, mount, apt-get, systemctl, curl, gcloud,
python3, ...) is a stub on PATH that logs its arguments; the device is a plain file and the
mount point a directory, moved there by the script's BAKE_* variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.clock import FakeClock
from vllm_serving.bake import build_vm
from vllm_serving.bake.build_vm import ScriptFailed, SerialWatcher

SCRIPT = Path(build_vm.__file__).with_name("startup.sh")
RUN = ["--run-id", "r-1", "--content", "abc123"]
DOCKER = "docker.io/vllm/vllm-openai:v0.33.0"
GAR = "us-docker.pkg.dev/proj/repo/server:1.0"

STUBS = {
    # name: body (bash). Each stub first logs "name args" to $STUB_LOG.
    "ctr": r"""
[[ ${1:-} == -n ]] && shift 2
case "${1:-} ${2:-}" in
  "version "*) echo "Server:"; echo "  Version: 1.7.0" ;;
  "images pull")
    ref=${*: -1}
    if [[ -n ${CTR_FAIL_PULL:-} ]]; then echo "failed to resolve reference $ref: not found"; exit 1; fi
    echo "$ref" >> "$STUB_STATE/pulled" ;;
  "images ls")
    echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"
    while read -r ref; do echo "$ref application/vnd.oci.image.index.v1+json sha256:1 1.0 GiB linux/amd64 -"; done \
      < "$STUB_STATE/pulled" ;;
  "snapshots ls")
    echo "KEY                PARENT       KIND"
    echo "sha256:aaa                      Committed"
    echo "sha256:bbb         sha256:aaa   Committed"
    echo "k8s-active-1       sha256:bbb   Active" ;;
  "snapshots view") echo "$4" > "$STUB_STATE/view-$3" ;;
  "snapshots mounts")
    key=$(cat "$STUB_STATE/view-$4")
    case $key in
      sha256:aaa) echo "mount -t bind $SNAPSHOTS/snapshots/1/fs $3 -o ro,rbind" ;;
      sha256:bbb)
        lower=$SNAPSHOTS/snapshots/2/fs:$SNAPSHOTS/snapshots/1/fs
        echo "mount -t overlay overlay $3 -o index=off,lowerdir=$lower" ;;
    esac ;;
  "snapshots rm") rm -f "$STUB_STATE/view-$3" ;;
  *) echo "ctr stub: unexpected $*" >&2; exit 99 ;;
esac
""",
    "curl": r"""
url=${*: -1}
case $url in
  */service-accounts/default/token) echo '{"access_token":"ya29.token","expires_in":3599,"token_type":"Bearer"}' ;;
  */attributes/vllm-serving-bake-args) [[ -f $STUB_STATE/args ]] || exit 22; cat "$STUB_STATE/args" ;;
  *) exit 22 ;;
esac
""",
    "gcloud": r"""
case "$1 $2" in
  "storage cp")
    src=${4%/\*}; dest=$5
    cp -a "$GCS/${src#gs://}/." "$dest" ;;
  "secrets versions") echo "hf_secret_token" ;;
  *) exit 99 ;;
esac
""",
    "python3": r"""
if [[ $1 == -m && $2 == venv ]]; then
  mkdir -p "$3/bin"
  printf '#!/bin/bash\necho "pip $*" >> "$STUB_LOG"\n' > "$3/bin/pip"
  cat > "$3/bin/python" <<'EOF'
#!/bin/bash
echo "hf-python $* token=${HF_TOKEN:-} transfer=${HF_HUB_ENABLE_HF_TRANSFER:-}" >> "$STUB_LOG"
cat > /dev/null
mkdir -p "$3/.cache/huggingface"
echo '{}' > "$3/config.json"
echo weights > "$3/model.safetensors"
EOF
  chmod +x "$3/bin/pip" "$3/bin/python"
fi
""",
    "blockdev": "[[ -e ${*: -1} ]] && echo 107374182400",
    "mkfs.ext4": "exit ${MKFS_RC:-0}",
    "mount": "exit ${MOUNT_RC:-0}",
    "umount": "exit 0",
    "sync": "exit ${SYNC_RC:-0}",
    "systemctl": "exit 0",
    # apt as on a fresh GCE image: no package lists until `apt-get update` fetches them.
    "apt-get": r"""
case $1 in
  update) touch "$STUB_STATE/apt-lists" ;;
  install) [[ -f $STUB_STATE/apt-lists ]] || { echo "E: Unable to locate package ${*: -1}" >&2; exit 100; } ;;
esac
""",
    "sleep": "exit 0",
}


@dataclass
class ScriptRun:
    code: int
    out: str
    err: str
    log: list[str]

    @property
    def markers(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith("VLLM-SERVING-BAKE[")]


class Sandbox:
    def __init__(self, root: Path):
        self.root = root
        self.stubs = root / "stubs"
        self.state = root / "state"
        self.mount = root / "mnt"
        self.devices = root / "dev"
        self.gcs = root / "gcs"
        self.snapshots = root / "containerd"
        for path in (self.stubs, self.state, self.devices, self.gcs):
            path.mkdir()
        (self.state / "pulled").touch()
        for name, body in STUBS.items():
            stub = self.stubs / name
            stub.write_text(f'#!/bin/bash\necho "{name} $*" >> "$STUB_LOG"\n{body}\n')
            stub.chmod(0o755)
        self.device = self.devices / f"google-{build_vm.DEVICE_NAME}"
        self.device.write_bytes(b"")
        for n, files in ((1, {"bin/sh": "shell"}), (2, {"usr/lib/libpython.so": "lib", "etc/.wh.gone": ""})):
            for rel, text in files.items():
                path = self.snapshots / "snapshots" / str(n) / "fs" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        model = self.gcs / "models" / "gemma"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        (model / "model-00001-of-00002.safetensors").write_text("w1")

    def run(self, *args: str, **env: str) -> ScriptRun:
        log = self.state / "log"
        log.unlink(missing_ok=True)
        environment = {
            "PATH": f"{self.stubs}:/usr/bin:/bin",
            "STUB_LOG": str(log),
            "STUB_STATE": str(self.state),
            "SNAPSHOTS": str(self.snapshots),
            "GCS": str(self.gcs),
            "BAKE_DEVICE_DIR": str(self.devices),
            "BAKE_MOUNT": str(self.mount),
            "BAKE_METADATA_URL": "http://metadata.invalid/computeMetadata/v1/instance",
            "BAKE_CONTAINERD_DIR": str(self.root / "etc-containerd"),
            "BAKE_WORK_DIR": str(self.root / "work"),
            **env,
        }
        done = subprocess.run(
            ["bash", str(SCRIPT), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
        )
        lines = log.read_text().splitlines() if log.exists() else []
        return ScriptRun(done.returncode, done.stdout, done.stderr, lines)


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def test_shellcheck_finds_nothing():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    # every optional check too, except "prefer ${var} braces" (a style choice)
    done = subprocess.run(
        ["shellcheck", "--severity=style", "--enable=all", "--exclude=SC2250", str(SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_syntax():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


class TestImageCache:
    def test_success(self, box):
        result = box.run("image-cache", *RUN, "--", DOCKER, GAR)
        assert result.code == 0, result.out + result.err
        assert result.markers[-1] == "VLLM-SERVING-BAKE[r-1] SUCCESS"
        assert "VLLM-SERVING-BAKE[r-1] STEP: pulling docker.io/vllm/vllm-openai:v0.33.0" in result.markers
        assert "VLLM-SERVING-BAKE[r-1] STEP: copied 2 layers" in result.markers
        assert (box.mount / "snapshots.metadata").read_text() == (
            "sha256:aaa snapshots/1/fs\nsha256:bbb snapshots/2/fs\n"
        )
        assert (box.mount / "snapshots/1/fs/bin/sh").read_text() == "shell"
        assert (box.mount / "snapshots/2/fs/usr/lib/libpython.so").read_text() == "lib"
        assert (box.mount / "snapshots/2/fs/etc/.wh.gone").exists()
        images = (box.mount / "images.metadata").read_text()
        assert DOCKER in images and GAR in images
        assert (box.mount / startup_manifest()).read_text() == (
            f"kind=image-cache\ncontent=abc123\nrun=r-1\nitem={DOCKER}\nitem={GAR}\n"
        )

    def test_formats_mounts_and_unmounts_the_device(self, box):
        box.run("image-cache", *RUN, DOCKER)
        device = str(box.device)
        assert any(line.startswith("mkfs.ext4 ") and line.endswith(device) for line in box_log(box))
        assert f"mount -o discard,defaults {device} {box.mount}" in box_log(box)
        assert f"umount {box.mount}" in box_log(box)
        assert box_log(box).index(f"umount {box.mount}") > max(
            i for i, line in enumerate(box_log(box)) if line.startswith("ctr -n k8s.io images ls")
        )

    def test_docker_hub_goes_through_the_mirror(self, box):
        box.run("image-cache", *RUN, DOCKER)
        hosts = (box.root / "etc-containerd/certs.d/docker.io/hosts.toml").read_text()
        assert '[host."https://mirror.gcr.io"]' in hosts

    def test_auto_auth_uses_the_token_for_google_registries_only(self, box):
        box.run("image-cache", *RUN, DOCKER, GAR)
        pulls = [line for line in box_log(box) if line.startswith("ctr -n k8s.io images pull")]
        assert pulls[0].endswith(DOCKER) and "--user" not in pulls[0]
        assert f"--user oauth2accesstoken:ya29.token {GAR}" in pulls[1]
        assert sum("service-accounts/default/token" in line for line in box_log(box)) == 1

    @pytest.mark.parametrize(("auth", "token_for_docker"), [("none", False), ("service-account", True)])
    def test_auth_modes(self, box, auth, token_for_docker):
        result = box.run("image-cache", *RUN, "--auth", auth, DOCKER)
        assert result.code == 0
        pull = next(line for line in box_log(box) if line.startswith("ctr -n k8s.io images pull"))
        assert ("--user oauth2accesstoken:ya29.token" in pull) is token_for_docker

    def test_installs_containerd_when_missing(self, box):
        (box.stubs / "ctr").rename(box.stubs / "ctr.real")
        result = box.run("image-cache", *RUN, DOCKER)
        assert result.code == 1  # the stub apt-get installs nothing, so containerd never answers
        assert "apt-get install -y -qq containerd" in box_log(box)
        assert result.markers[-1] == "VLLM-SERVING-BAKE[r-1] FAILURE: containerd did not come up"

    def test_pull_failure(self, box):
        result = box.run("image-cache", *RUN, DOCKER, CTR_FAIL_PULL="1")
        assert result.code == 1
        assert result.markers[-1] == f"VLLM-SERVING-BAKE[r-1] FAILURE: cannot pull {DOCKER}"
        assert "failed to resolve reference" in result.out  # the tail of ctr's log
        assert f"umount {box.mount}" not in box_log(box)

    def test_missing_device(self, box):
        box.device.unlink()
        result = box.run("image-cache", *RUN, DOCKER)
        assert result.code == 1
        assert result.markers[-1].startswith(
            "VLLM-SERVING-BAKE[r-1] FAILURE: no disk attached with device name vllm-serving-bake-data"
        )

    def test_unexpected_error_is_reported_with_its_step(self, box):
        result = box.run("image-cache", *RUN, DOCKER, SYNC_RC="3")
        assert result.code == 3
        assert result.markers[-1] == (
            "VLLM-SERVING-BAKE[r-1] FAILURE: step 'unmounting the data disk' failed with exit code 3"
        )
        assert sum("FAILURE" in m for m in result.markers) == 1

    def test_mkfs_failure(self, box):
        result = box.run("image-cache", *RUN, DOCKER, MKFS_RC="1")
        assert result.markers[-1] == f"VLLM-SERVING-BAKE[r-1] FAILURE: mkfs.ext4 failed on {box.device}"

    def test_arguments_from_instance_metadata(self, box):
        args = build_vm.image_cache_args("r-1", "abc123", [DOCKER], auth="auto")
        (box.state / "args").write_text(build_vm.metadata_items(args)[build_vm.ARGS_ATTRIBUTE])
        result = box.run()
        assert result.code == 0, result.out
        assert result.markers[-1] == "VLLM-SERVING-BAKE[r-1] SUCCESS"

    def test_no_arguments_and_no_metadata(self, box):
        result = box.run()
        assert result.code == 1
        assert result.markers == [
            "VLLM-SERVING-BAKE[unknown] FAILURE: cannot read the metadata attribute vllm-serving-bake-args"
        ]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["bake"], "unknown mode 'bake'"),
        (["image-cache", "--content", "abc123", DOCKER], "--run-id must be lowercase letters"),
        (["image-cache", "--run-id", "r-1", DOCKER], "--content must be the content hash"),
        (["image-cache", *RUN], "image-cache needs at least one image"),
        (["image-cache", *RUN, "--auth", "basic", DOCKER], "--auth must be auto, none or service-account"),
        (["image-cache", *RUN, "--mirror", "x", DOCKER], "unknown option --mirror"),
        (["image-cache", *RUN, "--auth"], "--auth needs a value"),
        (["weights", *RUN], "--source must be gs://BUCKET/PATH or hf://ORG/MODEL"),
        (["weights", *RUN, "--source", "s3://b/m"], "--source must be"),
        (["weights", *RUN, "--source", "gs://b/m", DOCKER], "weights takes no images"),
    ],
)
def test_usage_errors(box, args, reason):
    result = box.run(*args)
    assert result.code == 2
    assert len(result.markers) == 1
    assert f"FAILURE: usage: {reason}" in result.markers[0]
    assert box_log(box) == []  # nothing was run


class TestWeights:
    def test_from_gcs(self, box):
        result = box.run("weights", *RUN, "--source", "gs://models/gemma")
        assert result.code == 0, result.out + result.err
        assert (box.mount / "model-00001-of-00002.safetensors").read_text() == "w1"
        assert "gcloud storage cp --recursive gs://models/gemma/* " + f"{box.mount}/" in box_log(box)
        assert "VLLM-SERVING-BAKE[r-1] STEP: copied 2 files" in result.markers
        assert "item=gs://models/gemma\n" in (box.mount / startup_manifest()).read_text()

    def test_empty_source_fails(self, box):
        shutil.rmtree(box.gcs / "models" / "gemma")
        (box.gcs / "models" / "gemma").mkdir()
        result = box.run("weights", *RUN, "--source", "gs://models/gemma")
        assert result.markers[-1] == "VLLM-SERVING-BAKE[r-1] FAILURE: no files were copied from gs://models/gemma"

    def test_from_hugging_face(self, box):
        result = box.run(
            "weights",
            *RUN,
            "--source",
            "hf://google/gemma-2-9b-it",
            "--revision",
            "abc",
            "--hf-token-secret",
            "hf-token",
        )
        assert result.code == 0, result.out + result.err
        assert "gcloud secrets versions access latest --secret=hf-token" in box_log(box)
        apt = [line for line in box_log(box) if line.startswith("apt-get")]
        assert apt.index("apt-get update -qq") < apt.index("apt-get install -y -qq python3-venv")
        download = next(line for line in box_log(box) if line.startswith("hf-python"))
        assert download.startswith(f"hf-python - google/gemma-2-9b-it {box.mount} abc")
        assert "token=hf_secret_token transfer=1" in download
        assert (box.mount / "model.safetensors").exists()
        assert not (box.mount / ".cache").exists()
        assert "item=hf://google/gemma-2-9b-it@abc\n" in (box.mount / startup_manifest()).read_text()


class TestVerify:
    def test_after_image_cache(self, box):
        assert box.run("image-cache", *RUN, DOCKER).code == 0
        result = box.run("verify", *RUN, "--", DOCKER)
        assert result.code == 0, result.out
        assert "VLLM-SERVING-BAKE[r-1] STEP: 2 layers and 1 images present" in result.markers
        assert f"mount -o ro,noload {box.device} {box.mount}" in box_log(box)

    def test_other_content(self, box):
        assert box.run("image-cache", *RUN, DOCKER).code == 0
        result = box.run("verify", "--run-id", "r-1", "--content", "fff", DOCKER)
        assert result.markers[-1] == (
            "VLLM-SERVING-BAKE[r-1] FAILURE: the disk holds other content (abc123), expected fff"
        )

    def test_missing_layer(self, box):
        assert box.run("image-cache", *RUN, DOCKER).code == 0
        shutil.rmtree(box.mount / "snapshots" / "2")
        result = box.run("verify", *RUN, DOCKER)
        assert result.markers[-1] == (
            "VLLM-SERVING-BAKE[r-1] FAILURE: layer sha256:bbb: directory snapshots/2/fs is missing"
        )

    def test_missing_image(self, box):
        assert box.run("image-cache", *RUN, DOCKER).code == 0
        result = box.run("verify", *RUN, GAR)
        assert result.markers[-1] == f"VLLM-SERVING-BAKE[r-1] FAILURE: image {GAR} is not on the disk"

    def test_not_a_baked_disk(self, box):
        box.mount.mkdir()
        result = box.run("verify", *RUN)
        assert "FAILURE: the disk has no vllm-serving-bake.manifest" in result.markers[-1]

    def test_weights(self, box):
        assert box.run("weights", *RUN, "--source", "gs://models/gemma").code == 0
        result = box.run("verify", *RUN)
        assert result.code == 0
        assert "VLLM-SERVING-BAKE[r-1] STEP: 2 files present" in result.markers


class TestWatcherReadsTheScript:
    """The markers the script prints are the ones the Python side waits for."""

    @staticmethod
    def watch(text: str) -> None:
        console = "".join(
            f"Nov 21 01:00:00 vm google_metadata_script_runner[812]: startup-script: {line}\n"
            for line in text.splitlines()
        )
        watcher = SerialWatcher(
            lambda start: (console[start:], len(console)),
            "r-1",
            clock=FakeClock(),
            interval=10,
            timeout=60,
            progress=_Quiet(),
            vm="vm",
        )
        watcher.wait()

    def test_success(self, box):
        self.watch(box.run("image-cache", *RUN, DOCKER).out)

    def test_failure(self, box):
        with pytest.raises(ScriptFailed, match=f"failed: cannot pull {DOCKER}"):
            self.watch(box.run("image-cache", *RUN, DOCKER, CTR_FAIL_PULL="1").out)


class _Quiet:
    def wait(self, *args: object) -> None:
        pass


def box_log(box: Sandbox) -> list[str]:
    log = box.state / "log"
    return log.read_text().splitlines() if log.exists() else []


def startup_manifest() -> str:
    return "vllm-serving-bake.manifest"


def test_script_is_shipped_in_the_package():
    assert build_vm.script_text().startswith("#!/bin/bash")
    assert os.access(SCRIPT, os.R_OK)
