"""The ``speck`` target: NIR -> Program in SynSense Speck's integer arithmetic (DynapCNN cores).

Modules, in the order lowering uses them:

* :mod:`.structure` -- what the chip runs: the NIR graph as a chain of cores
  (synapse -> IAF -> sum pool), the readings it executes, and what is refused;
* :mod:`.layer`, :mod:`.limits`, :mod:`.mapping` -- a core's shapes, every chip limit
  with its Sinabs source, and the memory figures and core assignment as Sinabs
  computes them;
* :mod:`.quantize` and :mod:`.scale_search` -- the scales: Sinabs' discretization rule,
  the quantization-aware-training lattice, and the search on calibration samples;
* :mod:`.lowering` and :mod:`.program` -- ``lower`` and the Program it builds;
* :mod:`.arithmetic` -- the integer IAF hwsim runs (``speck_iaf``, event-driven) and
  the integer conv / linear / pool rules, each with its Sinabs source;
* :mod:`.config` -- the chip configuration JSON; :mod:`.network` and
  :mod:`.reference` -- the integer network and Sinabs' ``DynapcnnNetwork`` oracle
  (an optional install: ``scripts/install_sinabs.sh``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncli.core.program import Program
from snncli.nirgraph.check import CheckedGraph
from snncli.targets.base import Target, register
from snncli.targets.speck import config
from snncli.targets.speck.arithmetic import MODEL, SpeckIAF
from snncli.targets.speck.limits import LIMITS
from snncli.targets.speck.lowering import NAME, lower


@dataclass(frozen=True)
class SpeckOptions:
    allow_leak_removal: bool = field(
        default=False,
        metadata={
            "help": "speck: lower leaky LIF neurons as IF (Speck's neurons have no leak); the warnings and the "
            "artifact name every layer whose decay was removed"
        },
    )
    readout: bool = field(default=False, metadata={
        "help": "speck: read the classes from the chip's readout layer (at most 15; the last layer is widened "
                "to 4 channels per class, the Speck 2e/2f errata) instead of the monitor bus"})  # fmt: skip


@register
class SpeckTarget(Target):
    name = NAME
    summary = (
        "SynSense Speck (DynapCNN): integer IAF, 8-bit weights, 16-bit state, 9 cores, event input; "
        "Sinabs' arithmetic and limits"
    )
    artifact = "the chip configuration (.json, per core as Sinabs writes it for samna) and the .program.npz"
    Options = SpeckOptions
    needs_calibration = True
    quantized = True
    neuron_models = (MODEL,)
    packages = {
        "sinabs": "Speck reference simulation (Sinabs' DynapcnnNetwork, discretized)",
        "samna": "SynSense's own Speck configuration (optional; PyPI's samna is a stub)",
    }

    def lower(self, graph: CheckedGraph, dt: float, reading: str, options: SpeckOptions, calibration=None) -> Program:
        return lower(graph, dt, reading, options.allow_leak_removal, options.readout, calibration)

    def write(self, program: Program, graph: CheckedGraph, path: str) -> list[str]:
        return config.write(program, path)

    def reference(self, program: Program, x, progress=None):
        from snncli.targets.speck.program import integer_layers
        from snncli.targets.speck.reference import run_reference

        run = run_reference(integer_layers(program), np.asarray(x))
        if progress is not None:
            progress(int(np.shape(x)[1]))
        return run.spikes

    def status(self) -> str:
        from snncli.targets.speck.reference import sinabs_problem

        problem = sinabs_problem()
        return "available; Sinabs reference: " + (
            "ok (parity checks against Sinabs' DynapcnnNetwork)" if problem is None else problem
        )


__all__ = ["LIMITS", "SpeckIAF", "SpeckOptions", "SpeckTarget"]
