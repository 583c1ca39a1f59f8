"""Loihi structure: a NIR graph -> a chain of stages, each one netx block.

What the chip runs
------------------
A Loihi program is a chain of netx blocks, each one synapse (Dense, Conv, or Dense
plus a recurrent Dense) feeding one layer of Lava ``LIF`` neurons (bit-accurate
CUBA model, see :mod:`snncli.targets.loihi.arithmetic`).  ``lower`` maps NIR onto it:

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
"""

from __future__ import annotations

import math

import nir
import numpy as np

from snncli.core.program import conv_output_hw, pair
from snncli.errors import SnnCliError
from snncli.hwsim.synapses import pool2d_table
from snncli.nirgraph.check import GraphNode, conv_padding
from snncli.targets.loihi.stages import Stage, Synapse

SUPPORTED = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Flatten,
             nir.LIF, nir.IF, nir.CubaLIF)  # fmt: skip
_NEURONS = (nir.LIF, nir.IF, nir.CubaLIF)
_SYNAPSES = (nir.Affine, nir.Linear, nir.Conv2d)
_FOLDABLE = (nir.SumPool2d, nir.AvgPool2d, nir.Flatten)


def build_stages(order: tuple[GraphNode, ...], dt: float, preset: str, warnings: list[str]):
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

    stages: list[Stage] = []
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
        why = (
            "a non-spiking leaky integrator has no Loihi CUBA LIF equivalent that netx can read out (netx reads spikes)"
        )
    elif isinstance(node, (nir.Scale, nir.Threshold)):
        why = "netx has no block for an elementwise scale or threshold"
    elif isinstance(node, nir.NIRGraph):
        why = "nested graphs are not supported"
    else:
        why = "netx (lava-dl) has no layer for it"
    return f"the loihi target cannot lower node {g.name!r} ({kind}): {why}"


def _trace_synapse(s: GraphNode, nodes: dict[str, GraphNode], consumers) -> Synapse:
    """Walk back from a synapse through Flatten/pool nodes to its Input/neuron source, folding them in."""
    sources = [*s.inputs, *s.delayed_inputs]
    if len(sources) != 1:
        raise SnnCliError(f"synapse {s.name!r} sums {len(sources)} inputs; on Loihi (netx) a synapse reads one layer")
    chain: list[GraphNode] = []
    src = nodes[sources[0]]
    while isinstance(src.node, _FOLDABLE):
        ups = [*src.inputs, *src.delayed_inputs]
        if len(ups) != 1 or len(consumers[src.name]) != 1:
            raise SnnCliError(
                f"node {src.name!r} ({type(src.node).__name__}) must sit in a chain (one input, one consumer)"
            )
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
                (kh, kw), stride, pad = (
                    pair(c.node.kernel_size, "kernel", 1),
                    pair(c.node.stride, "stride", 1),
                    pair(c.node.padding, "padding", 0),
                )
                table = pool2d_table(c.in_shape, c.out_shape, (kh, kw), stride, pad, isinstance(c.node, nir.AvgPool2d))
                weight = np.asarray(table @ weight.T).T  # [n_out, n_in of the pool]
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if isinstance(node, nir.Affine) else None
        n_src = int(np.prod(src.out_shape))
        if weight.shape[1] != n_src:
            raise SnnCliError(
                f"synapse {s.name!r}: folded weight has {weight.shape[1]} columns, source {src.name!r} has {n_src} outputs"
            )
        out = (weight.shape[0],)
        return Synapse(s.name, src.name, "dense", weight, _nonzero(bias), tuple(src.out_shape), out, None, folded)
    # Conv2d
    weight = np.asarray(node.weight, dtype=np.float64)
    stride = pair(node.stride, "stride", 1)
    padding = conv_padding(node, weight.shape[2:])
    dilation = pair(node.dilation, "dilation", 1)
    pool = 1
    for c in chain:
        if isinstance(c.node, nir.Flatten):
            raise SnnCliError(f"Conv2d {s.name!r} reads a Flatten ({c.name!r}); netx convolutions take C,H,W maps")
        (kh, kw), (sy, sx) = pair(c.node.kernel_size, "kernel", 1), pair(c.node.stride, "stride", 1)
        py, px = pair(c.node.padding, "padding", 0)
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
    out = (int(weight.shape[0]), *conv_output_hw(src_shape[1:], weight.shape[2:], stride, padding, dilation))
    if out != tuple(s.out_shape):
        raise SnnCliError(f"internal: folding into {s.name!r} gives shape {out}, expected {s.out_shape}")
    bias = None
    if node.bias is not None and np.any(np.asarray(node.bias) != 0):
        bias = np.repeat(np.asarray(node.bias, dtype=np.float64).reshape(-1), out[1] * out[2])
    return Synapse(s.name, src.name, "conv2d", weight, bias, src_shape, out, conv, folded, pool)


def _nonzero(bias):
    return bias if bias is not None and np.any(bias != 0) else None


def _uniform(g: GraphNode, key: str) -> float:
    value = g.param(key)
    if not np.all(value == value.flat[0]):
        raise SnnCliError(f"node {g.name!r}: Lava's LIF takes one {key} per layer, this one varies across neurons")
    return float(value.flat[0])


def _neuron_stage(g: GraphNode, synapses: list[Synapse], dt: float, preset: str, warnings: list[str]) -> Stage:
    node, shape = g.node, tuple(g.out_shape)
    kind = type(node).__name__
    mode = g.reset_mode()
    if mode != "zero":
        raise SnnCliError(
            f"node {g.name!r} ({kind}) resets by {mode}: Loihi's LIF (Lava, netx CUBA) resets to 0, not by "
            "subtraction; retrain with reset 'zero' or target the float/speck backends"
        )
    if node.v_reset is not None and np.any(np.asarray(node.v_reset) != 0):
        raise SnnCliError(f"node {g.name!r} ({kind}): Loihi's LIF resets to 0; v_reset must be 0")
    r = g.param("r").reshape(-1)
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
        gain, leak = a * r, a * g.param("v_leak").reshape(-1)
    bias_gain = gain
    if isinstance(node, nir.CubaLIF):
        if preset == "nir-paper":
            raise SnnCliError("the nir-paper preset covers LIF and IF nodes (paper/nir_to_lava.py); use preset='auto'")
        b = dt / _uniform(g, "tau_syn")
        if not 0 < b <= 1:
            raise SnnCliError(f"node {g.name!r}: dt/tau_syn = {b:g} must lie in (0, 1] for a 12-bit Loihi decay")
        w_in = g.param("w_in").reshape(-1)
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
                raise SnnCliError(
                    f"node {g.name!r}: r (or w_in) varies within a channel; a convolution shares its weights"
                )
    return Stage(g.name, kind, shape, synapses, 0, a, b, gain, bias_f, v_th)
