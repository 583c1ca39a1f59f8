"""``snncli report``: energy and latency per inference, SNN vs its ANN twin, under named energy profiles.

From a simulation result (``snncli simulate --json``): the deployed Program's event
counters, its ANN twin and its latency.  From a training run directory: the float torch
model counted with the same definitions (:mod:`snncli.commands.torch_counts`), labelled
as such: the way to a report for a model no chip can run (PSN neurons, Spikformer).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from snncli.commands.console import Console
from snncli.core.files import check_output_dir, read_json
from snncli.errors import SnnCliError
from snncli.hwsim.energy import BUILTIN, get_profile, load_profile_file
from snncli.hwsim.report import build_report, write_report

DEFAULT_PROFILES = tuple(p.name for p in BUILTIN)


@dataclass(frozen=True)
class ReportRequest:
    source: str  # JSON written by `snncli simulate --json`, or a training run directory
    output_dir: str = "report"
    profiles: tuple[str, ...] | None = None  # None: every built-in profile and every profile of the files
    profile_files: tuple[str, ...] = ()  # YAML files with user profiles
    limit: int | None = 200  # a run directory: test samples counted
    checkpoint: str = "best"
    device: str = "cpu"


@dataclass
class ReportResult:
    report: dict
    files: dict[str, str]

    def to_json(self) -> dict:
        return {"command": "report", **self.report, "files": self.files}


def report(req: ReportRequest, console: Console | None = None) -> ReportResult:
    console = console or Console()
    check_output_dir(req.output_dir, "report folder")
    own = [p for path in req.profile_files for p in load_profile_file(path)]
    extra = {p.name: p for p in own}
    names = req.profiles if req.profiles is not None else (*DEFAULT_PROFILES, *extra)
    profiles = [get_profile(name, extra) for name in dict.fromkeys(names)]
    if os.path.isdir(req.source):
        from snncli.commands.run import Run
        from snncli.commands.torch_counts import count_run

        counted = count_run(Run(req.source), req.checkpoint, req.limit, device=req.device)
        console.note(f"counted on {counted['counted_on']}")
    else:
        counted = read_json(req.source, "simulation result")
        if not isinstance(counted, dict):
            raise SnnCliError(f"{req.source} is not a simulation result (write one with `snncli simulate --json`)")
    built = build_report(counted, profiles, [*BUILTIN, *own])
    for warning in built["report_warnings"]:
        console.warn(warning)
    return ReportResult(built, write_report(built, req.output_dir))
