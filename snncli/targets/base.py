"""The Target interface and registry: one interface, one implementation per chip family.

After Lava's Process/ProcessModel and Sinabs' ChipFactory: a target declares its
name, an options dataclass (the CLI turns its fields into flags), whether lowering
needs calibration data, the hwsim neuron models it brings, and implements

* ``lower(graph, dt, reading, options, calibration) -> Program``: discretize time,
  quantize, map to cores, check limits, refuse what the chip cannot do;
* ``write(program, graph, path) -> files``: the artifact the vendor toolchain loads;
* ``reference(program, x) -> spikes per neuron layer`` (optional): the vendor's own
  simulator, for bit-exact parity.

``export``, ``simulate``, ``parity`` and ``doctor`` find targets here by name and
contain no target names of their own.  Adding a target is one package that calls
:func:`register` on import.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from snncli.core.program import NeuronModel, Program, Source, register_neuron_model
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph, metadata_value
from snncli.nirgraph.twin import ann_twin


@dataclass(frozen=True)
class NoOptions:
    """A target without options."""


class Target:
    """Base class of every target (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for --help and doctor
    artifact: ClassVar[str] = "the lowered Program (.npz)"  # what `write` produces, for --help
    Options: ClassVar[type] = NoOptions  # frozen dataclass; fields -> flags (metadata: help, choices)
    needs_calibration: ClassVar[bool] = False  # lower() wants encoded training samples when a run has them
    quantized: ClassVar[bool] = False  # integer arithmetic: accuracy can drop, QAT can help
    neuron_models: ClassVar[tuple[NeuronModel, ...]] = ()
    packages: ClassVar[dict[str, str]] = {}  # distribution -> what the target uses it for (doctor)
    default: ClassVar[bool] = False  # the reference arithmetic: simulate's and parity's default target

    def lower(
        self, graph: CheckedGraph, dt: float, reading: str, options: Any, calibration: np.ndarray | None = None
    ) -> Program:
        raise NotImplementedError

    def write(self, program: Program, graph: CheckedGraph, path: str) -> list[str]:
        """Default artifact: the Program itself."""
        program.save(path)
        return [path]

    def reference(self, program: Program, x: np.ndarray, progress=None) -> dict[str, np.ndarray] | None:
        """The vendor simulator's spikes per neuron layer ``[T, N, *shape]``; None where there is none."""
        return None

    @property
    def has_reference(self) -> bool:
        return type(self).reference is not Target.reference

    def status(self) -> str:
        """One line for ``snncli doctor``: can this machine lower, write and reference-check?"""
        return "available"

    def advice(self, run: str) -> str | None:
        """What to try when the float model's accuracy drops too much on this target."""
        if not self.quantized:
            return None
        return (
            f"the weights lose precision on {self.name}: fine-tune with quantization-aware training, e.g. "
            f"snncli train --run-dir RUN_QAT --init-from {run} --qat-bits 8 --epochs 3 --lr 5e-4"
        )


TARGETS: dict[str, Target] = {}


def register(cls: type[Target]) -> type[Target]:
    """Class decorator: make a target (and the neuron models it brings) known by its name."""
    for model in cls.neuron_models:
        register_neuron_model(model)
    TARGETS[cls.name] = cls()
    return cls


def default_target() -> str:
    """The target a graph is simulated in when none is named (the NIR equations in float64)."""
    return next(name for name, t in TARGETS.items() if t.default)


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise SnnCliError(f"unknown target {name!r}; available: {', '.join(TARGETS)}")
    return TARGETS[name]


def make_options(target: Target, values: dict[str, Any]) -> Any:
    """The target's Options from ``values`` (None = not given); a value for an option the
    target does not have is refused, naming the targets that have it."""
    own = {f.name for f in fields(target.Options)}
    for key, value in values.items():
        if value is None or value is False or key in own:
            continue
        owners = [t.name for t in TARGETS.values() if key in {f.name for f in fields(t.Options)}]
        flag = "--" + key.replace("_", "-")
        raise SnnCliError(f"{flag} applies to target {' / '.join(owners) or 'none'}, not to {target.name}")
    return target.Options(**{k: v for k, v in values.items() if k in own and v is not None})


def source_of(graph: CheckedGraph) -> Source:
    """How the graph's dataset drives it, from the graph's snncli metadata (empty for other producers)."""
    meta = graph.metadata
    steps = metadata_value(meta, "time_steps")
    options = meta.get("encoder_options")
    return Source(
        producer=metadata_value(meta, "producer"),
        dataset=metadata_value(meta, "dataset"),
        encoder=metadata_value(meta, "encoder"),
        encoder_options=dict(options) if isinstance(options, dict) else {},
        time_steps=int(steps) if steps is not None else None,
        split_seed=int(metadata_value(meta, "split_seed") or 0),
        num_classes=int(meta["num_classes"]) if meta.get("num_classes") is not None else None,
        model=metadata_value(meta, "model"),
    )


def lower(
    graph: CheckedGraph,
    target: str,
    dt: float,
    reading: str = "nir",
    options: Any = None,
    calibration: np.ndarray | None = None,
) -> Program:
    """Lower ``graph`` for ``target``; the Program records the graph's source, its ANN twin (counted on
    the graph, so one network has one twin whatever the target) and its warnings."""
    impl = get_target(target)
    program = impl.lower(graph, dt, reading, options if options is not None else impl.Options(), calibration)
    program.source = source_of(graph)
    program.twin = ann_twin(graph)
    program.warnings = list(dict.fromkeys([*graph.warnings, *program.warnings]))
    return program
