"""The ``loihi`` target: NIR -> Program in Loihi 2 fixed point (Lava's CUBA LIF + Dense/Conv).

Interface (``snncli.targets`` convention)::

    lower(graph, dt=1e-4, preset="auto", calibration=None) -> Program
    write(program, path) -> [path, path + ".json"]     # lava-dl netx HDF5 + sidecar JSON
    reference(program, x, progress=None) -> {neuron layer: spikes [T, N, *shape]}   # Lava itself

What the chip runs
------------------
A Loihi program is a chain of netx blocks, each one synapse (Dense, Conv, or Dense
plus a recurrent Dense) feeding one layer of Lava ``LIF`` neurons (bit-accurate
CUBA model, see :mod:`snncli.hwsim.loihi_neuron`).  ``lower`` maps NIR onto it:

* ``LIF``, ``IF``, ``CubaLIF`` -> a ``neuron`` layer (``neuron="loihi_cuba"``) with
  Lava's integer parameters ``du, dv`` (12-bit decays), ``vth`` (17-bit threshold
  mantissa), ``bias_mant`` (13-bit, ``bias_exp = 6`` as netx fixes it).
  Refused, with the node and the reason: ``LI``/``CubaLI`` (non-spiking: netx reads
  out spikes only), reset by subtraction and ``v_reset != 0`` (Lava's LIF sets
  ``v = 0``), time constants or thresholds that vary across a layer (Lava's LIF
  has one ``du``, ``dv``, ``vth`` per layer), ``Scale``/``Threshold`` and anything
  else netx has no block for.
* ``Affine``/``Linear`` -> ``dense``, ``Conv2d`` -> ``conv2d`` (integer weights,
  8-bit mantissa range [-255, 254], which netx's ``optimize_weight_bits`` and Lava's
  ``PyDenseModelBitAcc`` pass unchanged).  An Affine bias becomes the neuron bias.
* ``SumPool2d``/``AvgPool2d`` and ``Flatten`` have no netx block (``create_pool``
  raises NotImplementedError) and a pool's output is not a spike, so they are
  folded, exactly, into the synapse they feed: before a ``Linear`` the pool is a
  linear map ``P`` and the folded weight is ``W P``; before a ``Conv2d`` a
  non-overlapping pool (kernel == stride k, no padding) followed by a conv
  (kernel K, stride s, padding p) equals one conv with every weight replicated
  into a k x k block (kernel kK, stride ks, padding kp) -- exact in integers, as
  the replicated weights are the same integers.  A Flatten is a reshape: netx's
  flatten (``out.transpose([2, 1, 0]).flatten()`` on Lava's W,H,C ports) yields
  C,H,W order, torch's, so dense weights keep their NIR column order.
* Recurrent edges: a synapse whose source is the neuron layer it feeds becomes the
  recurrent half of a netx ``dense_rec`` block.

Timing: every Lava Dense/Conv sends ``W s(t-1)`` (one step of delay), neurons
integrate in the same step, so each synapse layer reads its source through
``delayed_inputs``.  A neuron layer at depth d (synapse stages from the input)
lags the float model by d steps; ``program.metadata["latency_steps"]`` is that lag
for the output layer: append that many zero input steps to flush the pipeline (the
output of steps ``[latency, latency + T)`` is the float model's ``[0, T)``).
A recurrent synapse adds no lag beyond the one step NIR gives recurrent edges.

Reset at arrival: a layer at depth d would integrate its bias for d steps before the
sample's first input reaches it (the float model integrates bias and input from step
0 together).  netx's own remedy is ``Network(..., reset_interval=T, reset_offset=1)``:
Lava ``LIFReset`` neurons, block i zeroed (``u = v = 0``) at step i + 1 of every T,
exactly when its input arrives.  The Program says so with the neuron parameter
``reset_step = d`` (hwsim: :mod:`snncli.hwsim.loihi_neuron`); ``reference`` builds the
network that way and the sidecar JSON tells users to.  On the digits MLP this cut
the first layer's spike-count error against the float model four-fold.

Input
-----
Binary spikes (poisson/latency encoders, event data) enter netx blocks as 1-bit
events.  Analog input (the ``direct`` encoder) enters as graded spikes: the input
layer carries ``input_scale``/``input_bits`` (8), hwsim quantizes
``clip(round(x * input_scale), 0, 255)`` and Lava receives the same integers through
``netx.hdf5.Network(..., input_message_bits=8)``, whose first Dense/Conv then
computes ``W . x`` (``PyDenseModelBitAcc`` with ``num_message_bits > 0``:
``weights.dot(s_in)``).  The sidecar JSON records ``input_message_bits``.

Scales
------
A neuron layer's float voltage maps to Lava's integer ``v`` by ``v_int = S v``
(``program.scales[name] = S``).  Lava adds ``a << 6`` and ``bias_mant << 6`` and
compares with ``vth << 6``, so with ``q = S / 64`` and ``a = dt/tau_mem``,
``b = dt/tau_syn``, forward Euler gives, per step and input unit (a spike, or one
step of the graded input scale ``s_in``)::

    LIF      W_q = q a r W / s_in        bias = q a (r b_affine + v_leak)   dv = 4096 a
    IF       W_q = q dt r W / s_in       bias = q dt r b_affine             dv = 0
    CubaLIF  W_q = q a r b w_in W / s_in                                    du = 4096 b - 1
    vth = q v_threshold,  du = 4095 (no current memory) for LIF and IF

A CubaLIF's Affine bias feeds its synaptic current in NIR; Lava has no bias on
the current, so it goes to the voltage at its steady-state value ``a r w_in
b_affine`` (the first ~1/b steps differ); ``program.metadata["warnings"]`` says so.

``q`` per layer (the exponent/mantissa choice: netx derives each matrix's weight
exponent itself, exactly, so the free parameter per layer is this real scale):

* ``preset="auto"``, no calibration: the largest ``q`` that keeps every weight in
  [-255, 254] unclipped, ``vth`` in 17 bits, ``bias_mant`` in 13 bits, and the
  worst-case synaptic input of one step within Lava's 24-bit current (``|a| <
  2**17``, for any input in range).  Deterministic.
  For graded input the same bound fixes the product of weight levels and input
  levels (``W_q . x_q`` enters the 24-bit current as is: netx gives the file no
  weight exponent that could shift the sum down), so the input scale shares it
  evenly (e.g. 63 levels for digits, 31 for Fashion-MNIST instead of 255).
* ``calibration`` given (``[T, N, *input_shape]`` encoded samples; at most
  ``SEARCH_ELEMENTS`` samples x neurons are used): a greedy, accuracy-driven search.
  The float target (NIR semantics) runs once on the calibration set in hwsim.  Each
  layer starts at the largest scale that neither clips a weight nor brings the
  observed synaptic input within a factor 2 (:data:`HEADROOM`) of the 24-bit range,
  and walks the grid ``base * 2**(k/2)`` up (clipping outliers) or down while the
  layer's spike counts, simulated in Lava's integer arithmetic (the same
  :func:`~snncli.hwsim.loihi_neuron.loihi_cuba_step`) on the already quantized
  upstream spikes, get closer to the float layer's (output layer: agreement of the
  predicted class first).  Candidate input scales: ``2**b - 1`` levels for b = 8..2
  and, when the data lie on a lattice (digits: k/16), its exact multiples; each is
  tried on the first layer, the best three through the whole network, and the
  winner searched fully.  ``program.metadata["scale_search"]`` logs every candidate.
* ``preset="nir-paper"``: the NIR paper's Lava importer (``paper/nir_to_lava.py``):
  ``S = 256 * 64``, truncating ``int()``, ``du = 4095``, ``dv = int(4095 a)``, ``vth
  = int(v_threshold * 131071) >> 9``, weights ``int(256 a r w)`` (LIF and IF only).

Chip limits (checked in ``lower``; too large -> :class:`SnnCliError`, see
:data:`LIMITS` for the numbers and their sources): neurons per core, synaptic
memory per core (8-bit weights, unrolled convolutions, no weight sharing assumed:
conservative), fan-in per neuron, cores per chip.  ``program.resources`` is the
table: per layer neurons, synapses, fan-in, fan-out, cores; totals; chips needed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field

import nir
import numpy as np

from snncli.errors import SnnCliError
from snncli.hwsim.loihi_neuron import MAX_UV, loihi_cuba_init, loihi_cuba_step, signed_wrap
from snncli.targets.graph import GraphNode, conv_pair, conv_padding, ordered_nodes, param
from snncli.targets.program import Layer, Program, atomic_write

NAME = "loihi"
DEFAULT_DT = 1e-4
PRESETS = ("auto", "nir-paper")
NEURON = "loihi_cuba"
W_MAX, W_MIN = 254, -255  # weights netx + PyDenseModelBitAcc keep bit for bit (tests/test_loihi.py)
VTH_MAX = (1 << 17) - 1  # PyLifModelBitAcc: vth unsigned 17 bits
BIAS_MANT_MAX = (1 << 12) - 1  # 13-bit signed bias mantissa (AbstractPyLifModelFixed.bias_mant)
BIAS_EXP = 6  # netx's Network.get_neuron_params fixes bias_exp = 6
A_MAX = (1 << 17) - 1  # |a| < 2**17 keeps a << 6 inside the 24-bit current u
INPUT_BITS = 8  # graded input spikes: Network(input_message_bits=8)
CONV_WRAP_BITS = 24  # PyConvModelFixed: signed_clamp(a, 24)
HEADROOM = 2.0  # calibration: reject scales within this factor of the 24-bit range

# Loihi 2 limits used by the resource check.  Sources:
# [brief] Intel Labs, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
#         technology brief, 2021 (Loihi 2 vs Loihi table): 128 neuromorphic cores per
#         chip, up to 8,192 neurons per core, up to 1 million neurons and 120 million
#         synapses per chip.
# [davies] M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip
#         Learning", IEEE Micro 38(1), 2018: 128 KB synaptic memory per core (Loihi 1);
#         Loihi 2 shares its core memory flexibly between neuron state and synapses,
#         we budget the same ~128 KB for synapses, one byte per 8-bit weight.
LIMITS = {
    "cores_per_chip": {"value": 128, "source": "Intel Loihi 2 technology brief (2021): 128 neuromorphic cores per chip"},
    "neurons_per_core": {"value": 8192, "source": "Intel Loihi 2 technology brief (2021): up to 8,192 neurons per core"},
    "synaptic_memory_bytes_per_core": {
        "value": 128 * 1024,
        "source": "~128 KB synaptic memory per core (Davies et al., IEEE Micro 2018, Loihi 1; Loihi 2 core memory "
        "is shared flexibly, we budget the same); 1 byte per 8-bit weight, dense storage, convolutions unrolled",
    },
    "fan_in_per_neuron": {
        "value": 128 * 1024,
        "source": "a neuron's synapses live in its core's synaptic memory (1 byte each)",
    },
    "neurons_per_chip": {"value": 1_000_000, "source": "Intel Loihi 2 technology brief (2021): up to 1M neurons per chip"},
    "synapses_per_chip": {"value": 120_000_000, "source": "Intel Loihi 2 technology brief (2021): up to 120M synapses per chip"},
    "chips": {"value": 1, "source": "snncli deploys on one Loihi 2 chip"},
}
SUPPORTED = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Flatten,
             nir.LIF, nir.IF, nir.CubaLIF)  # fmt: skip
_NEURONS = (nir.LIF, nir.IF, nir.CubaLIF)
_SYNAPSES = (nir.Affine, nir.Linear, nir.Conv2d)
_FOLDABLE = (nir.SumPool2d, nir.AvgPool2d, nir.Flatten)


# ----------------------------------------------------------------- structure
@dataclass
class _Synapse:
    """One synapse layer: a NIR Affine/Linear/Conv2d with the pools/flattens before it folded in."""

    name: str
    source: str  # the Input or neuron node it reads
    op: str  # "dense" | "conv2d"
    weight: np.ndarray  # float64: dense [n_out, n_src] (source flattened C,H,W), conv [co, ci, kh, kw]
    bias: np.ndarray | None  # float64 per output neuron, flattened, or None
    src_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    conv: dict | None = None  # stride, padding, dilation, groups
    folded: list[str] = field(default_factory=list)
    pool: int = 1  # conv: non-overlapping sum pool folded in (weights replicated in pool x pool blocks)


@dataclass
class _Stage:
    """One neuron layer and the synapses feeding it (a netx block)."""

    name: str
    kind: str  # "LIF" | "IF" | "CubaLIF"
    shape: tuple[int, ...]
    synapses: list[_Synapse]
    depth: int
    a: float  # dt / tau_mem (0 for IF)
    b: float | None  # dt / tau_syn (CubaLIF)
    gain: np.ndarray  # [n] v units per step per unit of synaptic input
    bias_f: np.ndarray  # [n] v units per step
    v_th: float

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def ff(self) -> _Synapse:
        return next(s for s in self.synapses if s.source != self.name)

    @property
    def rec(self) -> _Synapse | None:
        return next((s for s in self.synapses if s.source == self.name), None)


@dataclass
class _Quantized:
    """Integer parameters of one stage at one scale."""

    q: float
    weights: dict[str, np.ndarray]
    params: dict
    clipped: int  # weights clipped to the 8-bit range


def lower(graph: nir.NIRGraph, dt: float = DEFAULT_DT, preset: str = "auto", calibration=None) -> Program:
    """Lower ``graph`` to a Loihi 2 fixed-point Program (see the module docstring).

    ``calibration``: None, or encoded training samples ``[T, N, *input_shape]`` for
    the accuracy-driven per-layer scale search.
    """
    if preset not in PRESETS:
        raise SnnCliError(f"unknown Loihi scaling preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not dt > 0:
        raise SnnCliError(f"dt must be positive, got {dt}")
    warnings: list[str] = []
    order = ordered_nodes(graph)
    input_node, stages, output_node = _structure(order, dt, preset, warnings)
    _check_fits(_resource_table(stages))

    if calibration is not None:
        calibration = np.asarray(calibration, dtype=np.float64)
        want = tuple(input_node.out_shape)
        if calibration.ndim < 3 or tuple(calibration.shape[2:]) != want:
            raise SnnCliError(
                f"calibration data has shape {list(calibration.shape)}, expected [time, samples, "
                f"{', '.join(map(str, want))}]"
            )
        if not np.all(np.isfinite(calibration)):
            raise SnnCliError("calibration data contains NaN or infinite values")
        if preset == "nir-paper":
            raise SnnCliError("the nir-paper preset has fixed scales; drop the calibration data or use preset='auto'")
    encoding = _input_encoding(graph, calibration, warnings)

    search_log: dict = {}
    if preset == "nir-paper":
        if encoding["graded"]:
            raise SnnCliError("the nir-paper preset takes binary input spikes (the paper's LIF task)")
        quant = {st.name: _quantize_paper(st, dt) for st in stages}
        input_scale = None
    elif calibration is None:
        input_scale = encoding["scale"]
        if encoding["graded"] and encoding["encoder"] == "direct":
            input_scale = _rule_input_scale(stages[0], encoding["x_max"])
        sigma = {input_node.name: input_scale or 1.0}
        quant = {}
        levels = {input_node.name: min(2**INPUT_BITS - 1, round(encoding["x_max"] * input_scale)) if input_scale else 1}
        for st in stages:
            q = _rule_scale(st, sigma, encoding["x_max"])
            while True:  # rounding may push the integer worst case past the float bound: shrink until it fits
                quant[st.name] = _quantize(st, q, sigma)
                if _integer_worst(st, quant[st.name], levels) <= A_MAX * (_decays(st)[0] + 1) / 4096 or q < 1e-6:
                    break
                q *= 0.98
    else:
        input_scale, quant, search_log = _search(graph, dt, input_node, stages, output_node, calibration, encoding)

    return _build_program(input_node, stages, output_node, quant, input_scale, dt, preset, encoding, warnings, search_log)


def _structure(order: list[GraphNode], dt: float, preset: str, warnings: list[str]):
    """Validate the graph against what netx/Lava can run; return (input, stages, output)."""
    nodes = {g.name: g for g in order}
    for g in order:
        if not isinstance(g.node, SUPPORTED):
            raise SnnCliError(_unsupported(g))
    consumers: dict[str, list[str]] = {g.name: [] for g in order}
    for g in order:
        for src in (*g.inputs, *g.delayed_inputs):
            consumers[src].append(g.name)
    inputs = [g for g in order if isinstance(g.node, nir.Input)]
    outputs = [g for g in order if isinstance(g.node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SnnCliError(
            f"the loihi target runs graphs with one Input and one Output node; this one has "
            f"{len(inputs)} inputs and {len(outputs)} outputs"
        )
    input_node, output_node = inputs[0], outputs[0]

    stages: list[_Stage] = []
    depth = {input_node.name: 0}
    for g in order:
        if not isinstance(g.node, _NEURONS):
            continue
        synapses = []
        for s_name in (*g.inputs, *g.delayed_inputs):
            s = nodes[s_name]
            if not isinstance(s.node, _SYNAPSES):
                raise SnnCliError(
                    f"neuron {g.name!r} is fed by {s_name!r} ({type(s.node).__name__}); on Loihi a neuron layer's "
                    "input must come through a synapse (Affine, Linear or Conv2d)"
                )
            if consumers[s_name] != [g.name]:
                raise SnnCliError(
                    f"synapse {s_name!r} feeds {len(consumers[s_name])} nodes; on Loihi (netx) it must feed one neuron layer"
                )
            synapses.append(_trace_synapse(s, nodes, consumers))
        ff = [s for s in synapses if s.source != g.name]
        rec = [s for s in synapses if s.source == g.name]
        if len(ff) != 1 or len(rec) > 1:
            raise SnnCliError(
                f"neuron {g.name!r} has {len(ff)} feed-forward and {len(rec)} recurrent synapses; a netx block has "
                "exactly one feed-forward synapse and at most one recurrent one"
            )
        expected = stages[-1].name if stages else input_node.name
        if ff[0].source != expected:
            raise SnnCliError(
                f"synapse {ff[0].name!r} reads {ff[0].source!r}, but netx describes a chain of layers: it must read "
                f"{expected!r}, the layer before {g.name!r} (skip connections and branches are not supported)"
            )
        if rec and rec[0].op != "dense":
            raise SnnCliError(f"recurrent synapse {rec[0].name!r} must be Affine/Linear (netx dense_rec)")
        if ff[0].op == "conv2d" and rec:
            raise SnnCliError(f"neuron {g.name!r}: netx has no recurrent convolutional block")
        stage = _neuron_stage(g, synapses, dt, preset, warnings)
        stage.depth = depth[ff[0].source] + 1
        depth[g.name] = stage.depth
        stages.append(stage)
    if not stages:
        raise SnnCliError("the graph has no spiking neuron layer (LIF, IF or CubaLIF); nothing for Loihi to run")
    used = {s.name for st in stages for s in st.synapses} | {f for st in stages for s in st.synapses for f in s.folded}
    for g in order:  # everything else must have been folded into a synapse
        if isinstance(g.node, (*_SYNAPSES, *_FOLDABLE)) and g.name not in used:
            raise SnnCliError(f"node {g.name!r} ({type(g.node).__name__}) must lead to a neuron layer on Loihi")
    srcs = [*output_node.inputs, *output_node.delayed_inputs]
    if len(srcs) != 1 or srcs[0] != stages[-1].name:
        raise SnnCliError(
            f"Output {output_node.name!r} reads {', '.join(srcs) or 'nothing'}; on Loihi (netx) the output is the "
            f"last neuron layer ({stages[-1].name!r})"
        )
    return input_node, stages, output_node


def _unsupported(g: GraphNode) -> str:
    node = g.node
    kind = type(node).__name__
    if isinstance(node, (nir.LI, nir.CubaLI)):
        why = "a non-spiking leaky integrator has no Loihi CUBA LIF equivalent that netx can read out (netx reads spikes)"
    elif isinstance(node, (nir.Scale, nir.Threshold)):
        why = "netx has no block for an elementwise scale or threshold"
    elif isinstance(node, nir.NIRGraph):
        why = "nested graphs are not supported"
    else:
        why = "netx (lava-dl) has no layer for it"
    return f"the loihi target cannot lower node {g.name!r} ({kind}): {why}"


def _trace_synapse(s: GraphNode, nodes: dict[str, GraphNode], consumers) -> _Synapse:
    """Walk back from a synapse through Flatten/pool nodes to its Input/neuron source, folding them in."""
    sources = [*s.inputs, *s.delayed_inputs]
    if len(sources) != 1:
        raise SnnCliError(f"synapse {s.name!r} sums {len(sources)} inputs; on Loihi (netx) a synapse reads one layer")
    chain: list[GraphNode] = []
    src = nodes[sources[0]]
    while isinstance(src.node, _FOLDABLE):
        ups = [*src.inputs, *src.delayed_inputs]
        if len(ups) != 1 or len(consumers[src.name]) != 1:
            raise SnnCliError(f"node {src.name!r} ({type(src.node).__name__}) must sit in a chain (one input, one consumer)")
        chain.append(src)
        src = nodes[ups[0]]
    if not isinstance(src.node, (nir.Input, *_NEURONS)):
        raise SnnCliError(
            f"synapse {s.name!r} reads {src.name!r} ({type(src.node).__name__}); on Loihi it must read the input "
            "or a neuron layer"
        )
    node = s.node
    folded = [c.name for c in chain]
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight, dtype=np.float64)
        for c in chain:  # nearest first
            if isinstance(c.node, (nir.SumPool2d, nir.AvgPool2d)):
                from snncli.hwsim.synapses import pool2d_table

                (kh, kw), stride, pad = conv_pair(c.node.kernel_size), conv_pair(c.node.stride), conv_pair(c.node.padding)
                table = pool2d_table(c.in_shape, c.out_shape, (kh, kw), stride, pad, isinstance(c.node, nir.AvgPool2d))
                weight = np.asarray((table @ weight.T)).T  # [n_out, n_in of the pool]
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if isinstance(node, nir.Affine) else None
        n_src = int(np.prod(src.out_shape))
        if weight.shape[1] != n_src:
            raise SnnCliError(
                f"synapse {s.name!r}: folded weight has {weight.shape[1]} columns, source {src.name!r} has {n_src} outputs"
            )
        out = (weight.shape[0],)
        return _Synapse(s.name, src.name, "dense", weight, _nonzero(bias), tuple(src.out_shape), out, None, folded)
    # Conv2d
    weight = np.asarray(node.weight, dtype=np.float64)
    stride = conv_pair(node.stride)
    padding = conv_padding(node, weight.shape[2:])
    dilation = conv_pair(node.dilation)
    pool = 1
    for c in chain:
        if isinstance(c.node, nir.Flatten):
            raise SnnCliError(f"Conv2d {s.name!r} reads a Flatten ({c.name!r}); netx convolutions take C,H,W maps")
        (kh, kw), (sy, sx), (py, px) = conv_pair(c.node.kernel_size), conv_pair(c.node.stride), conv_pair(c.node.padding)
        if (kh, kw) != (sy, sx) or kh != kw or (py, px) != (0, 0):
            raise SnnCliError(
                f"pool {c.name!r} (kernel {kh}x{kw}, stride {sy}x{sx}, padding {py}x{px}): netx has no pooling layer and "
                "snncli folds only non-overlapping pools (kernel == stride, square, no padding) into the next Conv2d"
            )
        if dilation != (1, 1):
            raise SnnCliError(f"Conv2d {s.name!r} after pool {c.name!r}: folding needs dilation 1")
        k = kh
        _, h, w = c.in_shape
        if (padding[0] and h % k) or (padding[1] and w % k):
            raise SnnCliError(
                f"pool {c.name!r} drops the last rows/columns of its {h}x{w} input and {s.name!r} pads: "
                "the folded convolution would read them; use inputs divisible by the pool size"
            )
        pool *= k
        weight = np.repeat(np.repeat(weight, k, axis=2), k, axis=3)
        if isinstance(c.node, nir.AvgPool2d):
            weight = weight / (k * k)
        stride = (stride[0] * k, stride[1] * k)
        padding = (padding[0] * k, padding[1] * k)
    conv = {"stride": stride, "padding": padding, "dilation": dilation, "groups": int(node.groups)}
    src_shape = tuple(src.out_shape)
    if len(src_shape) != 3:
        raise SnnCliError(f"Conv2d {s.name!r} reads {src.name!r} of shape {list(src_shape)}; it needs C,H,W")
    out = _conv_out_shape(src_shape, weight.shape, conv)
    if out != tuple(s.out_shape):
        raise SnnCliError(f"internal: folding into {s.name!r} gives shape {out}, expected {s.out_shape}")
    bias = None
    if node.bias is not None and np.any(np.asarray(node.bias) != 0):
        bias = np.repeat(np.asarray(node.bias, dtype=np.float64).reshape(-1), out[1] * out[2])
    return _Synapse(s.name, src.name, "conv2d", weight, bias, src_shape, out, conv, folded, pool)


def _nonzero(bias):
    return bias if bias is not None and np.any(bias != 0) else None


def _conv_out_shape(in_shape, wshape, conv) -> tuple[int, int, int]:
    (sy, sx), (py, px), (dy, dx) = conv["stride"], conv["padding"], conv["dilation"]
    kh, kw = wshape[2:]
    h = (in_shape[1] + 2 * py - dy * (kh - 1) - 1) // sy + 1
    w = (in_shape[2] + 2 * px - dx * (kw - 1) - 1) // sx + 1
    return (int(wshape[0]), int(h), int(w))


def _uniform(g: GraphNode, key: str) -> float:
    value = param(g.node, key, g.out_shape)
    if not np.all(value == value.flat[0]):
        raise SnnCliError(f"node {g.name!r}: Lava's LIF takes one {key} per layer, this one varies across neurons")
    return float(value.flat[0])


def _neuron_stage(g: GraphNode, synapses: list[_Synapse], dt: float, preset: str, warnings: list[str]) -> _Stage:
    node, shape = g.node, tuple(g.out_shape)
    kind = type(node).__name__
    mode = (node.metadata or {}).get("reset_mode", "zero")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode != "zero":
        raise SnnCliError(
            f"node {g.name!r} ({kind}) resets by {mode}: Loihi's LIF (Lava, netx CUBA) resets to 0, not by "
            "subtraction; retrain with reset 'zero' or target the float/speck backends"
        )
    if node.v_reset is not None and np.any(np.asarray(node.v_reset) != 0):
        raise SnnCliError(f"node {g.name!r} ({kind}): Loihi's LIF resets to 0; v_reset must be 0")
    r = param(node, "r", shape).reshape(-1)
    v_th = _uniform(g, "v_threshold")
    if v_th <= 0:
        raise SnnCliError(f"node {g.name!r}: v_threshold must be positive on Loihi, got {v_th}")
    b = None
    if isinstance(node, nir.IF):
        a, gain, leak = 0.0, dt * r, np.zeros(r.shape)
    else:
        a = dt / _uniform(g, "tau_mem" if isinstance(node, nir.CubaLIF) else "tau")
        if not 0 < a <= 1:
            raise SnnCliError(f"node {g.name!r}: dt/tau = {a:g} must lie in (0, 1] for a 12-bit Loihi decay")
        gain, leak = a * r, a * param(node, "v_leak", shape).reshape(-1)
    bias_gain = gain
    if isinstance(node, nir.CubaLIF):
        if preset == "nir-paper":
            raise SnnCliError("the nir-paper preset covers LIF and IF nodes (paper/nir_to_lava.py); use preset='auto'")
        b = dt / _uniform(g, "tau_syn")
        if not 0 < b <= 1:
            raise SnnCliError(f"node {g.name!r}: dt/tau_syn = {b:g} must lie in (0, 1] for a 12-bit Loihi decay")
        w_in = param(node, "w_in", shape).reshape(-1)
        bias_gain = gain * w_in  # steady state of the current: i = w_in * bias
        gain = gain * b * w_in
    bias_f = leak.astype(np.float64).copy()
    biased = [s.name for s in synapses if s.bias is not None]
    for s in synapses:
        if s.bias is not None:
            bias_f = bias_f + bias_gain * s.bias
    if biased and b is not None and b < 1:
        warnings.append(
            f"CubaLIF {g.name!r}: the bias of {', '.join(map(repr, biased))} feeds the synaptic current in NIR; "
            f"Lava's LIF adds bias to the voltage, so it is applied at its steady-state value (the first "
            f"~{math.ceil(1 / b)} steps differ from the float model)"
        )
    for s in synapses:
        if s.op == "conv2d":
            per_channel = gain.reshape(shape[0], -1)
            if not np.allclose(per_channel, per_channel[:, :1], rtol=1e-12, atol=0):
                raise SnnCliError(f"node {g.name!r}: r (or w_in) varies within a channel; a convolution shares its weights")
    return _Stage(g.name, kind, shape, synapses, 0, a, b, gain, bias_f, v_th)


# ----------------------------------------------------------------- quantization
def _decays(st: _Stage) -> tuple[int, int]:
    dv = int(np.clip(np.round(4096 * st.a), 0, 4095))
    du = 4095 if st.b is None else int(np.clip(np.round(4096 * st.b) - 1, 0, 4095))
    return du, dv


def _float_weights(st: _Stage, syn: _Synapse, sigma: float) -> np.ndarray:
    """Float weight in v units per unit of (integer) source output."""
    if syn.op == "dense":
        return st.gain.reshape(-1, 1) * syn.weight / sigma
    per_channel = st.gain.reshape(st.shape[0], -1)[:, 0]
    return per_channel.reshape(-1, 1, 1, 1) * syn.weight / sigma


def _hard_limit(st: _Stage) -> float:
    """The largest q keeping vth (17 bits) and the bias mantissa (13 bits) in range."""
    limits = [VTH_MAX / st.v_th]
    bmax = float(np.abs(st.bias_f).max(initial=0.0))
    if bmax > 0:
        limits.append(BIAS_MANT_MAX / bmax)
    return min(limits)


def _noclip_limit(st: _Stage, sigma: dict[str, float]) -> float:
    wmax = max(float(np.abs(_float_weights(st, s, sigma.get(s.source, 1.0))).max(initial=0.0)) for s in st.synapses)
    return W_MAX / wmax if wmax > 0 else math.inf


def _rule_scale(st: _Stage, sigma: dict[str, float], x_max: float) -> float:
    """Deterministic q: no clipping, and no 24-bit overflow for ANY input (worst case)."""
    worst = np.zeros(st.size)
    for s in st.synapses:
        unit = x_max if s.source in sigma else 1.0  # the (float) input's largest value; spikes are 1
        wf = _float_weights(st, s, 1.0)  # v units per unit of float source value
        if s.op == "dense":
            pos, neg = np.clip(wf, 0, None).sum(1), np.clip(-wf, 0, None).sum(1)
        else:
            pos, neg = _conv_worst(wf, s)
        worst = worst + np.maximum(pos, neg) * unit
    limits = [_hard_limit(st), _noclip_limit(st, sigma)]
    wmax = float(worst.max(initial=0.0))
    if wmax > 0:
        du, _ = _decays(st)
        limits.append(A_MAX * (du + 1) / 4096 / wmax)
    q = min(limits)
    if not math.isfinite(q):
        q = VTH_MAX / st.v_th
    return q


def _integer_worst(st: _Stage, quant: _Quantized, levels: dict[str, int]) -> float:
    """Largest |a| one step can bring with these integer weights (inputs in [0, level], spikes 0/1)."""
    worst = np.zeros(st.size)
    for s in st.synapses:
        w = quant.weights[s.name].astype(np.float64)
        if s.op == "dense":
            pos, neg = np.clip(w, 0, None).sum(1), np.clip(-w, 0, None).sum(1)
        else:
            pos, neg = _conv_worst(w, s)
        worst = worst + np.maximum(pos, neg) * levels.get(s.source, 1)
    return float(worst.max(initial=0.0))


def _rule_input_scale(st: _Stage, x_max: float) -> float:
    """Graded input scale without calibration: the worst-case bound fixes the product of
    weight levels and input levels (``W_q x_q`` summed must stay below 2**17); share it
    evenly between them (at most 255 input levels)."""
    wf = _float_weights(st, st.ff, 1.0)
    if st.ff.op == "dense":
        pos, neg = np.clip(wf, 0, None).sum(1), np.clip(-wf, 0, None).sum(1)
    else:
        pos, neg = _conv_worst(wf, st.ff)
    worst = float(np.maximum(pos, neg).max(initial=0.0))
    wmax = float(np.abs(wf).max(initial=0.0))
    if worst <= 0 or wmax <= 0:
        return 255.0 / x_max
    product = A_MAX * wmax / worst  # (weight levels) x (input levels) the current allows
    levels = int(np.clip(2 ** math.floor(math.log2(math.sqrt(product) + 1)) - 1, 1, 255))
    return levels / x_max


def _conv_worst(wf: np.ndarray, s: _Synapse) -> tuple[np.ndarray, np.ndarray]:
    """Per output neuron, the sums of positive and of negative weights over its receptive field (interior bound)."""
    per_co_pos = np.clip(wf, 0, None).reshape(wf.shape[0], -1).sum(1)
    per_co_neg = np.clip(-wf, 0, None).reshape(wf.shape[0], -1).sum(1)
    n = int(np.prod(s.out_shape[1:]))
    return np.repeat(per_co_pos, n), np.repeat(per_co_neg, n)


def _quantize(st: _Stage, q: float, sigma: dict[str, float]) -> _Quantized:
    weights, clipped = {}, 0
    for s in st.synapses:
        w = np.round(q * _float_weights(st, s, sigma.get(s.source, 1.0)))
        clipped += int(np.count_nonzero((w > W_MAX) | (w < W_MIN)))
        weights[s.name] = np.clip(w, W_MIN, W_MAX).astype(np.int64)
    du, dv = _decays(st)
    vth = int(np.clip(np.round(q * st.v_th), 1, VTH_MAX))
    bias = np.clip(np.round(q * st.bias_f), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)
    params = {"du": du, "dv": dv, "vth": vth, "bias_mant": bias.reshape(st.shape), "bias_exp": BIAS_EXP,
              "reset_step": int(st.depth)}  # fmt: skip
    if st.ff.op == "conv2d":
        params["in_wrap_bits"] = CONV_WRAP_BITS
    return _Quantized(float(q), weights, params, clipped)


def _quantize_paper(st: _Stage, dt: float) -> _Quantized:
    """The NIR paper's importer constants (module docstring)."""
    weights = {s.name: np.trunc(256.0 * _float_weights(st, s, 1.0)).astype(np.int64) for s in st.synapses}
    bias = np.trunc(256.0 * st.bias_f).astype(np.int64)
    if np.abs(bias).max(initial=0) > BIAS_MANT_MAX:
        raise SnnCliError(f"node {st.name!r}: bias does not fit Loihi's 13-bit mantissa at the paper's scale")
    params = {"du": 4095, "dv": int(4095 * st.a), "vth": int(st.v_th * 131071) >> 9,
              "bias_mant": bias.reshape(st.shape), "bias_exp": BIAS_EXP}  # fmt: skip
    if st.ff.op == "conv2d":
        params["in_wrap_bits"] = CONV_WRAP_BITS
    return _Quantized(256.0, weights, params, 0)


