"""The ``float`` and ``nir`` targets: NIR semantics in float64, the ground truth for every chip.

``float`` lowers a graph to a float64 Program (:mod:`~snncli.targets.float.lowering`)
whose neurons use the ``float_lif`` model (:mod:`~snncli.targets.float.neuron`); it
has no chip limits, so its artifact is the Program itself and it has no vendor
reference.  ``nir`` is the same arithmetic whose artifact is the NIR graph itself.
"""

from __future__ import annotations

from snncli.core.program import Program
from snncli.nirgraph.check import CheckedGraph
from snncli.nirgraph.io import write_nir
from snncli.targets.base import Target, register
from snncli.targets.float.lowering import lower_float
from snncli.targets.float.neuron import MODEL, FloatLIF


@register
class FloatTarget(Target):
    name = "float"
    default = True
    summary = "the NIR equations in float64, forward Euler: the ground truth every chip is compared with"
    artifact = "the lowered float64 Program (.npz) that hwsim executes"
    neuron_models = (MODEL,)

    def lower(self, graph: CheckedGraph, dt: float, reading: str, options, calibration=None) -> Program:
        return lower_float(graph, dt, reading, self.name)


@register
class NirTarget(FloatTarget):
    name = "nir"
    default = False
    summary = "the NIR graph itself, readable by NIR tools (executes as the float target)"
    artifact = "the NIR graph (.nir)"

    def write(self, program: Program, graph: CheckedGraph, path: str) -> list[str]:
        write_nir(graph, path)
        return [path]


__all__ = ["FloatLIF", "FloatTarget", "NirTarget"]
