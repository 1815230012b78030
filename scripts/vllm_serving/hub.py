"""A model's config.json and checkpoint size from the Hugging Face Hub, through huggingface_hub.

huggingface_hub does the talking, so its settings hold: HF_TOKEN (or a stored login) for gated and
private models, HF_ENDPOINT for a mirror, HF_HOME / HF_HUB_CACHE for the cache, and HF_HUB_OFFLINE=1 to
answer from the cache alone. Only two small files are read, never weights: config.json, and the
checkpoint's safetensors index, whose metadata.total_size is the bytes of every tensor in it (what
vLLM loads); a checkpoint of one file has no index, and its size comes from the Hub's file listing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from vllm_serving.errors import UsageError, VllmServingError

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


def endpoint() -> str:
    """The Hub to ask: HF_ENDPOINT as set now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


@dataclass(frozen=True)
class HubModel:
    config: dict[str, Any]
    checkpoint_bytes: int | None  # None: the Hub (or the cache, offline) did not say
    gated: bool


def _fail(model: str, err: Exception) -> VllmServingError:
    from huggingface_hub import constants, errors

    if isinstance(err, errors.LocalEntryNotFoundError):  # a subclass of EntryNotFoundError: ask it first
        offline = "HF_HUB_OFFLINE is set and " if _offline() else ""
        return UsageError(
            f"{model}: {offline}its config.json is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the Hub"
            f" ({endpoint()}) could not be reached; run once with network access, or pass --config"
        )
    if isinstance(err, errors.GatedRepoError):
        return UsageError(
            f"{model} is gated on the Hugging Face Hub: accept its licence on the model's page, then set HF_TOKEN"
            " to a token of that account (or pass --config with its config.json)"
        )
    if isinstance(err, errors.RepositoryNotFoundError):
        return UsageError(
            f"{model}: no such model on the Hugging Face Hub ({endpoint()}), or it is private and HF_TOKEN"
            " is not a token that can read it; check the id (organisation/name), or pass --config"
        )
    if isinstance(err, errors.RevisionNotFoundError | errors.EntryNotFoundError):
        return UsageError(f"{model} has no config.json on the Hub; give a model id of a transformers checkpoint")
    return VllmServingError(f"{model}: reading config.json from the Hugging Face Hub failed: {err}")


def _offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _read_json(path: str, model: str, name: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise VllmServingError(f"{model}: the Hub's {name} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise VllmServingError(f"{model}: the Hub's {name} is not a JSON object")
    return data


def _checkpoint_bytes(model: str) -> int | None:
    """metadata.total_size of the safetensors index, else the size of the one safetensors file."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub import errors as hub_errors

    try:
        index = _read_json(hf_hub_download(model, INDEX, endpoint=endpoint()), model, INDEX)
        total = (index.get("metadata") or {}).get("total_size")
        return int(total) if total else None
    except hub_errors.EntryNotFoundError:
        pass
    except hub_errors.LocalEntryNotFoundError:
        return None
    try:
        infos = HfApi(endpoint=endpoint()).get_paths_info(model, [SINGLE])
    except (hub_errors.HfHubHTTPError, hub_errors.LocalEntryNotFoundError, OSError):
        return None
    sizes = [getattr(info, "size", None) for info in infos]
    return int(sizes[0]) if sizes and sizes[0] else None


def fetch(model: str) -> HubModel:
    """config.json and the checkpoint's size of a Hub model id (organisation/name)."""
    if model.count("/") != 1 or model.startswith(("http:", "https:", "/", ".")):
        raise UsageError(
            f"{model!r} is not a Hugging Face model id; give organisation/name (e.g. Qwen/Qwen3-32B), or --config"
        )
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(model, "config.json", endpoint=endpoint())
    except (hub_errors.HfHubHTTPError, hub_errors.LocalEntryNotFoundError, hub_errors.HFValidationError) as err:
        raise _fail(model, err) from None
    except OSError as err:
        raise _fail(model, err) from None
    config = _read_json(path, model, "config.json")
    return HubModel(config=config, checkpoint_bytes=_checkpoint_bytes(model), gated=_gated(model))


def _gated(model: str) -> bool:
    """Whether the Hub asks for a licence before download (False when it cannot be asked)."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hub_errors

    try:
        return bool(getattr(HfApi(endpoint=endpoint()).model_info(model), "gated", False))
    except (hub_errors.HfHubHTTPError, hub_errors.LocalEntryNotFoundError, OSError):
        return False