# ----------------------------------------------------------------- input encoding
def _input_encoding(graph: nir.NIRGraph, calibration, warnings: list[str]) -> dict:
    """Binary or graded input, and (without calibration) its scale."""
    meta = graph.metadata.get("snncli", {}) if isinstance(graph.metadata, dict) else {}
    encoder = meta.get("encoder") if isinstance(meta, dict) else None
    if isinstance(encoder, bytes):
        encoder = encoder.decode()
    if calibration is not None:
        binary = bool(np.all((calibration == 0) | (calibration == 1)))
        x_max = float(calibration.max(initial=0.0))
        if not binary and calibration.min(initial=0.0) < 0:
            warnings.append(
                f"calibration input has negative values (min {calibration.min():g}); Loihi graded spikes are "
                "unsigned, negative inputs are clipped to 0"
            )
        return {"graded": not binary, "scale": None, "x_max": x_max if x_max > 0 else 1.0, "encoder": encoder,
                "source": "calibration data"}  # fmt: skip
    if encoder == "direct":
        return {"graded": True, "scale": 255.0, "x_max": 1.0, "encoder": encoder,
                "source": "graph metadata: direct encoder, x in [0, 1] assumed"}  # fmt: skip
    if encoder == "frames":
        return {"graded": True, "scale": 1.0, "x_max": 255.0, "encoder": encoder,
                "source": "graph metadata: event frames, integer counts up to 255 sent as graded spikes"}  # fmt: skip
    if encoder not in ("poisson", "latency"):
        warnings.append(
            "input assumed to be binary spikes (the graph does not say how its input is encoded); lower with "
            "calibration data to detect analog input"
        )
    return {"graded": False, "scale": None, "x_max": 1.0, "encoder": encoder,
            "source": f"graph metadata: {encoder} encoder" if encoder else "assumed"}  # fmt: skip


