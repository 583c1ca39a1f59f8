"""``snncli inspect G.nir``: what snncli reads in a graph, node by node, before running it.

For every neuron node: the producers whose exporter could have written it (their
fingerprints, :mod:`snncli.nirgraph.detect`), the dt each implies, and its parameters;
for the graph: what it records (``metadata["snncli"]``), the names/shape evidence, and
the reading ``simulate`` and ``export`` would apply, or the readings it would ask to
choose between, with the rules of that reading and the producer lines it follows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from snncli.commands.console import Console
from snncli.commands.network import file_kind
from snncli.errors import SnnCliError
from snncli.nirgraph.check import metadata_value
from snncli.nirgraph.detect import detect
from snncli.nirgraph.io import read_nir
from snncli.nirgraph.readings import reading as get_reading


@dataclass(frozen=True)
class InspectRequest:
    graph: str


@dataclass
class InspectResult:
    graph: str
    nodes: list[dict]
    recorded: dict
    detection: dict
    reading: dict | None  # the rules of the reading that would apply (None: the graph cannot tell)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"command": "inspect", **vars(self)}


def inspect(req: InspectRequest, console: Console | None = None) -> InspectResult:
    console = console or Console()
    if file_kind(req.graph) != "graph":
        raise SnnCliError(
            f"{req.graph} is a lowered Program; inspect reads .nir graphs (a Program records its "
            "reading and dt as fields)"
        )
    graph = read_nir(req.graph)
    for warning in graph.warnings:
        console.warn(warning)
    found = detect(graph)
    recorded = {key: metadata_value(graph.metadata, key) for key in ("producer", "reading", "dt")}
    applies = recorded["reading"] or found.reading
    facts = {f.name: f for f in found.nodes}
    nodes = []
    for g in graph.nodes:
        row = {
            "name": g.name,
            "kind": g.kind,
            "inputs": list(g.inputs),
            "delayed_inputs": list(g.delayed_inputs),
            "in_shape": list(g.in_shape),
            "out_shape": list(g.out_shape),
        }
        if g.name in facts:
            f = facts[g.name]
            row.update(fits=list(f.fits), strong=list(f.strong), dt=f.dt, parameters=f.summary)
        nodes.append(row)
    rules = get_reading(applies) if applies else None
    return InspectResult(
        graph=os.path.basename(req.graph),
        nodes=nodes,
        recorded=recorded,
        detection=found.to_json(),
        reading=None
        if rules is None
        else {"name": rules.name, "producer": rules.producer, "summary": rules.summary, "sources": list(rules.sources)},
        warnings=list(console.warnings),
    )


__all__ = ["InspectRequest", "InspectResult", "inspect"]
