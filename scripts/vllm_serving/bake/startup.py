"""The build VM's startup script (startup.sh, shipped in the package) and how its arguments reach it."""

from __future__ import annotations

from importlib import resources

DEVICE_NAME = "vllm-serving-bake-data"  # the data disk appears as /dev/disk/by-id/google-<this>
ARGS_ATTRIBUTE = "vllm-serving-bake-args"


def script_text() -> str:
    return resources.files("vllm_serving.bake").joinpath("startup.sh").read_text()


def metadata_items(args: list[str]) -> dict[str, str]:
    """Instance metadata: the script, and its arguments one per line (none may contain a newline)."""
    for arg in args:
        if "\n" in arg:
            raise ValueError(f"startup script argument {arg!r} contains a newline")
    return {"startup-script": script_text(), ARGS_ATTRIBUTE: "\n".join(args)}


def image_cache_args(run_id: str, content: str, images: list[str], *, auth: str) -> list[str]:
    return ["image-cache", "--run-id", run_id, "--content", content, "--auth", auth, "--", *images]


def weights_args(
    run_id: str, content: str, source: str, *, revision: str | None, hf_token_secret: str | None
) -> list[str]:
    args = ["weights", "--run-id", run_id, "--content", content, "--source", source]
    if revision:
        args += ["--revision", revision]
    if hf_token_secret:
        args += ["--hf-token-secret", hf_token_secret]
    return args


def verify_args(run_id: str, content: str, images: list[str] = ()) -> list[str]:
    return ["verify", "--run-id", run_id, "--content", content, "--", *images]
