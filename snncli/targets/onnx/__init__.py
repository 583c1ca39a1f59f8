"""The ``onnx`` target: the float network as an ONNX model of one time step, for any ONNX runtime.

This is how a user runs the same SNN on a CPU, GPU or NPU without spiking hardware.
``lower`` is the float target's (NIR equations, forward Euler); ``write`` builds the
one-step model with its neuron states as explicit inputs and outputs
(:mod:`~snncli.targets.onnx.graph`), checks it with ``onnx.checker`` and writes it;
``reference`` runs that model in ONNX Runtime step by step
(:mod:`~snncli.targets.onnx.runtime`), so ``snncli parity RUN --target onnx`` compares
ONNX Runtime with hwsim spike for spike, and hwsim with torch.

``--precision float64`` (default) keeps the float target's arithmetic: spikes equal
hwsim's.  ``float32`` writes native ``Conv``/``AveragePool`` nodes, as GPU and NPU
runtimes want; a value that lands within float32 rounding of a threshold can then
spike differently from the float64 model, and parity says so.  ``--ann-twin`` writes
the ANN twin instead (ReLU in place of the neurons, one pass per inference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snncli.core.files import write_bytes
from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph
from snncli.targets.base import Target, register
from snncli.targets.float.lowering import lower_float
from snncli.targets.float.neuron import MODEL
from snncli.targets.onnx.graph import PRECISIONS, build_model

NAME = "onnx"


@dataclass(frozen=True)
class OnnxOptions:
    precision: str = field(
        default="float64",
        metadata={
            "choices": tuple(PRECISIONS),
            "help": "ONNX tensor type: float64 = the float target's arithmetic (convolutions unrolled into MatMul: ONNX "
            "Runtime has no double Conv); float32 = native Conv nodes for GPU/NPU runtimes",
        },
    )
    ann_twin: bool = field(
        default=False,
        metadata={
            "help": "write the ANN twin instead: the same layers and weights with ReLU in place of each spiking neuron "
            "layer, one pass per inference (the energy report's baseline)"
        },
    )


@register
class OnnxTarget(Target):
    name = NAME
    summary = "ONNX, one time step per call with the neuron states as inputs/outputs (any CPU, GPU or NPU runtime)"
    artifact = "an ONNX model (.onnx) checked with onnx.checker"
    Options = OnnxOptions
    neuron_models = (MODEL,)
    packages = {"onnx": "ONNX model building and checking", "onnxruntime": "the onnx target's reference runtime"}

    def lower(self, graph: CheckedGraph, dt: float, reading: str, options: OnnxOptions, calibration=None) -> Program:
        if options.precision not in PRECISIONS:
            raise SnnCliError(f"unknown --precision {options.precision!r}; choose one of {', '.join(PRECISIONS)}")
        program = lower_float(graph, dt, reading, self.name)
        program.notes["onnx"] = {"precision": options.precision, "ann_twin": bool(options.ann_twin)}
        return program

    def write(self, program: Program, graph: CheckedGraph, path: str) -> list[str]:
        import onnx  # lazily: the CLI imports every target to list them

        model = build_model(program, **_settings(program))
        onnx.checker.check_model(model, full_check=True)
        write_bytes(path, model.SerializeToString())
        return [path]

    def reference(self, program: Program, x, progress=None):
        from snncli.targets.onnx.runtime import Stepper

        settings = _settings(program)
        if settings["ann_twin"]:
            raise SnnCliError("the ANN-twin export has no spikes to compare; run parity without --ann-twin")
        outputs = Stepper(build_model(program, **settings)).run(x, progress=progress)
        return {layer.name: outputs[f"layer/{layer.name}"] for layer in program.neuron_layers}

    def status(self) -> str:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            return f"unavailable: {exc} (pip install onnx onnxruntime)"
        return "available; ONNX Runtime reference: ok"


def _settings(program: Program) -> dict:
    notes = program.notes.get("onnx", {})
    return {"precision": notes.get("precision", "float64"), "ann_twin": bool(notes.get("ann_twin", False))}


__all__ = ["OnnxOptions", "OnnxTarget"]
