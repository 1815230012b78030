"""Labels and the content hash that make bakes idempotent and their leftovers findable."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

# Bumped when the layout written on the disk changes, so that older images are not reused.
FORMAT = "1"

RUN_LABEL = "vllm-serving-bake"  # on temporary resources only: the run that created them
CONTENT_LABEL = "vllm-serving-bake-content"  # on everything: the hash of what the disk holds
KIND_LABEL = "vllm-serving-bake-kind"  # image-cache | weights
RESERVED_LABELS = (RUN_LABEL, CONTENT_LABEL, KIND_LABEL)


def content_hash(kind: str, **sources: object) -> str:
    """A label-safe hash (24 hex digits) of what a bake puts on its disk."""
    document = json.dumps({"kind": kind, "format": FORMAT, **sources}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()[:24]


def new_run_id() -> str:
    """``20250101-120000-a1b2``: sortable, unique enough, usable in resource names and label values."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def temporary_filter(content: str | None = None, run_id: str | None = None) -> str:
    """A Compute Engine list filter for temporary resources of one bake content, one run, or all runs."""
    terms = [f'(labels.{RUN_LABEL} = "{run_id}")' if run_id else f"(labels.{RUN_LABEL}:*)"]
    if content:
        terms.append(f'(labels.{CONTENT_LABEL} = "{content}")')
    return " ".join(terms)
