"""The ``loihi`` target: NIR -> Program in Loihi 2 fixed point (Lava's CUBA LIF + Dense/Conv).

Modules, in the order lowering uses them:

* :mod:`~snncli.targets.loihi.structure` -- what the chip runs: the NIR graph as a
  chain of netx blocks, folds, and what is refused;
* :mod:`~snncli.targets.loihi.input_encoding` -- binary or graded input spikes;
* :mod:`~snncli.targets.loihi.quantize` -- scales and the integer parameters
  (the ``auto`` rule and the ``nir-paper`` preset);
* :mod:`~snncli.targets.loihi.scale_search` -- the accuracy-driven scale search on
  calibration data, run by hwsim;
* :mod:`~snncli.targets.loihi.chip_resources` -- chip limits and the resource table;
* :mod:`~snncli.targets.loihi.lowering` -- ``lower`` and the Program it builds;
* :mod:`~snncli.targets.loihi.arithmetic` -- Lava's bit-accurate CUBA LIF and Dense
  rules, the neuron model hwsim runs;
* :mod:`~snncli.targets.loihi.netx` and :mod:`~snncli.targets.loihi.artifact` --
  the lava-dl netx file, its sidecar, and ``reference`` (the Program run in Lava,
  :mod:`~snncli.targets.loihi.lava_reference`);
* :mod:`~snncli.targets.loihi.stages` -- the intermediate form they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph
from snncli.nirgraph.readings import reading as get_reading
from snncli.targets.base import Target, register
from snncli.targets.loihi import artifact
from snncli.targets.loihi.arithmetic import MODEL, LoihiCuba
from snncli.targets.loihi.chip_resources import LIMITS, resources
from snncli.targets.loihi.lowering import NAME, PRESETS, lower
from snncli.targets.loihi.structure import SUPPORTED

READINGS_EXECUTED = ("nir", "spikingjelly")
"""Readings Lava's CUBA LIF runs exactly: the spec, and SpikingJelly's (``>=`` is the integer threshold one lower,
:mod:`.quantize`; its start at ``v_reset`` is 0 here, as Loihi's reset must be)."""


@dataclass(frozen=True)
class LoihiOptions:
    preset: str = field(default="auto", metadata={
        "choices": PRESETS,
        "help": "Loihi fixed-point scaling: auto = per-layer scale search on training samples (the rule without "
        "them); nir-paper = the NIR paper's Lava importer constants"})  # fmt: skip


@register
class LoihiTarget(Target):
    name = NAME
    summary = "Intel Loihi 2: Lava's bit-accurate CUBA LIF, 8-bit weights, one step of delay per synapse layer"
    artifact = "a lava-dl netx HDF5 file (.h5), a .json sidecar (scales, resources, how to load) and the .program.npz"
    Options = LoihiOptions
    needs_calibration = True
    quantized = True
    neuron_models = (MODEL,)
    packages = {"lava-nc": "Loihi reference simulation (Lava, fixed point)", "lava-dl": "Loihi netx artifacts"}

    def lower(self, graph: CheckedGraph, dt: float, reading: str, options: LoihiOptions, calibration=None) -> Program:
        rules = get_reading(reading)
        if reading not in READINGS_EXECUTED or (reading != "nir" and options.preset == "nir-paper"):
            raise SnnCliError(
                f"the loihi target cannot execute reading {reading!r} ({rules.summary}): Lava's CUBA LIF is the "
                f"spec's Euler step with one spike per step, reset to 0 and states starting at 0; it executes "
                f"{' and '.join(READINGS_EXECUTED)} (the nir-paper preset: nir only)"
            )
        program = lower(graph, dt, options.preset, calibration, fire=rules.fire)
        program.reading = reading
        return program

    def write(self, program: Program, graph: CheckedGraph, path: str) -> list[str]:
        return artifact.write(program, path)

    def reference(self, program: Program, x, progress=None):
        return artifact.reference(program, x, progress=progress)

    def status(self) -> str:
        from snncli.targets.loihi.lava_reference import lava_problem

        problem = lava_problem()
        return "available; Lava reference: " + ("ok (parity checks against Lava)" if problem is None else problem)


__all__ = ["LIMITS", "READINGS_EXECUTED", "SUPPORTED", "LoihiCuba", "LoihiOptions", "LoihiTarget", "resources"]
