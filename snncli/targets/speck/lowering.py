"""Speck lowering: ``lower`` (NIR graph -> Program in Speck's integer arithmetic).

``lower`` maps the graph onto a chain of cores (:mod:`~snncli.targets.speck.structure`),
checks every chip limit on their shapes (:mod:`~snncli.targets.speck.limits`) and
places them on the 9 cores with Sinabs' memory formulas and matching
(:mod:`~snncli.targets.speck.mapping`) before anything is quantized, then picks each
core's scale (:mod:`~snncli.targets.speck.quantize`, or
:mod:`~snncli.targets.speck.scale_search` with calibration samples) and builds the
Program: ``Input -> ([Flatten ->] Conv2d | Dense -> Neuron(speck_iaf) [-> SumPool2d])
x cores -> Output``.

Timing: as Sinabs simulates the chip, all cores process a time step's events within
the step (the chip is asynchronous; there is no step of delay per core), so
``latency_steps = 0``.  Input: event counts per step and pixel (each count is that
many DVS events); analog input has no meaning on Speck and is refused.
"""

from __future__ import annotations

import numpy as np

from snncli.core.program import Input, Layer, Output, Program
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph, metadata_value
from snncli.targets.speck.layer import SpeckLayer
from snncli.targets.speck.limits import check_network, readout_error
from snncli.targets.speck.mapping import resource_table
from snncli.targets.speck.program import core_layers
from snncli.targets.speck.quantize import lattice_scale, quantize_core, rule_scale
from snncli.targets.speck.scale_search import search_scales
from snncli.targets.speck.structure import Core, build_cores

NAME = "speck"
ANALOG_ENCODERS = ("direct",)  # encoders whose values are not event counts


def speck_layer(core: Core) -> SpeckLayer:
    """The shapes :mod:`.limits` and :mod:`.mapping` check, named after the core's synapse node."""
    has_bias = core.has_bias
    if core.kind == "linear":
        return SpeckLayer.linear(core.synapse, core.flatten_shape or core.in_shape, core.weight.shape[0], has_bias)
    o, _, kh, kw = core.weight.shape
    return SpeckLayer(core.synapse, core.in_shape, o, (kh, kw), core.stride, core.padding, (core.pool, core.pool),
                      has_bias, core.dilation, core.groups)  # fmt: skip


def lower(
    graph: CheckedGraph,
    dt: float,
    reading: str,
    allow_leak_removal: bool = False,
    readout: bool = False,
    calibration: np.ndarray | None = None,
) -> Program:
    """Lower ``graph`` to a Speck Program (module docstring); one-line errors for what the chip cannot do."""
    warnings: list[str] = []
    input_node, cores, output_node = build_cores(graph.nodes, dt, reading, allow_leak_removal, warnings)
    _check_input(graph, calibration, tuple(input_node.out_shape))
    specs = [speck_layer(core) for core in cores]
    check_network(specs)
    if readout and (msg := readout_error(specs[-1])):
        raise SnnCliError(msg)
    table = resource_table(specs, readout=readout)
    if calibration is None:
        quant, log = (
            {},
            {
                "method": "rule: Sinabs' discretization scale (the largest that clips nothing), or the "
                "quantization-aware-training lattice",
                "layers": {},
            },
        )
        for core in cores:
            lattice = lattice_scale(core)
            quant[core.neuron] = quantize_core(core, lattice if lattice is not None else rule_scale(core))
            log["layers"][core.neuron] = {
                "method": "qat-lattice" if lattice is not None else "rule",
                "scale": quant[core.neuron].scale,
            }
    else:
        quant, log = search_scales(graph, dt, reading, cores, np.asarray(calibration, dtype=np.float64))
    layers = [Layer(input_node.name, Input(), input_node.out_shape, input_node.out_shape)]
    for core in cores:
        layers += core_layers(core, quant[core.neuron])
        if quant[core.neuron].clipped:
            warnings.append(
                f"layer {core.synapse!r}: {quant[core.neuron].clipped} weights or biases clipped to 8 bits "
                "at the chosen scale"
            )
    layers.append(Layer(output_node.name, Output(), layers[-1].out_shape, layers[-1].out_shape,
                        inputs=(cores[-1].neuron,)))  # fmt: skip
    return Program(
        target=NAME, dt=dt, layers=layers, reading=reading, latency_steps=0,
        scales={core.neuron: quant[core.neuron].scale for core in cores},
        resources=table, warnings=list(dict.fromkeys(warnings)),
        notes=_notes(cores, table, log, allow_leak_removal, readout),
    )  # fmt: skip


def _check_input(graph: CheckedGraph, calibration, shape: tuple[int, ...]) -> None:
    encoder = metadata_value(graph.metadata, "encoder")
    if encoder in ANALOG_ENCODERS:
        raise SnnCliError(
            f"the graph was trained on {encoder!r} (analog) input; Speck's input is DVS events: train on "
            "an event dataset (digits-dvs, fashion-mnist-dvs, nmnist) or with a spike encoder "
            "(poisson, latency)"
        )
    if calibration is None:
        return
    x = np.asarray(calibration)
    if x.ndim < 3 or tuple(x.shape[2:]) != shape:
        raise SnnCliError(
            f"calibration data has shape {list(x.shape)}, expected [time, samples, {', '.join(map(str, shape))}]"
        )
    if x.dtype.kind == "f" and (not np.all(np.isfinite(x)) or not np.array_equal(x, np.round(x))) or x.min() < 0:
        raise SnnCliError(
            "Speck's input is event counts (integers >= 0); the calibration samples are not: encode the "
            "input as events (frames, poisson or latency)"
        )


def _notes(cores: list[Core], table: dict, log: dict, allow_leak_removal: bool, readout: bool) -> dict:
    return {
        "cores": [{"synapse": c.synapse, "neuron": c.neuron, "pools": c.pools, "flatten": c.flatten,
                   "core": table["per_layer"][c.synapse]["core"], "has_bias": c.has_bias,
                   **({"leak_removed": c.leak_removed} if c.leak_removed else {})} for c in cores],
        "scale_search": log,
        "allow_leak_removal": allow_leak_removal,
        "readout": readout,
        "spikes": "v // threshold spikes per step (Sinabs' MultiSpike); the chip emits one spike per input event, "
                  "which agrees when no single event moves a neuron by a threshold or more",
        "timing": "every core processes a step's events within the step (latency_steps = 0), as Sinabs models it",
        "bias": "a neuron bias is the chip's leak unit: added to every neuron of its channel once per slow-clock "
                "tick (one tick per time step, as in Sinabs; the chip needs a slow clock on SLOW_CLK)",
        "state": "16-bit neuron state taken as saturating (Sinabs' float32 state never saturates; the scale search "
                 "keeps states below half the range)",
        "scales": "v_int = scale * v_float per neuron layer",
    }  # fmt: skip
