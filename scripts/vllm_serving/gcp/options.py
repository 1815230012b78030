"""The command-line options bake and nodepool share (pip's cmdoptions): an argparse parser that reports through
UsageError, --project and --output, and the argument checks done before any API call; each check raises UsageError
naming the option and the fix."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence

from vllm_serving import cli_options
from vllm_serving.errors import UsageError

_RFC1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_ZONE = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+-[a-z]$")
_REGION = re.compile(r"^[a-z]+(-[a-z]+)+[0-9]+$")
_PROJECT = re.compile(r"^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_GCS = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/\S*)?$")
_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")

RFC1035_RULE = "use 1-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"


def resource_name(option: str, value: str, *, max_length: int = 63) -> str:
    """A Compute Engine / GKE resource name (RFC 1035 label)."""
    if not _RFC1035.match(value) or len(value) > max_length:
        limit = f" (at most {max_length} characters)" if max_length != 63 else ""
        raise UsageError(f"{option}: {value!r} is not a valid name: {RFC1035_RULE}{limit} (RFC 1035)")
    return value


def zone(option: str, value: str) -> str:
    if not _ZONE.match(value):
        hint = f"; did you mean {value}-a?" if _REGION.match(value) else ""
        raise UsageError(f"{option}: {value!r} is not a zone: expected REGION-LETTER such as us-central1-a{hint}")
    return value


def location(option: str, value: str) -> str:
    """A GKE location: a region (regional cluster) or a zone (zonal cluster)."""
    if not (_ZONE.match(value) or _REGION.match(value)):
        raise UsageError(f"{option}: {value!r} is not a region or zone: expected e.g. us-central1 or us-central1-a")
    return value


def region_of(zone_name: str) -> str:
    return zone_name.rsplit("-", 1)[0]


def project(value: str | None) -> str:
    if not value:
        raise UsageError("--project: no project given: pass --project or set CLOUDSDK_CORE_PROJECT")
    if not _PROJECT.match(value):
        raise UsageError(
            f"--project: {value!r} is not a project ID: 6-30 lowercase letters, digits and hyphens, "
            "starting with a letter"
        )
    return value


def labels(option: str, pairs: list[str], reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """``["team=ml", "env=prod"]`` -> a dict, with Compute Engine label rules."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise UsageError(
                f"{option}: {pair!r} is not a label: use KEY=VALUE, lowercase letters, digits, "
                "'_' and '-', the key starting with a letter, each at most 63 characters"
            )
        if key in reserved:
            raise UsageError(f"{option}: the label {key!r} is set by vllm-serving itself; choose another key")
        result[key] = value
    return result


def size_gb(option: str, value: int, *, minimum: int = 10, maximum: int = 65536) -> int:
    if not minimum <= value <= maximum:
        raise UsageError(f"{option}: {value} GB is out of range: use {minimum} to {maximum}")
    return value


def duration(option: str, value: str) -> float:
    """``90`` or ``90s``, ``45m``, ``1h30m`` -> seconds."""
    match = _DURATION.match(value.strip())
    if not value.strip() or not match or not any(match.groups()):
        raise UsageError(f"{option}: {value!r} is not a duration: use e.g. 90s, 45m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise UsageError(f"{option}: the duration must be positive")
    return float(total)


def container_image(value: str) -> str:
    """Check a container image reference and return it fully qualified, as ``ctr`` needs it.

    ``vllm/vllm-openai:v0.33.0`` -> ``docker.io/vllm/vllm-openai:v0.33.0``. A tag or a digest is
    required, and ``latest`` is refused: a cache is only useful for the exact image the node runs.
    """

    def bad(reason: str) -> UsageError:
        return UsageError(f"image {value!r} is not a valid container image reference: {reason}")

    if not value or any(c.isspace() for c in value):
        raise bad("it is empty or contains whitespace")
    name, _, digest = value.partition("@")
    if digest and not _DIGEST.match(digest):
        raise bad("the digest must be sha256: and 64 hex digits")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise bad(f"{tag!r} is not a valid tag")
    components = name.split("/")
    if len(components) > 1 and ("." in components[0] or ":" in components[0] or components[0] == "localhost"):
        host, path = components[0], components[1:]
        if not _HOST.match(host):
            raise bad(f"{host!r} is not a registry host")
    else:
        host, path = "docker.io", components
    if host == "docker.io" and len(path) == 1:
        path = ["library", *path]
    for part in path:
        if not _PATH_COMPONENT.match(part):
            raise bad(f"the path component {part!r} must be lowercase letters and digits separated by . _ or -")
    if not tag and not digest:
        raise UsageError(
            f"image {value!r} has no tag: pin a tag or digest (e.g. {value}:v0.33.0), the cache only "
            "helps the exact image the node pulls"
        )
    if tag == "latest":
        raise UsageError(f"image {value!r}: the tag 'latest' moves; pin a version tag or a digest")
    ref = f"{host}/{'/'.join(path)}"
    return ref + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def weights_source(value: str) -> str:
    """``gs://bucket/path`` or a Hugging Face model id (``org/model`` or ``hf://org/model``) -> canonical form."""
    if value.startswith("gs://"):
        if not _GCS.match(value):
            raise UsageError(f"--source: {value!r} is not a GCS path: expected gs://BUCKET/PATH")
        return value.rstrip("/")
    model = value.removeprefix("hf://")
    if not _HF_ID.match(model):
        raise UsageError(
            f"--source: {value!r} is neither a GCS path (gs://BUCKET/PATH) nor a Hugging Face model id "
            "(ORG/MODEL, e.g. google/gemma-2-9b-it)"
        )
    return f"hf://{model}"


# -- options ------------------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so that cli.run reports it."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status of ``--help``."""
    try:
        return parser.parse_args(list(argv))
    except SystemExit as done:  # --help
        return int(done.code or 0)


def default_project() -> str | None:
    return os.environ.get("CLOUDSDK_CORE_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT") or None


def add_project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        default=default_project(),
        help="Google Cloud project (default: $CLOUDSDK_CORE_PROJECT or $GOOGLE_CLOUD_PROJECT)",
    )


def add_output(parser: argparse.ArgumentParser) -> None:
    cli_options.add_output(parser, help="text for people, json (on stdout; progress stays on stderr) for CI")
