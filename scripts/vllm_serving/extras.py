"""Optional dependencies: which commands need which extra of the package, and the error when it is missing.

A core install (`pip install vllm-serving`) runs validate, render, size, values, preflight, up and the local
cluster. The extras are declared in pyproject.toml's [project.optional-dependencies]; the modules listed
here are what each extra's distributions provide.
"""

from __future__ import annotations

import importlib.util

from vllm_serving.errors import MissingExtra

# extra -> (distributions, modules they provide)
EXTRAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gcp": (
        ("google-cloud-compute", "google-cloud-container"),
        ("google.cloud.compute_v1", "google.cloud.container_v1"),
    ),
    "loadtest": (("locust",), ("locust",)),
    "pipeline": (("apache-beam",), ("apache_beam",)),
    # apache-beam[gcp] 2.77 requires google-apitools, google-cloud-pubsub and google-cloud-secret-manager;
    # setuptools builds this package's sdist for the workers (--setup_file)
    "dataflow": (
        ("apache-beam[gcp]", "openai", "setuptools"),
        ("apitools", "google.cloud.pubsub", "google.cloud.secretmanager", "openai", "setuptools"),
    ),
}

# vllm-serving sub-command -> the extra it needs before it parses its arguments (`pipeline --dry-run` needs
# none: it asks for [pipeline], and for [dataflow] per option, when it runs)
COMMAND_EXTRAS = {"bake": "gcp", "nodepool": "gcp", "loadtest": "loadtest"}


def _installed(module: str) -> bool:
    # Looked up, never imported: importing locust would monkey-patch this process with gevent.
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # a parent package is missing, or a stand-in with no spec
        return False


def require(extra: str, command: str, modules: tuple[str, ...] = ()) -> None:
    """Raise MissingExtra, naming the install command, unless every module of ``extra`` (or those of its
    ``modules`` that ``command`` uses) can be imported."""
    distributions, provided = EXTRAS[extra]
    assert set(modules) <= set(provided), f"{modules} are not all provided by [{extra}]"
    if all(_installed(module) for module in modules or provided):
        return
    raise MissingExtra(
        f"vllm-serving {command} needs the package's [{extra}] extra ({', '.join(distributions)}), "
        f"which is not installed: pip install 'vllm-serving[{extra}]'"
    )


def require_for_command(command: str) -> None:
    if command in COMMAND_EXTRAS:
        require(COMMAND_EXTRAS[command], command)
