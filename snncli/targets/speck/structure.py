"""Speck structure: a checked NIR graph -> a chain of cores, in float units.

What the chip runs
------------------
A DynapCNN core is ``conv (or linear) -> integrate-and-fire -> sum pool`` (see
:mod:`~snncli.targets.speck.arithmetic`), and a network is a chain of them, the
first reading the DVS input events.  :func:`build_cores` maps NIR onto it:

* ``Conv2d`` / ``Affine`` / ``Linear`` -> the core's synapse.  A ``Flatten`` before a
  linear synapse is a reshape (C,H,W order, torch's and Sinabs').  A synapse bias
  becomes the neuron bias of its output channel (the chip's per-channel leak
  unit, added once per slow-clock tick; Sinabs: once per time step).
* ``IF`` -> the core's neurons, one threshold per core (``threshold_high``), reset
  by subtraction or to zero; the input gain of the reading (``dt * r`` under the
  NIR spec, ``r`` per step under Sinabs' and Norse's readings) is folded into the
  weights, per output channel.
* ``LIF`` -> refused: Speck's IAF has no leak.  With ``allow_leak_removal`` it is
  lowered as an IF with the input gain of its Euler step (``dt r / tau``, as the
  float target discretizes it) and ``dt v_leak / tau`` as a bias; the Program's
  warnings and notes say which layers lost which decay.
* ``SumPool2d`` after a neuron layer -> that core's output pooling (kernel =
  stride, no padding; two pools in a row multiply).  ``AvgPool2d`` is a sum pool
  whose ``1 / k**2`` is folded into the next synapse's weights (exact in float; the
  quantization then rounds the scaled weights).
* Refused, with the node and the reason: ``CubaLIF`` (a synaptic current), ``LI``
  and ``CubaLI`` (non-spiking), ``Scale`` and ``Threshold`` (no Speck unit),
  branches, skip connections and recurrent edges (snncli maps chains, as Sinabs'
  ``DynapcnnNetwork`` does), thresholds that vary inside a layer, ``v_reset != 0``.

Readings
--------
What a node means depends on who wrote it (DESIGN.md, "Semantics";
:mod:`snncli.nirgraph.readings`): the reading gives the input gain per step, the
firing rule, the reset, the floor, the initial state and whether a step may emit
several spikes.  Speck executes
``v >= threshold`` on integers, so ``v > threshold`` is exact too (threshold one
higher); its reset subtracts or returns to zero; its floor is ``min_v_mem``.  It
emits ``v // threshold`` spikes in a step as Sinabs models it (``MultiSpike``; the
chip itself emits one spike per input event, :mod:`.arithmetic`): a reading that
fires at most once per step is executed with several, and the Program's warnings
say so.  Refused: resets a step late (snnTorch's), and initial states other than 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import nir
import numpy as np

from snncli.core.program import pair
from snncli.errors import SnnCliError
from snncli.nirgraph.check import GraphNode, conv_padding
from snncli.nirgraph.readings import Reading
from snncli.nirgraph.readings import reading as reading_record

_SYNAPSES = (nir.Conv2d, nir.Affine, nir.Linear)
_POOLS = (nir.SumPool2d, nir.AvgPool2d)


SPECK_RESETS = ("node", "subtract")  # resets Speck executes: in the step of the spike, to 0 or by subtraction


def speck_reading(name: str) -> Reading:
    """The reading record called ``name`` (:mod:`snncli.nirgraph.readings`), if Speck executes it;
    one line naming the reason otherwise."""
    record = reading_record(name)
    if record.reset not in SPECK_RESETS:
        raise SnnCliError(
            f"the speck target cannot execute reading {name!r}: its {record.reset} reset acts a step "
            "after the spike; Speck resets in the step it fires (to 0 or by subtraction)"
        )
    return record


@dataclass
class Core:
    """One Speck core in float units: ``synapse -> neurons -> pool``.

    ``weight``: v units per input event, conv ``[O, C, kh, kw]`` or linear ``[O, F]``
    (reading ``in_shape`` flattened); ``bias``: v units per step per output channel, or
    None; ``threshold`` and ``floor`` (None: no floor) in v units; ``pool``: the sum
    pooling of the output spikes; ``flatten``: the Flatten node before the synapse.
    """

    synapse: str
    neuron: str
    kind: str  # "conv" | "linear"
    weight: np.ndarray
    bias: np.ndarray | None
    in_shape: tuple[int, ...]  # what the synapse reads (after the flatten, if any)
    neuron_shape: tuple[int, ...]
    threshold: float
    reset: str
    fire: str
    floor: float | None
    source: str  # the node the core reads: the Input, or the previous core's neuron/pool node
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    flatten: str | None = None
    flatten_shape: tuple[int, ...] | None = None  # what the flatten reads
    pool: int = 1
    pools: list[str] = field(default_factory=list)  # the NIR pool nodes after the neurons
    has_bias: bool = False  # the core uses bias memory (the synapse has a bias vector, as Sinabs counts it)
    leak_removed: str | None = None  # what allow_leak_removal changed, for the notes

    @property
    def size(self) -> int:
        return int(np.prod(self.neuron_shape))

    @property
    def out_name(self) -> str:
        """The node whose output the next core reads: the last pool, or the neurons."""
        return self.pools[-1] if self.pools else self.neuron


def build_cores(
    nodes: tuple[GraphNode, ...], dt: float, reading: str, allow_leak_removal: bool, warnings: list[str]
) -> tuple[GraphNode, list[Core], GraphNode]:
    """``(input node, cores, output node)`` of a chain graph (module docstring); one-line errors."""
    semantics = speck_reading(reading)
    by_name = {g.name: g for g in nodes}
    consumers: dict[str, list[str]] = {g.name: [] for g in nodes}
    for g in nodes:
        if g.delayed_inputs:
            raise SnnCliError(
                f"node {g.name!r} has a recurrent input ({', '.join(g.delayed_inputs)}); snncli maps "
                "feed-forward chains onto Speck's cores"
            )
        for src in g.inputs:
            consumers[src].append(g.name)
    inputs = [g for g in nodes if isinstance(g.node, nir.Input)]
    if len(inputs) != 1:
        raise SnnCliError(f"the speck target runs graphs with one Input node; this one has {len(inputs)}")
    chain, name = [], inputs[0].name
    while True:
        chain.append(by_name[name])
        nxt = consumers[name]
        if len(nxt) > 1:
            raise SnnCliError(
                f"node {name!r} feeds {len(nxt)} nodes ({', '.join(nxt)}); snncli maps chains onto "
                "Speck's cores (no branches or skip connections)"
            )
        if not nxt:
            break
        if len(by_name[nxt[0]].inputs) != 1:
            raise SnnCliError(f"node {nxt[0]!r} sums {len(by_name[nxt[0]].inputs)} inputs; a Speck core reads one")
        name = nxt[0]
    if len(chain) != len(nodes):
        stray = sorted(set(by_name) - {g.name for g in chain})
        raise SnnCliError(
            f"nodes {', '.join(map(repr, stray))} are not on the chain from the Input to the Output; "
            "snncli maps one chain onto Speck's cores"
        )
    if not isinstance(chain[-1].node, nir.Output):
        raise SnnCliError(f"node {chain[-1].name!r} leads to no Output node")
    cores = _cores(chain[1:-1], inputs[0], dt, semantics, allow_leak_removal, warnings)
    if not cores:
        raise SnnCliError("the graph has no synapse followed by spiking neurons; nothing for Speck to run")
    last = chain[-2]
    if last.name != cores[-1].neuron:
        raise SnnCliError(
            f"the Output reads {last.name!r} ({last.kind}); on Speck the output is the last layer's "
            f"spikes ({cores[-1].neuron!r})"
        )
    if not semantics.multi_spike:
        warnings.append(
            f"reading {semantics.name!r} fires at most once per step; Speck emits v // threshold spikes in a step "
            "(Sinabs' MultiSpike: the chip emits one spike per input event), so spike counts differ wherever a "
            "neuron's state reaches twice its threshold within one step"
        )
    return inputs[0], cores, chain[-1]


def _cores(
    middle: list[GraphNode],
    input_node: GraphNode,
    dt: float,
    semantics: Reading,
    allow_leak_removal: bool,
    warnings: list[str],
) -> list[Core]:
    cores: list[Core] = []
    source, flatten, scale_next = input_node.name, None, 1.0
    i = 0
    while i < len(middle):
        g = middle[i]
        if isinstance(g.node, nir.Flatten):
            if len(g.out_shape) != 1:
                raise SnnCliError(
                    f"Flatten {g.name!r} keeps {len(g.out_shape)} dimensions; Speck's linear layers "
                    "read a whole map flattened"
                )
            flatten, i = g, i + 1
            continue
        if isinstance(g.node, _POOLS):
            raise SnnCliError(
                f"pool {g.name!r} ({g.kind}) does not follow a spiking layer; Speck pools a core's output spikes"
            )
        if not isinstance(g.node, _SYNAPSES):
            raise SnnCliError(_refusal(g, what="a synapse (Conv2d, Affine or Linear)"))
        if i + 1 >= len(middle):
            raise SnnCliError(f"synapse {g.name!r} ({g.kind}) is not followed by spiking neurons")
        neuron = middle[i + 1]
        core = _core(g, neuron, flatten, source, scale_next, dt, semantics, allow_leak_removal, warnings)
        i, flatten, scale_next = i + 2, None, 1.0
        while i < len(middle) and isinstance(middle[i].node, _POOLS):
            k, factor = _pool(middle[i])
            core.pool *= k
            core.pools.append(middle[i].name)
            scale_next *= factor
            i += 1
        source = core.out_name
        cores.append(core)
    if scale_next != 1.0:
        raise SnnCliError(
            f"average pool {cores[-1].pools[-1]!r} feeds no synapse that could absorb its 1/k**2; "
            "Speck's output is spikes"
        )
    return cores


def _pool(g: GraphNode) -> tuple[int, float]:
    """``(k, factor)``: a k x k pool with stride k and no padding; factor 1/k**2 for an average."""
    (kh, kw) = pair(g.node.kernel_size, f"node {g.name!r} kernel_size", 1)
    stride = pair(g.node.stride, f"node {g.name!r} stride", 1)
    padding = pair(g.node.padding, f"node {g.name!r} padding", 0)
    if (kh, kw) != stride or kh != kw or padding != (0, 0):
        raise SnnCliError(
            f"pool {g.name!r}: kernel {kh}x{kw}, stride {stride[0]}x{stride[1]}, padding "
            f"{padding[0]}x{padding[1]}; Speck sum-pools square windows with stride = kernel and no "
            "padding"
        )
    return kh, (1.0 / (kh * kw) if isinstance(g.node, nir.AvgPool2d) else 1.0)


def _core(
    syn: GraphNode,
    neuron: GraphNode,
    flatten: GraphNode | None,
    source: str,
    scale_in: float,
    dt: float,
    semantics: Reading,
    allow_leak_removal: bool,
    warnings: list[str],
) -> Core:
    gain, leak_bias, leak_note = _neuron_gain(neuron, dt, semantics, allow_leak_removal, warnings)
    node = syn.node
    out_channels = int(np.shape(node.weight)[0])
    g = _per_channel(gain, out_channels, neuron.name, "input gain")
    bias_f = _per_channel(leak_bias, out_channels, neuron.name, "leak bias")
    weight = np.asarray(node.weight, dtype=np.float64) * scale_in
    bias = None
    if not isinstance(node, nir.Linear) and node.bias is not None:
        bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64).reshape(-1), (out_channels,))
    has_bias = bias is not None or bool(np.any(bias_f != 0))
    bias = (g * bias if bias is not None else np.zeros(out_channels)) + bias_f
    common = dict(
        synapse=syn.name,
        neuron=neuron.name,
        bias=bias if np.any(bias != 0) else None,
        has_bias=has_bias,
        neuron_shape=tuple(neuron.out_shape),
        source=source,
        leak_removed=leak_note,
        **_threshold(neuron, semantics),
    )
    if isinstance(node, nir.Conv2d):
        if flatten is not None:
            raise SnnCliError(f"Conv2d {syn.name!r} reads Flatten {flatten.name!r}; Speck convolutions read maps")
        return Core(
            kind="conv",
            weight=weight * g.reshape(-1, 1, 1, 1),
            in_shape=tuple(syn.in_shape),
            stride=pair(node.stride, "stride", 1),
            padding=conv_padding(node, weight.shape[2:]),
            dilation=pair(node.dilation, "dilation", 1),
            groups=int(node.groups),
            **common,
        )
    return Core(
        kind="linear",
        weight=weight * g.reshape(-1, 1),
        in_shape=tuple(syn.in_shape),
        flatten=flatten.name if flatten is not None else None,
        flatten_shape=tuple(flatten.in_shape) if flatten is not None else None,
        **common,
    )


def _neuron_gain(g: GraphNode, dt: float, semantics: Reading, allow_leak_removal: bool, warnings: list[str]):
    """``(gain per neuron, bias per neuron in v units per step, leak note)`` of a spiking node, under the
    reading's discretization (:mod:`snncli.nirgraph.readings`)."""
    node = g.node
    if isinstance(node, nir.IF):
        r = g.param("r").reshape(-1)
        return (r if semantics.per_step else dt * r), np.zeros(r.shape), None
    if not isinstance(node, nir.LIF):
        raise SnnCliError(_refusal(g, what="spiking IF neurons"))
    tau = g.param("tau").reshape(-1)
    tau_s = {"seconds": tau, "dt*seconds": tau / dt, "steps": tau * dt}[semantics.tau]
    a = 1 - dt / tau_s if semantics.decay == "euler" else np.exp(-dt / tau_s)
    if not allow_leak_removal:
        raise SnnCliError(
            f"node {g.name!r} is a leaky LIF (it keeps {_span(a)} of v per step); Speck's neurons "
            "integrate and fire without leak: retrain with IF neurons, or pass --allow-leak-removal "
            "to lower it as IF (the decay is dropped)"
        )
    r = g.param("r").reshape(-1)
    gain = {"euler": r * dt / tau_s, "norm": r * (1 - a), "one": np.ones(r.shape)}[semantics.gain]
    v_leak = g.param("v_leak").reshape(-1)
    note = (
        f"LIF {g.name!r} lowered as IF: its decay (v kept {_span(a)} per step) was removed, its input gain "
        f"{_span(gain)} kept" + (", and (1 - a) v_leak kept as a bias" if np.any(v_leak != 0) else "")
    )
    warnings.append(note)
    return gain, (1 - a) * v_leak, note


