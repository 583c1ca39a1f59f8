"""A Speck network as Program layers, and the Program's layers read back as cores.

:func:`core_layers` writes one core (``[Flatten ->] Conv2d | Dense -> Neuron(SpeckIAF)
[-> SumPool2d]``) as Program layers; the lowering chains them and the scale search
runs one core at a time the same way.  :func:`program_cores` reads a Speck Program
back as that chain (for the chip configuration and the Sinabs reference), and
:func:`integer_layers` as :class:`~snncli.targets.speck.network.IntegerLayer` s.
Weights and biases go to the chip as they are: the synapse layers carry no bias, the
neurons carry the per-channel bias (the chip's leak unit, :mod:`.arithmetic`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncli.core.program import Conv2d, Dense, Flatten, Layer, Neuron, Program, SumPool2d
from snncli.errors import SnnCliError
from snncli.targets.speck.network import IntegerLayer
from snncli.targets.speck.quantize import Quantized
from snncli.targets.speck.structure import Core


def pooled_shape(shape: tuple[int, ...], pool: int) -> tuple[int, ...]:
    """(C, H // pool, W // pool): sum pooling drops rows and columns that fill no window."""
    return shape if pool == 1 else (shape[0], shape[1] // pool, shape[2] // pool)


def core_layers(core: Core, quant: Quantized, saturate: bool = True) -> list[Layer]:
    """The Program layers of one core, reading ``core.source``."""
    layers, src = [], core.source
    if core.flatten is not None:
        layers.append(Layer(core.flatten, Flatten(), core.flatten_shape, core.in_shape, inputs=(src,)))
        src = core.flatten
    if core.kind == "conv":
        op = Conv2d(quant.weight, None, core.stride, core.padding, core.dilation, core.groups)
    else:
        op = Dense(quant.weight)
    layers.append(Layer(core.synapse, op, core.in_shape, core.neuron_shape, inputs=(src,)))
    layers.append(Layer(core.neuron, Neuron(quant.neuron(core, saturate)), core.neuron_shape, core.neuron_shape,
                        inputs=(core.synapse,)))  # fmt: skip
    if core.pool > 1:
        layers.append(Layer(core.pools[-1], SumPool2d(core.pool, core.pool), core.neuron_shape,
                            pooled_shape(core.neuron_shape, core.pool), inputs=(core.neuron,)))  # fmt: skip
    return layers


@dataclass(frozen=True)
class ProgramCore:
    """One core of a lowered Speck Program: its synapse, neuron and pool layers (pool may be None),
    the (C, H, W) map the synapse reads (a linear one: the map it flattens, or (F, 1, 1)), and whether
    it has bias memory."""

    synapse: Layer
    neuron: Layer
    pool: Layer | None
    map_shape: tuple[int, ...]
    has_bias: bool

    @property
    def pool_size(self) -> int:
        return 1 if self.pool is None else int(self.pool.op.kernel_size[0])


def program_cores(program: Program) -> list[ProgramCore]:
    """The Program's cores in order; a one-line error if it is not a Speck chain."""
    if program.target != "speck":
        raise SnnCliError(f"this is a {program.target} Program; the Speck writer and reference take speck Programs")
    consumers: dict[str, list[Layer]] = {}
    for layer in program.layers:
        for src in layer.inputs:
            consumers.setdefault(src, []).append(layer)
    has_bias = {c.get("synapse"): bool(c.get("has_bias")) for c in program.notes.get("cores", [])}
    cores = []
    for neuron in program.neuron_layers:
        (syn,) = [program.layer(n) for n in neuron.inputs]
        (src,) = syn.inputs
        feeding = program.layer(src)
        map_shape = tuple(feeding.in_shape if feeding.kind == "flatten" else syn.in_shape)
        map_shape = map_shape if len(map_shape) == 3 else (int(np.prod(map_shape)), 1, 1)
        pools = [c for c in consumers.get(neuron.name, []) if c.kind == "sumpool2d"]
        if syn.kind not in ("conv2d", "dense") or len(pools) > 1:
            raise SnnCliError(f"layer {neuron.name!r} is not a Speck core (synapse -> IAF -> pool)")
        cores.append(ProgramCore(syn, neuron, pools[0] if pools else None, tuple(map_shape),
                                 has_bias.get(syn.name, neuron.neuron.bias is not None)))  # fmt: skip
    return cores


def integer_layers(program: Program) -> list[IntegerLayer]:
    """The Program as Sinabs-ready integer layers, named after their neuron layers (a layer with bias
    memory keeps a zero bias vector, so that Sinabs' memory figures count it)."""
    out = []
    for c in program_cores(program):
        p, op = c.neuron.neuron, c.synapse.op
        bias = p.bias if p.bias is not None or not c.has_bias else np.zeros(op.weight.shape[0], dtype=np.int64)
        common = dict(
            threshold=p.threshold,
            bias=bias,
            min_v_mem=p.min_v_mem,
            reset=p.reset,
            multi_spike=p.multi_spike,
            pool=c.pool_size,
        )
        if c.synapse.kind == "conv2d":
            out.append(
                IntegerLayer(c.neuron.name, op.weight, c.map_shape, stride=op.stride, padding=op.padding, **common)
            )
        else:
            out.append(IntegerLayer(c.neuron.name, op.weight, c.map_shape, **common))
    return out
