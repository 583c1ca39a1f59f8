"""The ``float`` and ``nir`` targets: NIR semantics in float64, the ground truth for every chip.

``float`` lowers a graph to a float64 Program (:mod:`~snncli.targets.float.lowering`)
whose neurons use the ``float_lif`` model (:mod:`~snncli.targets.float.neuron`); it
has no chip limits, so its artifact is the Program itself and it has no vendor
reference.  ``nir`` is the same arithmetic whose artifact is the NIR graph itself, in
snncli's dialect (it records the reading and dt it means: snncli and SpikingJelly read it
right), or with ``--for PEER`` in the dialect that peer's importer reads as snncli does
(:mod:`~snncli.targets.float.peers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir

from snncli.core.program import Program
from snncli.nirgraph.check import CheckedGraph
from snncli.nirgraph.io import write_nir
from snncli.targets.base import Target, register
from snncli.targets.float.lowering import lower_float
from snncli.targets.float.neuron import MODEL, FloatLIF
from snncli.targets.float.peers import PEERS, for_peer


@register
class FloatTarget(Target):
    name = "float"
    default = True
    summary = "the NIR equations in float64, forward Euler: the ground truth every chip is compared with"
    artifact = "the lowered float64 Program (.npz) that hwsim executes"
    neuron_models = (MODEL,)

    def lower(self, graph: CheckedGraph, dt: float, reading: str, options, calibration=None) -> Program:
        return lower_float(graph, dt, reading, self.name)


@dataclass(frozen=True)
class NirOptions:
    for_peer: str | None = field(default=None, metadata={
        "flag": "--for", "choices": PEERS,
        "help": "write the dialect PEER's NIR importer reads as snncli reads the graph, or refuse what it cannot "
        "express (default: snncli's own, recording its reading)"})  # fmt: skip


@register
class NirTarget(FloatTarget):
    name = "nir"
    default = False
    summary = (
        "the NIR graph in snncli's dialect (read right by snncli and SpikingJelly; --for PEER: by that peer's "
        "importer), executing as the float target"
    )
    artifact = "the NIR graph (.nir)"
    Options = NirOptions

    def lower(self, graph: CheckedGraph, dt: float, reading: str, options: NirOptions, calibration=None) -> Program:
        program = lower_float(graph, dt, reading, self.name)
        if options.for_peer:
            for_peer(graph, reading, dt, options.for_peer)  # refuse before any work what the peer cannot read
            program.notes["for_peer"] = options.for_peer
        return program

    def write(self, program: Program, graph: CheckedGraph, path: str) -> list[str]:
        peer = program.notes.get("for_peer")
        if peer:
            write_nir(for_peer(graph, program.reading, program.dt, peer), path)
        else:
            write_nir(_recording(graph, program), path)
        return [path]


def _recording(graph: CheckedGraph, program: Program):
    """The graph with the reading and dt it was lowered with in ``metadata["snncli"]``."""
    meta = {**(graph.graph.metadata or {}), "snncli": {**graph.metadata, "reading": program.reading, "dt": program.dt}}
    return nir.NIRGraph(nodes=graph.graph.nodes, edges=list(graph.graph.edges), metadata=meta, type_check=False)


__all__ = ["FloatLIF", "FloatTarget", "NirOptions", "NirTarget"]
