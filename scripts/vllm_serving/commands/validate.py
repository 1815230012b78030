"""`vllm-serving validate`: the verdict on values files (vllm_serving.verdict.judge, the one every command
uses), each file on its own."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vllm_serving import chart as chart_mod
from vllm_serving import cli_options


@dataclass
class Report:
    """The verdict on one values file, as the command prints it."""

    file: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def check_file(path: str | Path, chart: Path) -> Report:
    from vllm_serving.verdict import judge

    verdict = judge(chart, [path])
    return Report(str(path), verdict.problems, verdict.all_warnings)


def validate_files(paths: Sequence[str | Path], chart: Path) -> list[Report]:
    """Each file on its own, concurrently (helm is a process; the threads only wait for it)."""
    with ThreadPoolExecutor(max_workers=min(len(paths), 16) or 1) as pool:
        return list(pool.map(lambda p: check_file(p, chart), paths))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vllm-serving validate",
        description="Ask Helm for the chart's verdict on values files (values.schema.json, which holds "
        "Kubernetes' own definitions of the pass-through objects, and the cross-field rules of "
        "templates/validate/: the checks `helm install` makes), each file on its own; refuse what Helm would "
        "read otherwise than written, and a known model that cannot start on its GPUs (validation.modelFit: warn "
        "makes that a warning); warn of valid values that often hurt (the chart's judgement calls, which "
        "`helm install` shows in its notes). `up` and `preflight` give the same verdict. "
        "Exit status 1 if any file is invalid, 0 if all are valid, warnings or not.",
    )
    cli_options.add_values(parser, help="values file(s) to check")
    cli_options.add_chart(parser)
    cli_options.add_output(parser)
    args = parser.parse_args(argv)

    reports = validate_files(args.values, chart_mod.chart_dir(args.chart))
    if args.output == "json":
        print(cli_options.json_report({"files": [asdict(r) | {"valid": r.valid} for r in reports]}))
    else:
        for report in reports:
            if report.valid:
                print(f"{report.file}: valid" + (f", {len(report.warnings)} warning(s)" if report.warnings else ""))
            else:
                print(f"{report.file}: {len(report.problems)} problem(s)")
                for problem in report.problems:
                    print(f"  - {problem}")
            for warning in report.warnings:
                print(f"  warning: {warning}")
    return 0 if all(r.valid for r in reports) else 1
