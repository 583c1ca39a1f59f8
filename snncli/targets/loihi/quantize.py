"""Loihi fixed point: a stage's float parameters -> Lava's integers at a scale ``q``.

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
    vth = floor(q v_threshold),  du = 4095 (no current memory) for LIF and IF

The threshold rounds down: NIR fires at ``v > v_threshold`` and Lava at ``v_int >
vth`` with an integer ``v_int``, and ``v_int > q v_threshold`` holds exactly when
``v_int > floor(q v_threshold)``.  A reading that fires at ``v >= v_threshold``
(SpikingJelly's) gets ``vth = ceil(q v_threshold) - 1``: ``v_int >= q v_threshold``
holds exactly when ``v_int > ceil(q v_threshold) - 1``.  So where the integer sums are exact (weights on
a lattice the scale maps to integers, e.g. after quantization-aware training, and
IF neurons) the Loihi layer fires exactly when the float one does.

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
* ``calibration`` given: the accuracy-driven search of
  :mod:`~snncli.targets.loihi.scale_search`.
* ``preset="nir-paper"``: the NIR paper's Lava importer (``paper/nir_to_lava.py``):
  ``S = 256 * 64``, truncating ``int()``, ``du = 4095``, ``dv = int(4095 a)``, ``vth
  = int(v_threshold * 131071) >> 9``, weights ``int(256 a r w)`` (LIF and IF only).
"""

from __future__ import annotations

import math

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.loihi.arithmetic import LoihiCuba
from snncli.targets.loihi.stages import Quantized, Stage, Synapse

W_MAX, W_MIN = 254, -255  # weights netx + PyDenseModelBitAcc keep bit for bit (tests/test_loihi.py)
VTH_MAX = (1 << 17) - 1  # PyLifModelBitAcc: vth unsigned 17 bits
BIAS_MANT_MAX = (1 << 12) - 1  # 13-bit signed bias mantissa (AbstractPyLifModelFixed.bias_mant)
BIAS_EXP = 6  # netx's Network.get_neuron_params fixes bias_exp = 6
A_MAX = (1 << 17) - 1  # |a| < 2**17 keeps a << 6 inside the 24-bit current u
CONV_WRAP_BITS = 24  # PyConvModelFixed: signed_clamp(a, 24)


def decays(st: Stage) -> tuple[int, int]:
    dv = int(np.clip(np.round(4096 * st.a), 0, 4095))
    du = 4095 if st.b is None else int(np.clip(np.round(4096 * st.b) - 1, 0, 4095))
    return du, dv


def float_weights(st: Stage, syn: Synapse, sigma: float) -> np.ndarray:
    """Float weight in v units per unit of (integer) source output."""
    if syn.op == "dense":
        return st.gain.reshape(-1, 1) * syn.weight / sigma
    per_channel = st.gain.reshape(st.shape[0], -1)[:, 0]
    return per_channel.reshape(-1, 1, 1, 1) * syn.weight / sigma


def hard_limit(st: Stage) -> float:
    """The largest q keeping vth (17 bits) and the bias mantissa (13 bits) in range."""
    limits = [VTH_MAX / st.v_th]
    bmax = float(np.abs(st.bias_f).max(initial=0.0))
    if bmax > 0:
        limits.append(BIAS_MANT_MAX / bmax)
    return min(limits)


def noclip_limit(st: Stage, sigma: dict[str, float]) -> float:
    wmax = max(float(np.abs(float_weights(st, s, sigma.get(s.source, 1.0))).max(initial=0.0)) for s in st.synapses)
    return W_MAX / wmax if wmax > 0 else math.inf


