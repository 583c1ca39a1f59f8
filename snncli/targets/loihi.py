"""The ``loihi`` target: NIR -> Program in Loihi 2 fixed point (Lava's CUBA LIF + Dense).

Lowering (draft; Input, Output, Affine, Linear, LIF, IF, CubaLIF):

* Every Affine/Linear node becomes a ``dense`` layer of integer weights that must
  feed exactly one neuron node; the neuron node becomes a ``neuron`` layer with
  ``neuron="loihi_cuba"`` and Lava ``LIF`` parameters ``du, dv, vth, bias_mant,
  bias_exp`` (see :mod:`snncli.hwsim.loihi_neuron` for the integer equations).
* Timing: in Lava every Dense sends ``W s(t-1)`` (PyDenseModelBitAcc.run_spk sends
  its buffer before reading its input), so every dense layer reads its source
  through ``delayed_inputs`` (one step), feed-forward and recurrent alike; neuron
  layers read their dense layers in the same step.  Execution order: inputs, all
  dense layers, neurons, outputs.
* Scaling: a neuron layer's float voltage ``v`` maps to Lava's integer ``v`` by a
  per-layer factor ``S`` (``v_int = S v``; ``program.scales[name]``).  With
  ``a = dt/tau_mem``, ``b = dt/tau_syn``, forward Euler gives, per step,

      LIF      v_int += (a r S)       (W x) + a S v_leak   -> weights  W_q = (S/64) a r W
      IF       v_int += (dt r S)      (W x)                -> weights  W_q = (S/64) dt r W
      CubaLIF  u_int  = (1-b) u_int + (a r b w_in S) (W x) -> weights  W_q = (S/64) a r b w_in W

  (the 64 is Lava's ``a_in << 6``), ``vth = S v_threshold / 64`` (Lava compares
  ``v > vth << 6``), ``dv = 4096 a`` (0 for IF), ``du = 4096 b - 1`` (CubaLIF; 4095,
  i.e. no current memory, for LIF and IF), Affine bias and ``v_leak`` go into
  ``bias_mant`` with ``bias_exp = 6`` (the exponent netx fixes).
* Presets: ``auto`` picks, per layer, the largest ``S`` that keeps every weight in
  [-255, 254] (the range netx's weight optimizer and Lava's Dense pass unchanged),
  ``vth`` within 17 bits and ``bias_mant`` within 13 bits, and rounds to nearest.
  ``nir-paper`` reproduces the NIR paper's Lava importer (``paper/nir_to_lava.py``,
  notebook ``paper/01_lif/lif_sim_lava.ipynb``): ``S = 256 * 64``, truncating
  ``int()``, ``du = 4095``, ``dv = int(4095 a)``, ``vth = int(v_threshold *
  131071) >> 9``, weights ``int(256 a r w)``.  The importer itself puts the Affine
  and the LIF's input scaling in two Dense processes in series (which binarizes the
  Affine output and adds a step); the paper's published trace was made with a single
  Dense, which is what folding the Affine into the LIF's synapse gives, here for
  LIF and IF nodes.
"""

from __future__ import annotations

import nir
import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.graph import GraphNode, ordered_nodes, param
from snncli.targets.program import Layer, Program

NAME = "loihi"
DEFAULT_DT = 1e-4
PRESETS = ("auto", "nir-paper")
W_MAX, W_MIN = 254, -255  # weights netx + PyDenseModelBitAcc keep bit for bit
VTH_MAX = (1 << 17) - 1  # PyLifModelBitAcc: vth unsigned 17 bits
BIAS_MANT_MAX = (1 << 12) - 1  # 13-bit signed bias mantissa
BIAS_EXP = 6  # netx's get_neuron_params fixes bias_exp = 6
NEURON = "loihi_cuba"
SUPPORTED = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.LIF, nir.IF, nir.CubaLIF)