def _per_channel(values: np.ndarray, channels: int, name: str, what: str) -> np.ndarray:
    """One value per output channel (a Speck kernel and its bias are shared by the whole channel)."""
    per = np.asarray(values, dtype=np.float64).reshape(channels, -1)
    if not np.allclose(per, per[:, :1], rtol=1e-12, atol=0):
        raise SnnCliError(
            f"node {name!r}: its {what} varies within a channel; Speck shares a kernel and a bias across a channel"
        )
    return per[:, 0].copy()


def _threshold(g: GraphNode, semantics: Reading) -> dict:
    thr = g.param("v_threshold")
    if not np.all(thr == thr.flat[0]):
        raise SnnCliError(
            f"node {g.name!r}: its threshold varies across neurons ({_span(thr)}); a Speck core has "
            "one threshold (threshold_high)"
        )
    theta = float(thr.flat[0])
    if not theta > 0:
        raise SnnCliError(f"node {g.name!r}: threshold {theta:g}; Speck's threshold is positive")
    reset = "subtract" if semantics.reset == "subtract" else g.reset_mode()
    v_reset = np.asarray(g.node.v_reset) if g.node.v_reset is not None else np.zeros(1)
    if reset == "zero" and np.any(v_reset != 0):
        raise SnnCliError(
            f"node {g.name!r} resets to v_reset = {_span(v_reset)}; Speck returns to 0 "
            "(return_to_zero) or subtracts the threshold"
        )
    start = {"zero": np.zeros(1), "v_reset": v_reset,
             "v_leak": np.asarray(getattr(g.node, "v_leak", np.zeros(1)))}[semantics.start]  # fmt: skip
    if np.any(start != 0):
        raise SnnCliError(
            f"node {g.name!r} starts at v = {_span(start)} under reading {semantics.name!r}; Speck's neurons start at 0"
        )
    return {"threshold": theta, "reset": reset, "fire": semantics.fire, "floor": -theta if semantics.floor else None}


def _refusal(g: GraphNode, what: str) -> str:
    node = g.node
    if isinstance(node, nir.CubaLIF):
        why = "its synaptic current has no Speck counterpart (an IAF core integrates the input directly)"
    elif isinstance(node, (nir.LI, nir.CubaLI)):
        why = "a non-spiking leaky integrator has no Speck counterpart (cores emit spikes)"
    elif isinstance(node, (nir.Scale, nir.Threshold)):
        why = "Speck has no unit for an elementwise scale or threshold"
    else:
        why = f"Speck expects {what} here"
    return f"the speck target cannot lower node {g.name!r} ({g.kind}): {why}"


def _span(values) -> str:
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    return f"{lo:g}" if math.isclose(lo, hi) else f"{lo:g}..{hi:g}"