def rule_scale(st: Stage, sigma: dict[str, float], x_max: float) -> float:
    """Deterministic q: no clipping, and no 24-bit overflow for ANY input (worst case)."""
    worst = np.zeros(st.size)
    for s in st.synapses:
        unit = x_max if s.source in sigma else 1.0  # the (float) input's largest value; spikes are 1
        wf = float_weights(st, s, 1.0)  # v units per unit of float source value
        if s.op == "dense":
            pos, neg = np.clip(wf, 0, None).sum(1), np.clip(-wf, 0, None).sum(1)
        else:
            pos, neg = _conv_worst(wf, s)
        worst = worst + np.maximum(pos, neg) * unit
    limits = [hard_limit(st), noclip_limit(st, sigma)]
    wmax = float(worst.max(initial=0.0))
    if wmax > 0:
        du, _ = decays(st)
        limits.append(A_MAX * (du + 1) / 4096 / wmax)
    q = min(limits)
    if not math.isfinite(q):
        q = VTH_MAX / st.v_th
    return q


def integer_worst(st: Stage, quant: Quantized, levels: dict[str, int]) -> float:
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


def rule_input_scale(st: Stage, x_max: float) -> float:
    """Graded input scale without calibration: the worst-case bound fixes the product of
    weight levels and input levels (``W_q x_q`` summed must stay below 2**17); share it
    evenly between them (at most 255 input levels)."""
    wf = float_weights(st, st.ff, 1.0)
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


def _conv_worst(wf: np.ndarray, s: Synapse) -> tuple[np.ndarray, np.ndarray]:
    """Per output neuron, the sums of positive and of negative weights over its receptive field (interior bound)."""
    per_co_pos = np.clip(wf, 0, None).reshape(wf.shape[0], -1).sum(1)
    per_co_neg = np.clip(-wf, 0, None).reshape(wf.shape[0], -1).sum(1)
    n = int(np.prod(s.out_shape[1:]))
    return np.repeat(per_co_pos, n), np.repeat(per_co_neg, n)


def quantize_stage(st: Stage, q: float, sigma: dict[str, float]) -> Quantized:
    weights, clipped = {}, 0
    for s in st.synapses:
        w = np.round(q * float_weights(st, s, sigma.get(s.source, 1.0)))
        clipped += int(np.count_nonzero((w > W_MAX) | (w < W_MIN)))
        weights[s.name] = np.clip(w, W_MIN, W_MAX).astype(np.int64)
    du, dv = decays(st)
    if st.fire == ">=":  # 1e-12: q v_th = 3.0000000001 is 3
        vth = int(np.clip(math.ceil(q * st.v_th * (1 - 1e-12)) - 1, 0, VTH_MAX))
    else:  # 1e-12: q v_th = 2.9999999999 is 3
        vth = int(np.clip(math.floor(q * st.v_th * (1 + 1e-12)), 1, VTH_MAX))
    bias = np.clip(np.round(q * st.bias_f), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)
    params = LoihiCuba(
        du,
        dv,
        vth,
        bias.reshape(st.shape),
        BIAS_EXP,
        reset_step=int(st.depth),
        in_wrap_bits=CONV_WRAP_BITS if st.ff.op == "conv2d" else None,
    )
    return Quantized(float(q), weights, params, clipped)


def quantize_paper(st: Stage, dt: float) -> Quantized:
    """The NIR paper's importer constants (module docstring)."""
    weights = {s.name: np.trunc(256.0 * float_weights(st, s, 1.0)).astype(np.int64) for s in st.synapses}
    bias = np.trunc(256.0 * st.bias_f).astype(np.int64)
    if np.abs(bias).max(initial=0) > BIAS_MANT_MAX:
        raise SnnCliError(f"node {st.name!r}: bias does not fit Loihi's 13-bit mantissa at the paper's scale")
    params = LoihiCuba(
        4095,
        int(4095 * st.a),
        int(st.v_th * 131071) >> 9,
        bias.reshape(st.shape),
        BIAS_EXP,
        in_wrap_bits=CONV_WRAP_BITS if st.ff.op == "conv2d" else None,
    )
    return Quantized(256.0, weights, params, 0)