def lower(graph: nir.NIRGraph, dt: float = DEFAULT_DT, preset: str = "auto") -> Program:
    """Lower ``graph`` to a Loihi 2 fixed-point Program (see the module docstring)."""
    if preset not in PRESETS:
        raise SnnCliError(f"unknown Loihi scaling preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not dt > 0:
        raise SnnCliError(f"dt must be positive, got {dt}")
    order = ordered_nodes(graph)
    nodes = {g.name: g for g in order}
    for g in order:
        if not isinstance(g.node, SUPPORTED):
            raise SnnCliError(f"the loihi target cannot lower node {g.name!r} of type {type(g.node).__name__} yet")
    consumers: dict[str, list[GraphNode]] = {g.name: [] for g in order}
    for g in order:
        for src in (*g.inputs, *g.delayed_inputs):
            consumers[src].append(g)

    inputs, dense, neurons, outputs = [], [], [], []
    scales: dict[str, float] = {}
    for g in order:
        node = g.node
        sources = [*g.inputs, *g.delayed_inputs]
        if isinstance(node, nir.Input):
            inputs.append(Layer(g.name, "input", g.in_shape, g.out_shape))
        elif isinstance(node, nir.Output):
            bad = [s for s in sources if not _is_neuron(nodes[s].node)]
            if bad:
                raise SnnCliError(f"Output {g.name!r} reads {bad[0]!r}: on Loihi only neuron layers can be outputs")
            outputs.append(Layer(g.name, "output", g.in_shape, g.out_shape, inputs=sources))
        elif _is_neuron(node):
            synapses = [nodes[s] for s in sources]
            for s in synapses:
                if not isinstance(s.node, (nir.Affine, nir.Linear)):
                    raise SnnCliError(
                        f"neuron {g.name!r} is fed by {s.name!r} ({type(s.node).__name__}); on Loihi a neuron "
                        "layer's input must come through a synapse (Affine/Linear)"
                    )
                users = consumers[s.name]
                if len(users) != 1:
                    raise SnnCliError(f"synapse {s.name!r} feeds {len(users)} nodes; on Loihi it must feed one neuron layer")
            params, weights, scale = _quantize(g, synapses, dt, preset)
            scales[g.name] = scale
            for s in synapses:
                dense.append(
                    Layer(
                        s.name,
                        "dense",
                        s.in_shape,
                        s.out_shape,
                        delayed_inputs=[*s.inputs, *s.delayed_inputs],
                        params={"weight": weights[s.name], "weight_exp": 0},
                    )
                )
            neurons.append(Layer(g.name, "neuron", g.in_shape, g.out_shape, inputs=sources, params=params, neuron=NEURON))
        elif not consumers[g.name] or not _is_neuron(consumers[g.name][0].node):
            raise SnnCliError(f"synapse {g.name!r} must feed a neuron node (LIF, IF or CubaLIF) on Loihi")
    layers = inputs + dense + neurons + outputs
    return Program(
        target=NAME,
        dt=dt,
        layers=layers,
        scales=scales,
        resources=_resources(dense, neurons),
        metadata={
            "preset": preset,
            "timing": "every dense layer delays its input by one step (Lava Dense), neurons read it the same step",
            "scales": "v_int = scale * v_float per neuron layer",
        },
    )


def _is_neuron(node) -> bool:
    return isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF))


def _uniform(g: GraphNode, key: str) -> float:
    value = param(g.node, key, g.out_shape)
    if not np.all(value == value.flat[0]):
        raise SnnCliError(f"node {g.name!r}: Lava's LIF takes one {key} per layer, this one varies across neurons")
    return float(value.flat[0])