def _lattice_base(x: np.ndarray) -> int | None:
    """The smallest integer m <= 255 that maps every calibration value to an integer, if any."""
    values = np.unique(x)
    values = values[values > 0]
    if values.size == 0 or values.size > 4096:
        return None
    for m in range(1, 256):
        y = values * m
        if np.allclose(y, np.round(y), rtol=0, atol=1e-6):
            return m if round(float(values.max()) * m) <= 255 else None
    return None


def _quantize_input(x: np.ndarray, scale: float | None, bits: int = INPUT_BITS) -> np.ndarray:
    """hwsim's input quantization (simulate.Simulator._encode_input), float64 integers."""
    x = np.asarray(x, dtype=np.float64)
    if scale is None:
        return x
    return np.clip(np.round(x * scale), 0, 2**bits - 1)


# ----------------------------------------------------------------- calibration search
SEARCH_ELEMENTS = 1 << 21  # samples x neurons of the largest layer simulated per candidate
K_RANGE = (-6, 2)  # candidate scales: base * 2**(k/2)


def _search(graph, dt, input_node, stages, output_node, calibration, encoding):
    from snncli.hwsim.simulate import Simulator
    from snncli.targets import float as float_target

    steps, total = calibration.shape[:2]
    samples = int(min(total, max(64, SEARCH_ELEMENTS // max(st.size for st in stages))))
    calibration = calibration[:, :samples]
    fprog = float_target.lower(graph, dt=dt)
    fres = Simulator(fprog).run(calibration, record=True)
    f_counts = {st.name: fres.records[st.name]["out"].sum(0).reshape(samples, -1) for st in stages}
    f_pred = f_counts[stages[-1].name].argmax(1)
    latency = stages[-1].depth
    pad = np.zeros((latency, *calibration.shape[1:]))
    x_pad = np.concatenate([calibration, pad])

    if encoding["graded"]:
        x_max = encoding["x_max"]
        # 8-bit messages, but fewer significant input bits can buy weight precision: the product
        # W_q x_q must stay within the 24-bit current (netx has no exponent to shift it down)
        scales = [(2.0**bits - 1) / x_max for bits in range(INPUT_BITS, 1, -1)]
        base = _lattice_base(calibration)
        if base is not None:  # inputs on a lattice (digits: k/16): the multiples of the lattice are exact
            scales += sorted({base * math.floor(s / base) for s in scales if s >= base} - set(scales), reverse=True)
    else:
        scales = [None]
    log = {"samples": int(samples), "steps": int(steps), "layers": {}}
    # a layer at depth d sees the input of step t at step t + d: compare its steps [d, d + T) with the float
    # model's [0, T) (the output layer: [latency, latency + T), what flushing with latency zero steps gives)
    window = {st.name: slice(st.depth, st.depth + steps) for st in stages}
    def chain(s_in, quick: bool):
        """Greedy search through every stage for one input scale; score = the output stage's."""
        outputs = {input_node.name: _quantize_input(x_pad, s_in)}
        sigma = {input_node.name: s_in or 1.0}
        quant, logs, safe = {}, {}, True
        for st in stages:
            pick = _search_stage(st, outputs, sigma, f_counts[st.name], st is stages[-1], f_pred, window[st.name],
                                 quick=quick)  # fmt: skip
            quant[st.name], outputs[st.name], logs[st.name] = pick["quant"], pick["spikes"], pick["log"]
            safe = safe and pick["score"][0]
        return (safe, *pick["score"][1:3]), quant, logs, outputs

    if len(scales) > 1:
        # 1. every input scale at the first stage's base q; 2. the best three through the whole network at
        # base q, scored on the output; 3. the winner searched fully
        first = []
        for s_in in scales:
            outputs = {input_node.name: _quantize_input(x_pad, s_in)}
            pick = _search_stage(stages[0], outputs, {input_node.name: s_in}, f_counts[stages[0].name],
                                 len(stages) == 1, f_pred, window[stages[0].name], quick=True)  # fmt: skip
            first.append((pick["score"][:3], s_in))
        first.sort(key=lambda item: item[0], reverse=True)
        finals = [(chain(s_in, quick=True)[0], s_in) for _, s_in in first[:3]]
        finals.sort(key=lambda item: item[0], reverse=True)
        input_scale = finals[0][1]
        log["input_scales"] = [
            {"input_scale": s, "first_layer_at_base_q": [bool(k[0]), k[1], -k[2]],
             "output_at_base_q": next(([bool(f[0]), f[1], -f[2]] for f, t in finals if t == s), None)}
            for k, s in first
        ]  # fmt: skip
    else:
        input_scale = scales[0]
    _, quant, log["layers"], outputs = chain(input_scale, quick=False)
    out_counts = outputs[stages[-1].name][window[stages[-1].name]].sum(0).reshape(samples, -1)
    log["prediction_agreement"] = float(np.mean(out_counts.argmax(1) == f_pred))
    return input_scale, quant, log


def _search_stage(st: _Stage, outputs: dict, sigma: dict, f_count: np.ndarray, is_output: bool, f_pred,
                  window: slice, quick: bool = False) -> dict:
    """Pick q for one stage: start at the largest scale that neither clips weights nor comes
    within HEADROOM of the 24-bit current on the calibration data, then walk the grid
    ``base * 2**(k/2)`` up, or else down, while the score improves."""
    hard = _hard_limit(st)
    noclip = _noclip_limit(st, sigma)
    # observed float-valued synaptic input per step (v units) on the already quantized upstream outputs
    a_obs = 0.0
    for s in st.synapses:
        if s.source == st.name:
            continue
        acc = _accumulate(s, _float_weights(st, s, sigma.get(s.source, 1.0)), outputs[s.source])
        a_obs = max(a_obs, float(np.abs(acc).max(initial=0.0)))
    base = min(hard, noclip)
    if a_obs > 0:
        # 0.9: weight rounding can add a few percent to the integer sum
        base = min(base, 0.9 * A_MAX / HEADROOM / a_obs * ((_decays(st)[0] + 1) / 4096))
    if not math.isfinite(base):
        base = VTH_MAX / st.v_th
    results: dict[int, tuple] = {}
    tried = []

    def evaluate(k: int):
        if k not in results:
            q = min(hard, base * 2 ** (k / 2))
            quant = _quantize(st, q, sigma)
            spikes, peak = _simulate_stage(st, quant, outputs)
            safe = peak * HEADROOM < MAX_UV
            counts = spikes[window].sum(0).reshape(f_count.shape[0], -1)
            err = float(np.mean(np.abs(counts - f_count)))
            agree = float(np.mean(counts.argmax(1) == f_pred)) if is_output else 0.0
            results[k] = ((safe, agree, -err, q), quant, spikes)
            tried.append({"q": q, "safe": bool(safe), "count_mae": err, "agreement": agree if is_output else None,
                          "clipped_weights": quant.clipped})  # fmt: skip
        return results[k]

    best_k = 0
    evaluate(0)
    if not quick:
        for direction in (1, -1):
            k = best_k + direction
            moved = False
            while K_RANGE[0] <= k <= K_RANGE[1] and (direction < 0 or base * 2 ** (k / 2) <= hard * 1.0001):
                if evaluate(k)[0] > results[best_k][0]:
                    best_k, moved = k, True
                    k += direction
                else:
                    break
            if moved:
                break
    score, quant, spikes = results[best_k]
    log = {"q": quant.q, "scale": 64 * quant.q, "count_mae": -score[2], "candidates": tried}
    return {"quant": quant, "spikes": spikes, "score": score, "log": log}


def _accumulate(s: _Synapse, weight: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``W . src`` for every step and sample (no delay), float64 (exact for integer data), [T, N, n_out]."""
    steps, samples = src.shape[:2]
    # steps equal to the one before (the direct encoder repeats its frame) are computed once
    flat = src.reshape(steps, samples, -1)
    fresh = np.ones(steps, dtype=bool)
    fresh[1:] = np.any(flat[1:] != flat[:-1], axis=(1, 2))
    index = np.cumsum(fresh) - 1
    src = flat[fresh]
    n = src.shape[0]
    if s.op == "dense":
        out = (src.reshape(n * samples, -1) @ weight.T).reshape(n, samples, -1)
        return out[index]
    import torch
    import torch.nn.functional as F

    c = s.conv
    stride, padding = c["stride"], c["padding"]
    if s.pool > 1:  # sum-pool the source and convolve with one weight per replicated block: 4x less work
        k = s.pool
        ch, h, w = s.src_shape
        img = src.reshape(n, samples, ch, h, w)[..., : h // k * k, : w // k * k]
        src = img.reshape(n, samples, ch, h // k, k, w // k, k).sum(axis=(4, 6))
        weight = weight[:, :, ::k, ::k]
        stride, padding = (stride[0] // k, stride[1] // k), (padding[0] // k, padding[1] // k)
    src_shape = src.shape[2:] if s.pool > 1 else s.src_shape
    # float32 is exact when every partial sum is an integer below 2**24
    integral = np.array_equal(weight, np.round(weight)) and np.array_equal(src, np.round(src))
    bound = float(np.abs(weight).reshape(weight.shape[0], -1).sum(1).max(initial=0.0)) * float(np.abs(src).max(initial=0.0))
    dtype = np.float32 if integral and bound < 2**24 else np.float64
    with torch.no_grad():
        out = F.conv2d(
            torch.from_numpy(np.ascontiguousarray(src.reshape(n * samples, *src_shape), dtype=dtype)),
            torch.from_numpy(np.ascontiguousarray(weight, dtype=dtype)),
            stride=stride, padding=padding, dilation=c["dilation"], groups=c["groups"],
        ).numpy().astype(np.float64)  # fmt: skip
    return out.reshape(n, samples, -1)[index]


def _simulate_stage(st: _Stage, quant: _Quantized, outputs: dict) -> tuple[np.ndarray, int]:
    """Run one stage in Lava's integer arithmetic on its sources' outputs; returns (spikes [T, N, n], peak |u|)."""
    from snncli.hwsim.loihi_neuron import _i32

    ff = st.ff
    src = outputs[ff.source]
    steps, samples = src.shape[:2]
    acc = _accumulate(ff, quant.weights[ff.name].astype(np.float64), src)
    lo, hi = float(acc.min(initial=0.0)), float(acc.max(initial=0.0))
    acc = acc.astype(np.int64)
    if lo < -(2.0**31) or hi >= 2.0**31:
        acc = _i32(acc)
    if ff.op == "conv2d":
        acc = signed_wrap(acc, CONV_WRAP_BITS)
    rec = st.rec
    w_rec = quant.weights[rec.name].astype(np.float64) if rec is not None else None
    params = {k: v for k, v in quant.params.items() if k != "in_wrap_bits"}
    params["bias_mant"] = np.asarray(params["bias_mant"]).reshape(-1)
    state = loihi_cuba_init((st.size,), samples, params)
    spikes = np.zeros((steps, samples, st.size), dtype=np.int8)
    peak = int(max(-acc.min(initial=0), acc.max(initial=0))) << 6
    zero = np.zeros((samples, st.size), dtype=np.int64)
    prev = None
    for t in range(steps):
        a = acc[t - 1] if t else zero  # Lava's Dense/Conv: a(t) = W s(t-1)
        if w_rec is not None and prev is not None:
            a = _i32(a + _i32((prev @ w_rec.T).astype(np.int64)))
            peak = max(peak, int(np.abs(a).max(initial=0)) << 6)
        state, out = loihi_cuba_step(state, a, params)
        if st.b is not None:
            peak = max(peak, int(np.abs(state["u"]).max(initial=0)))
        spikes[t] = out
        prev = out.astype(np.float64)
    return spikes, peak


# ----------------------------------------------------------------- program
def _build_program(input_node, stages, output_node, quant, input_scale, dt, preset, encoding, warnings, search_log):
    in_params = {}
    if input_scale is not None:
        in_params = {"input_scale": float(input_scale), "input_bits": INPUT_BITS}
    layers = [Layer(input_node.name, "input", tuple(input_node.in_shape), tuple(input_node.out_shape), params=in_params)]
    synapses, neurons = [], []
    scales, folded = {}, {}
    for st in stages:
        qz = quant[st.name]
        scales[st.name] = 64.0 * qz.q
        for s in st.synapses:
            for f in s.folded:
                folded[f] = s.name
            if s.op == "dense":
                synapses.append(Layer(s.name, "dense", (int(np.prod(s.src_shape)),), (st.size,),
                                      delayed_inputs=[s.source], params={"weight": qz.weights[s.name]}))  # fmt: skip
            else:
                c = s.conv
                params = {"weight": qz.weights[s.name], "stride": tuple(c["stride"]), "padding": tuple(c["padding"]),
                          "dilation": tuple(c["dilation"]), "groups": int(c["groups"])}  # fmt: skip
                synapses.append(Layer(s.name, "conv2d", s.src_shape, s.out_shape, delayed_inputs=[s.source], params=params))
        neurons.append(Layer(st.name, "neuron", st.shape, st.shape, inputs=[s.name for s in st.synapses],
                             params=dict(qz.params), neuron=NEURON))  # fmt: skip
        if qz.clipped:
            warnings.append(f"layer {st.name!r}: {qz.clipped} weights clipped to the 8-bit range at the chosen scale")
    last = stages[-1]
    layers += synapses + neurons
    layers.append(Layer(output_node.name, "output", last.shape, last.shape, inputs=[last.name]))
    program = Program(
        target=NAME,
        dt=dt,
        layers=layers,
        scales=scales,
        metadata={
            "preset": preset,
            "latency_steps": int(last.depth),
            "depth": {st.name: int(st.depth) for st in stages},
            "input": {
                "graded": input_scale is not None,
                "input_scale": None if input_scale is None else float(input_scale),
                "input_bits": INPUT_BITS if input_scale is not None else 1,
                "decided_by": encoding["source"],
            },
            "netx": {"input_message_bits": INPUT_BITS if input_scale is not None else 0,
                     **({"reset_interval": "steps per sample", "reset_offset": 1} if preset != "nir-paper" else {})},
            "folded": folded,
            "scale_search": search_log or {"method": "nir-paper constants" if preset == "nir-paper" else
                                           "rule: no clipping, 17-bit vth, 13-bit bias, 24-bit current for any input"},
            "timing": "every synapse layer delays its input by one step (Lava Dense/Conv), neurons read it the same step; "
            "a neuron layer at depth d resets (u = v = 0) at step d (reset_step, Lava LIFReset)",
            "output_window": "with latency_steps zero steps appended, output steps [latency_steps, latency_steps + T) "
            "correspond to the float model's steps [0, T)",
            "scales": "v_int = scale * v_float per neuron layer",
            "warnings": list(dict.fromkeys(warnings)),
        },  # fmt: skip
    )
    program.resources = resources(program)
    return program


# ----------------------------------------------------------------- resources
def _conv_synapse_stats(weight: np.ndarray, in_shape, out_shape, conv) -> tuple[int, int, int]:
    """(synapses, max fan-in, max fan-out) of an unrolled convolution, without building it."""
    weight = np.asarray(weight)
    co, cig, kh, kw = weight.shape
    _, h, w = in_shape
    _, oh, ow = out_shape
    (sy, sx), (py, px), (dy, dx) = conv["stride"], conv["padding"], conv["dilation"]
    oy, ox = np.arange(oh), np.arange(ow)
    vy = np.array([np.count_nonzero((oy * sy - py + ky * dy >= 0) & (oy * sy - py + ky * dy < h)) for ky in range(kh)])
    vx = np.array([np.count_nonzero((ox * sx - px + kx * dx >= 0) & (ox * sx - px + kx * dx < w)) for kx in range(kw)])
    nz = weight != 0
    synapses = int((nz * (vy[:, None] * vx[None, :])).sum())
    fan_in = int(nz.reshape(co, -1).sum(1).max(initial=0))
    # fan-out of an interior input: the taps (over output channels) whose offset ky*dy (kx*dx) falls in one
    # residue class of the stride, best class
    groups = int(conv["groups"])
    taps = nz.reshape(groups, co // groups, cig, kh, kw).sum(axis=1)  # [groups, cig, kh, kw]
    fan_out = 0
    for ry in range(sy):
        my = (np.arange(kh) * dy) % sy == ry
        for rx in range(sx):
            mx = (np.arange(kw) * dx) % sx == rx
            fan_out = max(fan_out, int(taps[:, :, my][:, :, :, mx].sum(axis=(2, 3)).max(initial=0)))
    return synapses, fan_in, fan_out


def _layer_usage(name: str, n: int, syns: list[tuple[str, int, int, int]]) -> dict:
    limit_n = LIMITS["neurons_per_core"]["value"]
    mem = LIMITS["synaptic_memory_bytes_per_core"]["value"]
    synapses = sum(s[1] for s in syns)
    fan_in = sum(s[2] for s in syns)
    cores = max(1, math.ceil(n / limit_n), math.ceil(synapses / mem))
    return {
        "neurons": int(n),
        "synapses": int(synapses),
        "synaptic_memory_bytes": int(synapses),
        "fan_in": int(fan_in),
        "fan_out_of_source": {s[0]: int(s[3]) for s in syns},
        "cores": int(cores),
        "synapse_layers": [s[0] for s in syns],
    }


def _resource_table(stages: list[_Stage]) -> dict:
    """The table from the float structure (an upper bound: quantization only removes synapses)."""
    per_layer = {}
    for st in stages:
        syns = []
        for s in st.synapses:
            w = s.weight
            if s.op == "dense":
                nz = w != 0
                syns.append((s.name, int(nz.sum()), int(nz.sum(1).max(initial=0)), int(nz.sum(0).max(initial=0))))
            else:
                n, fi, fo = _conv_synapse_stats(w, s.src_shape, s.out_shape, s.conv)
                syns.append((s.name, n, fi, fo))
        per_layer[st.name] = _layer_usage(st.name, st.size, syns)
    return _totals(per_layer)


def resources(program: Program) -> dict:
    """The resource table of a lowered Loihi program (integer weights: zero weights store no synapse)."""
    per_layer = {}
    for layer in program.neuron_layers:
        syns = []
        for name in layer.inputs:
            s = program.layer(name)
            w = np.asarray(s.params["weight"])
            if s.op == "dense":
                nz = w != 0
                syns.append((s.name, int(nz.sum()), int(nz.sum(1).max(initial=0)), int(nz.sum(0).max(initial=0))))
            else:
                conv = {k: s.params[k] for k in ("stride", "padding", "dilation", "groups")}
                n, fi, fo = _conv_synapse_stats(w, s.in_shape, s.out_shape, conv)
                syns.append((s.name, n, fi, fo))
        per_layer[layer.name] = _layer_usage(layer.name, layer.size, syns)
    return _totals(per_layer)


def _totals(per_layer: dict) -> dict:
    cores = sum(v["cores"] for v in per_layer.values())
    per_chip = LIMITS["cores_per_chip"]["value"]
    return {
        "per_layer": per_layer,
        "neurons": int(sum(v["neurons"] for v in per_layer.values())),
        "synapses": int(sum(v["synapses"] for v in per_layer.values())),
        "cores": int(cores),
        "cores_per_chip": per_chip,
        "chips_needed": int(max(1, math.ceil(cores / per_chip))),
        "limits": LIMITS,
        "notes": "cores per layer = max(neurons / 8192, synaptic bytes / 128 KiB), layers do not share cores; "
        "input spikes come from the host (no neuromorphic core)",
    }


def _check_fits(table: dict) -> None:
    """Raise SnnCliError naming the layer, what it needs and the limit, when the network does not fit one chip."""
    fan_limit = LIMITS["fan_in_per_neuron"]["value"]
    for name, row in table["per_layer"].items():
        if row["fan_in"] > fan_limit:
            raise SnnCliError(
                f"layer {name!r}: a neuron has {row['fan_in']} synapses, more than one Loihi 2 core holds "
                f"({fan_limit} 8-bit weights in 128 KiB)"
            )
    per_chip = table["cores_per_chip"]
    if table["cores"] > per_chip * LIMITS["chips"]["value"]:
        name, row = max(table["per_layer"].items(), key=lambda kv: kv[1]["cores"])
        raise SnnCliError(
            f"network needs {table['chips_needed']} chips ({table['cores']} cores); snncli deploys on one Loihi 2 chip "
            f"({per_chip} cores): layer {name!r} alone needs {row['cores']} cores ({row['neurons']} neurons, "
            f"{row['synapses']} synapses; a core holds 8192 neurons and 128 KiB of 8-bit weights)"
        )
    for key, total in (("neurons_per_chip", table["neurons"]), ("synapses_per_chip", table["synapses"])):
        if total > LIMITS[key]["value"]:
            raise SnnCliError(
                f"network has {total} {key.split('_')[0]}; one Loihi 2 chip holds {LIMITS[key]['value']}"
            )


# ----------------------------------------------------------------- write / reference
def write(program: Program, path) -> list[str]:
    """Write the netx HDF5 at ``path`` and a sidecar JSON at ``path + '.json'`` (atomic; nothing on failure)."""
    from snncli.targets.netx import _readable, netx_blocks, write_netx

    if program.target != NAME:
        raise SnnCliError(f"the loihi writer needs a loihi program, got target {program.target!r}")
    table = resources(program)
    _check_fits(table)
    blocks = netx_blocks(program)  # validates the chain before anything is written
    path = os.fspath(path)
    resets = any(layer.params.get("reset_step") is not None for layer in program.neuron_layers)
    sidecar = {
        "format": "snncli-loihi-netx",
        "version": 1,
        "netx_file": os.path.basename(path),
        "load_with": "lava.lib.dl.netx.hdf5.Network(net_config=path, input_message_bits="
        f"{program.metadata.get('netx', {}).get('input_message_bits', 0)}"
        + (", reset_interval=T, reset_offset=1)  # T = steps per sample, latency_steps included" if resets else ")"),
        "netx": program.metadata.get("netx", {"input_message_bits": 0}),
        "input": program.metadata.get("input", {}),
        "dt": program.dt,
        "latency_steps": program.metadata.get("latency_steps"),
        "blocks": [{"index": i, "type": kind, "layer": name} for i, (kind, name) in enumerate(blocks)],
        "scales": program.scales,
        "folded": program.metadata.get("folded", {}),
        "resources": table,
        "warnings": program.metadata.get("warnings", []),
    }
    from snncli.targets.program import to_jsonable

    text = json.dumps(to_jsonable(sidecar), indent=2).encode()
    write_netx(program, path)
    try:
        atomic_write(path + ".json", lambda f: f.write(text))
        _readable(path + ".json")
    except BaseException:
        os.unlink(path)
        raise
    return [path, path + ".json"]


def reference(program: Program, x: np.ndarray, progress=None) -> dict[str, np.ndarray]:
    """Run ``program`` in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) from its netx file.

    ``x`` ``[T, N, *input_shape]`` as hwsim takes it (graded input is quantized by the
    same rule).  Returns, per neuron layer, Lava's spikes ``[T, N, *shape]``,
    aligned with hwsim's records of the same Program on the same ``x``.
    """
    from snncli.targets import lava_reference
    from snncli.targets.netx import netx_blocks, write_netx

    x = np.asarray(x)
    (inp,) = program.input_layers
    if x.ndim < 2 or tuple(x.shape[2:]) != tuple(inp.out_shape):
        want = ", ".join(map(str, inp.out_shape))
        raise SnnCliError(f"input has shape {tuple(x.shape)}, the program expects [time, batch, {want}]")
    scale = inp.params.get("input_scale")
    xq = _quantize_input(x, scale, int(inp.params.get("input_bits", INPUT_BITS)))
    if scale is None and not np.all((xq == 0) | (xq == 1)):
        raise SnnCliError("this Loihi program takes binary input spikes; the input has other values")
    blocks = [(i, kind, name) for i, (kind, name) in enumerate(netx_blocks(program)) if kind not in ("input", "flatten")]
    bits = int(program.metadata.get("netx", {}).get("input_message_bits", 0))
    with tempfile.TemporaryDirectory(prefix="snncli-loihi-") as tmp:
        path = os.path.join(tmp, "net.h5")
        write_netx(program, path)
        layer_reset = any(layer.params.get("reset_step") is not None for layer in program.neuron_layers)
        spikes = lava_reference.run_netx_samples(path, xq.astype(np.int64), input_message_bits=bits, progress=progress,
                                                 layer_reset=layer_reset)  # fmt: skip
    return {name: spikes[j] for j, (_, _, name) in enumerate(blocks)}
