"""``snncli report``: energy per inference under named profiles, from a simulation result."""

from __future__ import annotations

from dataclasses import dataclass

from snncli.core.files import read_json
from snncli.errors import SnnCliError
from snncli.hwsim.report import build_report, write_report

DEFAULT_PROFILES = ("horowitz45", "horowitz45-memory", "loihi")


@dataclass(frozen=True)
class ReportRequest:
    sim: str  # JSON written by `snncli simulate --json`
    output_dir: str = "report"
    profiles: tuple[str, ...] = DEFAULT_PROFILES


@dataclass
class ReportResult:
    report: dict
    files: dict[str, str]

    def to_json(self) -> dict:
        return {"command": "report", **self.report, "files": self.files}


def report(req: ReportRequest) -> ReportResult:
    sim = read_json(req.sim, "simulation result")
    if not isinstance(sim, dict):
        raise SnnCliError(f"{req.sim} is not a simulation result (write one with `snncli simulate --json`)")
    built = build_report(sim, list(req.profiles))
    return ReportResult(built, write_report(built, req.output_dir))