def _quantize(g: GraphNode, synapses: list[GraphNode], dt: float, preset: str):
    """Integer LIF parameters, integer weights per synapse and the layer's scale S."""
    node, shape = g.node, g.out_shape
    if node.v_reset is not None and np.any(np.asarray(node.v_reset) != 0):
        raise SnnCliError(f"node {g.name!r}: Loihi's LIF resets to 0; v_reset must be 0")
    if (node.metadata or {}).get("reset_mode", "zero") not in ("zero", b"zero"):
        raise SnnCliError(f"node {g.name!r}: Loihi's LIF resets to 0, not by subtraction")
    r = param(node, "r", shape)
    v_th = _uniform(g, "v_threshold")
    if v_th <= 0:
        raise SnnCliError(f"node {g.name!r}: v_threshold must be positive on Loihi, got {v_th}")
    if isinstance(node, nir.IF):
        a, gain, leak = 0.0, dt * r, np.zeros(shape)
    else:
        a = dt / _uniform(g, "tau_mem" if isinstance(node, nir.CubaLIF) else "tau")
        gain, leak = a * r, a * param(node, "v_leak", shape)
    b = None
    if isinstance(node, nir.CubaLIF):
        b = dt / _uniform(g, "tau_syn")
        gain = gain * b * param(node, "w_in", shape)
        if preset == "nir-paper":
            raise SnnCliError("the nir-paper preset covers LIF and IF nodes (paper/nir_to_lava.py); use preset='auto'")
    # per-synapse float weight (v units per input spike), bias in v units per step
    wf = {s.name: gain.reshape(-1, 1) * np.asarray(s.node.weight, dtype=np.float64) for s in synapses}
    bias_f = leak.reshape(-1).copy()
    for s in synapses:
        if isinstance(s.node, nir.Affine) and np.any(np.asarray(s.node.bias) != 0):
            if b is not None:
                raise SnnCliError(f"CubaLIF {g.name!r}: Lava adds the bias to v, not to the current; Affine bias unsupported")
            bias_f = bias_f + (gain.reshape(-1) * np.asarray(s.node.bias, dtype=np.float64).reshape(-1))
    if preset == "nir-paper":
        scale = 256.0 * 64.0
        weights = {k: np.trunc(256.0 * w).astype(np.int64) for k, w in wf.items()}
        dv, du = int(4095 * a), 4095
        vth = int(v_th * 131071) >> 9
        bias = np.trunc(scale * bias_f / 64.0).astype(np.int64)  # v += mant << 6
    else:
        wmax = max((np.abs(w).max(initial=0.0) for w in wf.values()), default=0.0)
        limits = [64.0 * VTH_MAX / v_th]
        if wmax > 0:
            limits.append(64.0 * W_MAX / wmax)
        if np.abs(bias_f).max(initial=0.0) > 0:
            limits.append(64.0 * BIAS_MANT_MAX / np.abs(bias_f).max())
        scale = float(min(limits))
        weights = {k: np.clip(np.round(scale / 64.0 * w), W_MIN, W_MAX).astype(np.int64) for k, w in wf.items()}
        dv = int(np.clip(np.round(4096 * a), 0, 4095))
        du = 4095 if b is None else int(np.clip(np.round(4096 * b) - 1, 0, 4095))
        vth = int(np.clip(np.round(scale * v_th / 64.0), 0, VTH_MAX))
        bias = np.round(scale * bias_f / 64.0).astype(np.int64)  # v += mant << 6
    if np.abs(bias).max(initial=0) > BIAS_MANT_MAX:
        raise SnnCliError(f"node {g.name!r}: bias does not fit Loihi's 13-bit mantissa at this scale")
    params = {"du": du, "dv": dv, "vth": vth, "bias_mant": bias.reshape(shape), "bias_exp": BIAS_EXP}
    return params, weights, scale


def _resources(dense: list[Layer], neurons: list[Layer]) -> dict:
    synapses = {d.name: int(np.count_nonzero(d.params["weight"])) for d in dense}
    return {
        "neurons": int(sum(n.size for n in neurons)),
        "synapses": int(sum(synapses.values())),
        "per_layer": {**{n.name: {"neurons": n.size} for n in neurons}, **{k: {"synapses": v} for k, v in synapses.items()}},
    }
