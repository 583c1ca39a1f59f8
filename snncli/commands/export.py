"""``snncli export``: a trained run, or any producer's ``.nir`` file, -> a target's artifact.

From a run, the graph is exported from its checkpoint at ``dt`` (default
:data:`~snncli.core.physics.DEFAULT_DT`) and, for targets that calibrate, lowered with
encoded training samples.  From a ``.nir`` file there are no calibration samples: the
target's scale rule without calibration is used, and the artifact says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from snncli.commands.console import Console
from snncli.commands.network import file_kind, lower_graph
from snncli.commands.run import Run
from snncli.core.files import check_output_path
from snncli.core.physics import DEFAULT_DT, check_dt
from snncli.errors import SnnCliError
from snncli.nirgraph.io import read_nir
from snncli.targets import get_target


@dataclass(frozen=True)
class ExportRequest:
    source: str  # run directory or .nir file
    target: str
    output: str
    options: dict = field(default_factory=dict)
    checkpoint: str = "best"
    dt: float | None = None  # a run: the graph's time step (default DEFAULT_DT); a .nir file: as recorded
    reading: str | None = None
    override: frozenset = frozenset()


@dataclass
class ExportResult:
    source: str
    target: str
    output: str
    files: list[str]
    nodes: int
    dt: float
    reading: str
    warnings: list[str]
    notes: list[str]

    def to_json(self) -> dict:
        return {"command": "export", **vars(self)}


def export(req: ExportRequest, console: Console | None = None) -> ExportResult:
    console = console or Console()
    target = get_target(req.target)
    check_output_path(req.output)
    if os.path.isdir(req.source):
        run = Run(req.source)
        if req.reading is not None or req.override:
            raise SnnCliError(
                "--reading and --override-* apply to .nir files; a run's graph is read as snncli wrote it"
            )
        dt = check_dt(req.dt) if req.dt is not None else DEFAULT_DT
        graph = run.graph(req.checkpoint, dt)
        calibration = run.calibration() if target.needs_calibration else None
        net = lower_graph(graph, req.target, console, req.options, dt, calibration=calibration, where=f"the run {run}")
    else:
        if file_kind(req.source) != "graph":
            raise SnnCliError(f"{req.source} is a lowered Program; export takes a run directory or a .nir graph")
        graph = read_nir(req.source)
        net = lower_graph(
            graph,
            req.target,
            console,
            req.options,
            req.dt,
            req.reading,
            req.override,
            where=f"the graph {os.path.basename(req.source)}",
        )
    files = target.write(net.program, net.graph, req.output)
    return ExportResult(
        source=req.source,
        target=req.target,
        output=req.output,
        files=files,
        nodes=len(graph.nodes),
        dt=net.program.dt,
        reading=net.program.reading,
        warnings=console.warnings,
        notes=console.notes,
    )
