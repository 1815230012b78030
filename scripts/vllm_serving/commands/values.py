"""`vllm-serving values new`: a complete values file for a model on an accelerator, sized to fit
(vllm_serving.values_new composes it and has the chart check it; this writes it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vllm_serving import perf, sizing, values_new
from vllm_serving.errors import UsageError


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="vllm-serving values", description="Write values files for the chart.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub = commands.add_parser(
        "new",
        help="a values file for a model on an accelerator, sized to fit",
        description="Write a complete values file for MODEL on ACCELERATOR: the smallest tensor size (or node "
        "count) that serves --concurrency sequences of --context tokens, the weight source, and CPU and memory "
        "for the machine. Beyond one node it writes pipeline-parallel values; it refuses what the chart cannot "
        "deploy.",
    )
    sub.add_argument("--model", required=True, help="Hugging Face id, e.g. google/gemma-2-9b-it")
    sub.add_argument(
        "--accelerator",
        help="cloud.google.com/gke-accelerator value, e.g. nvidia-l4 (with --qps: the cheapest meeting the targets)",
    )
    sub.add_argument(
        "--source", choices=values_new.SOURCES, default="huggingface", help="weights.source (default: %(default)s)"
    )
    sizing.add_budget_options(sub)
    perf.add_target_options(sub)
    sub.add_argument("--served-name", help="model.servedName (default: the model's name after the '/', lower case)")
    sub.add_argument("--hf-token-secret", metavar="NAME", help="Secret with a Hugging Face token (gated models)")
    sub.add_argument("--hf-token-key", metavar="KEY", default="token", help="key of the token in that Secret")
    sub.add_argument("--bucket", help="Cloud Storage bucket of the model (gcsfuse, gcsStream)")
    sub.add_argument(
        "--path", help="directory of the model in the bucket, disk or share (bucket default: the model id)"
    )
    sub.add_argument(
        "--disk", action="append", default=[], help="projects/P/zones/Z/disks/D (persistentDisk; repeat per zone)"
    )
    sub.add_argument("--nfs-server", help="Filestore IP address (nfs)")
    sub.add_argument("--nfs-share", help="Filestore file share, e.g. /vol1 (nfs)")
    sub.add_argument("--gcp-service-account", metavar="EMAIL", help="Google service account for Workload Identity")
    sub.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    sub.add_argument("--force", action="store_true", help="overwrite FILE")
    args = parser.parse_args(argv)
    return write(values_new.new(args), args.output, force=args.force)


def write(new: values_new.NewValues, output: str | None, *, force: bool) -> int:
    """To -o FILE (its $schema modeline relative to the file), or to standard output; the chart's warnings on
    the values go to standard error, as `validate` prints them."""
    for warning in new.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if output is None:  # most likely redirected to a file here
        sys.stdout.write(values_new.render(new.values, [values_new.modeline(new.chart, Path.cwd()), "#", *new.header]))
        return 0
    out = Path(output)
    if out.exists() and not force:
        raise UsageError(f"-o {out}: the file exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise UsageError(f"-o {out}: no directory {out.parent}")
    out.write_text(values_new.render(new.values, [values_new.modeline(new.chart, out.parent), "#", *new.header]))
    print(f"wrote {out}: {new.summary}", file=sys.stderr)
    return 0
