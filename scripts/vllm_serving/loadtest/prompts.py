"""The prompts file: JSON Lines, one ``{"prompt": "...", "max_tokens": N}`` object per line.

Blank lines are skipped and other keys are ignored; anything else is an error that names the line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vllm_serving.errors import UsageError

_EXAMPLE = '{"prompt": "Explain KV caching in two sentences.", "max_tokens": 128}'


@dataclass(frozen=True)
class Prompt:
    text: str
    max_tokens: int


def default_prompts_file() -> Path:
    """The prompts file shipped with the package."""
    return Path(str(resources.files("vllm_serving.loadtest") / "prompts.jsonl"))


def parse_line(line: str, where: str) -> Prompt:
    """One line of the file; ``where`` (``FILE:LINE``) leads every error message."""
    try:
        entry = json.loads(line)
    except ValueError as err:
        msg = getattr(err, "msg", str(err))
        raise UsageError(f"{where}: not valid JSON ({msg}); each line must be an object like {_EXAMPLE}") from None
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: a {type(entry).__name__}, not an object like {_EXAMPLE}")
    text = entry.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f'{where}: "prompt" must be a non-empty string, like {_EXAMPLE}')
    max_tokens = entry.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise UsageError(f'{where}: "max_tokens" must be a positive integer, got {max_tokens!r}')
    return Prompt(text, max_tokens)


def load_prompts(path: str | Path | None = None) -> list[Prompt]:
    """The prompts of ``path`` (the shipped file when None), in file order."""
    path = Path(path) if path is not None else default_prompts_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such prompts file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: cannot read the prompts file ({err})") from None
    prompts = [
        parse_line(line, f"{path}:{number}") for number, line in enumerate(text.splitlines(), start=1) if line.strip()
    ]
    if not prompts:
        raise UsageError(f"{path}: no prompts; add one object per line, like {_EXAMPLE}")
    return prompts


def prompt_order(count: int, seed: int) -> Iterator[int]:
    """Prompt indexes for request 0, 1, 2, ...: one seeded shuffle of all ``count`` prompts after another,
    so every prompt is sent once before any is sent again, and a seed always gives the same order."""
    rng = random.Random(seed)
    while True:
        order = list(range(count))
        rng.shuffle(order)
        yield from order
