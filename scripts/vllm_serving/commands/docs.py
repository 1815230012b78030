"""`vllm-serving docs`: values.schema.json written from values.yaml and the overlay, and the chart README's values
reference (vllm_serving.docs and values_schema do the work). `--check` writes nothing and exits 1 when either file
is out of date (CI runs it through the test suite)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options, docs, kubedefs, values_schema
from vllm_serving.errors import UsageError


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving docs",
        description="Write values.schema.json from values.yaml (keys, types, defaults, `# --` comments as "
        f"descriptions) and {values_schema.OVERLAY} (the constraints values.yaml cannot state), with the "
        "Kubernetes definitions its pass-through keys refer to ($defs, from Kubernetes' own schema), and "
        "regenerate the values reference table in the chart's README.",
    )
    cli_options.add_chart(parser)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if either file is out of date")
    args = parser.parse_args(argv)

    chart = chart_mod.chart_dir(args.chart)
    values_path = chart / "values.yaml"
    descriptions = docs.comment_descriptions(values_path.read_text())
    overlay = values_schema.load_overlay(chart / values_schema.OVERLAY)
    schema = values_schema.generate(chart_mod.load_values_file(values_path), descriptions, overlay)
    missing = [where for where, sub in docs.schema_keys(schema) if "description" not in sub]
    if missing:
        raise UsageError(f"{values_path}: no `# --` comment above {', '.join(missing)}; describe each key there")
    schema["$defs"] = kubedefs.definitions(schema)
    schema_path: Path = chart / "values.schema.json"
    readme_path: Path = chart / "README.md"
    fresh = {
        schema_path: docs.schema_text(schema),
        readme_path: docs.updated(readme_path.read_text(), docs.reference(schema)),
    }
    stale = [path for path in fresh if path.read_text() != fresh[path]]
    if args.check:
        for path in stale:
            if path == schema_path:
                keys = docs.differing(json.loads(schema_path.read_text()), schema)
                where = f" at {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}" if keys else ""
                sources = f"values.yaml and {values_schema.OVERLAY}"
                print(f"{path}: not what {sources} generate{where}; run `vllm-serving docs`")
            else:
                print(f"{path}: the values reference is out of date; run `vllm-serving docs`")
        if stale:
            return 1
        print(f"{schema_path.name} and {readme_path.name}: generated from values.yaml and {values_schema.OVERLAY}")
        return 0
    for path in stale:
        path.write_text(fresh[path])
        print(f"{path}: written")
    if not stale:
        print(f"{schema_path.name} and {readme_path.name}: already up to date")
    return 0
