"""Loihi 2 CUBA LIF neuron and Dense synapse in Lava's bit-accurate integer arithmetic.

Pure numpy (int64 internally) re-implementations of two Lava ProcessModels, rule
for rule, so that hwsim reproduces Lava's ``Loihi2SimCfg(select_tag="fixed_pt")``
spike for spike and voltage for voltage.  Sources (lava-nc 0.10.0):

* neuron:  ``lava/proc/lif/models.py``  ``AbstractPyLifModelFixed`` (``subthr_dynamics``,
  ``scale_bias``, ``run_spk``) + ``PyLifModelBitAcc`` (``scale_threshold``,
  ``spiking_activation``).
* synapse: ``lava/proc/dense/models.py`` ``AbstractPyDenseModelBitAcc.run_spk`` with
  ``lava/utils/weightutils.py`` ``determine_sign_mode``/``clip_weights``/``truncate_weights``.

Neuron parameters (:class:`LoihiCuba`) are Lava ``LIF`` process parameters (integers)::

    du, dv      12-bit unsigned decays (0..4095), in 1/4096 per step
    vth         threshold mantissa (17-bit unsigned)
    bias_mant   13-bit signed bias mantissa,  bias_exp  its exponent

One step, all integers (``a`` = this step's synaptic input, an int32 message)::

    a  = wrap(a, in_wrap_bits)                  (only if the layer has in_wrap_bits: Conv)
    bias_eff = bias_mant << bias_exp            (>> -bias_exp if bias_exp < 0)
    u  = sgn(u*(4096-(du+1))) * (|u*(4096-(du+1))| >> 12)    # ds_offset = 1
    u  = i32(u + i32(a << 6))                                 # act_shift = 6
    u  = u - 2**24 if u > 2**23 else (u + 2**24 if u <= -2**23 else u)  # wrap once
    v  = sgn(v*(4096-dv)) * (|v*(4096-dv)| >> 12)             # dm_offset = 0
    v  = clip(i32(v + u + bias_eff), -(2**23-1), 2**23-1)
    s  = v > (vth << 6)                                       # vth_shift = 6
    v[s] = 0                                                  # u is NOT reset

``reset_step`` (optional layer parameter, int d): ``u = v = 0`` at the start of step d
of every sample run (0-based), before anything else; the state then carries a step
counter ``t``.  This is Lava's ``LIFReset`` (``PyLifResetModelBitAcc``: ``if time_step %
reset_interval == reset_offset: u *= 0; v *= 0``) as ``netx.hdf5.Network(...,
reset_interval=T, reset_offset=1)`` configures it: block i (depth d = i + 1) resets
when its sample's first input arrives, one step per synapse stage later than the
block before it, so no bias integrated before that step is carried into the sample.

``i32`` is two's-complement wrapping to 32 bits, as numpy int32 arithmetic in Lava
does (only reachable with enormous inputs).  ``in_wrap_bits`` (optional layer
parameter, 24 for layers fed by a Lava ``Conv``): ``PyConvModelFixed`` wraps its
output to signed 24 bits (``lava.proc.conv.utils.signed_clamp``: ``(x + 2**23) %
2**24 - 2**23``) before sending it; a Dense sends its int32 sum unchanged.

So du = 4095 means no current is carried over (decay factor 0), du = 0 keeps
4095/4096 of it; dv = 0 means no leak.  The step function skips a wrap or a decay
only where it is provably the identity (values already in range, decay factor 0 or
4096), so it stays bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncli.core.compiled import specialise
from snncli.core.program import NeuronModel, array
from snncli.errors import SnnCliError

UV_BITS = 24  # AbstractPyLifModelFixed.uv_bitwidth
MAX_UV = 1 << (UV_BITS - 1)  # 2**23, .max_uv_val
DECAY_SHIFT = 12  # .decay_shift, decays in units of 1/4096
DECAY_UNITY = 1 << DECAY_SHIFT
VTH_SHIFT = 6  # .vth_shift: threshold MSB-aligned by 6 bits
ACT_SHIFT = 6  # .act_shift: synaptic input MSB-aligned by 6 bits
DS_OFFSET = 1  # current decay offset (du + 1): du = 4095 decays fully
DM_OFFSET = 0  # voltage decay offset


@dataclass(frozen=True, eq=False)
class LoihiCuba:
    """One Loihi 2 CUBA LIF layer's integer parameters (equations in the module docstring).

    ``du``, ``dv`` 12-bit decays; ``vth`` threshold mantissa; ``bias_mant`` [layer shape]
    with ``bias_exp``; ``reset_step``: ``u = v = 0`` at that step (Lava ``LIFReset``);
    ``in_wrap_bits``: the feeding Conv wraps its output to this many bits.
    """

    model: ClassVar[str] = "loihi_cuba"
    multi_spike: ClassVar[bool] = False  # one spike per neuron and step (NeuronModel: hwsim counts them as written)
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: int = 6
    reset_step: int | None = None
    in_wrap_bits: int | None = None

    def __post_init__(self):
        for key in ("du", "dv"):
            if not 0 <= int(getattr(self, key)) <= 4095:
                raise SnnCliError(f"loihi_cuba {key} must be a 12-bit decay in 0..4095, got {getattr(self, key)}")
        for key in ("du", "dv", "vth", "bias_exp"):
            object.__setattr__(self, key, int(getattr(self, key)))
        bias = array(self.bias_mant, "loihi_cuba bias_mant")
        if not np.array_equal(bias, np.round(bias)):
            raise SnnCliError("loihi_cuba bias_mant must hold integers")
        object.__setattr__(self, "bias_mant", bias.astype(np.int64))
        for key in ("reset_step", "in_wrap_bits"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, int(getattr(self, key)))


def i32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 two's complement, kept in int64."""
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _decay(x: np.ndarray, decay_const) -> np.ndarray:
    """``sign(x*(4096-d)) * (|x*(4096-d)| >> 12)``: truncation toward zero
    (AbstractPyLifModelFixed.subthr_dynamics)."""
    factor = DECAY_UNITY - np.asarray(decay_const, dtype=np.int64)
    if factor.ndim == 0:  # exact shortcuts: full decay and no decay
        if factor == 0:
            return np.zeros_like(x)
        if factor == DECAY_UNITY:
            return x
    prod = x * factor
    return np.sign(prod) * (np.abs(prod) >> DECAY_SHIFT)


def signed_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """``lava.proc.conv.utils.signed_clamp``: two's-complement wrap to ``bits`` bits."""
    x = np.asarray(x, dtype=np.int64)
    half = 1 << (int(bits) - 1)
    if x.size and -half <= x.min() and x.max() < half:
        return x  # already in range: the wrap is the identity
    return (x + half) % (2 * half) - half


def effective_bias(bias_mant, bias_exp) -> np.ndarray:
    """AbstractPyLifModelFixed.scale_bias: ``mant << exp`` or ``mant >> -exp`` (floor)."""
    mant = np.asarray(bias_mant, dtype=np.int64)
    exp = np.asarray(bias_exp, dtype=np.int64)
    return i32(np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0)))


NON_INTEGER_INPUT = (
    "a Loihi neuron layer received non-integer synaptic input: the program was lowered for "
    "binary spikes but got analog values; lower it with calibration data (or a graph whose "
    "metadata names the 'direct' encoder) so that its input layer quantizes them as graded spikes"
)


def loihi_cuba_init(shape, batch: int, params: LoihiCuba) -> dict[str, np.ndarray]:
    """Zero current ``u`` and voltage ``v`` (Lava LIF defaults u=0, v=0), int64 [B, *shape];
    plus the step counter ``t`` (0-d) when the layer has ``reset_step``."""
    full = (int(batch), *tuple(shape))
    state = {"u": np.zeros(full, dtype=np.int64), "v": np.zeros(full, dtype=np.int64)}
    if params.reset_step is not None:
        state["t"] = np.zeros((), dtype=np.int64)
    return state


def loihi_cuba_step(state: dict[str, np.ndarray], x: np.ndarray, params: LoihiCuba):
    """One Loihi CUBA LIF step (equations in the module docstring).

    ``x`` is the integer synaptic input ``a_in`` this step ([B, *shape]).  Returns ``(new_state, spikes)`` with int64 0/1 spikes.
    """
    x = np.asarray(x)
    if x.dtype.kind == "f" and (not np.all(np.isfinite(x)) or not np.array_equal(x, np.round(x))):
        raise SnnCliError(NON_INTEGER_INPUT)
    a = x if x.dtype == np.int64 else x.astype(np.int64)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo < -(1 << 31) or hi >= 1 << 31:  # the a_in message is int32 (PyDenseModelBitAcc.a_out)
        a = i32(a)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if params.in_wrap_bits is not None:  # PyConvModelFixed: signed_clamp(a, 24)
        half = 1 << (params.in_wrap_bits - 1)
        if lo < -half or hi >= half:
            a = signed_wrap(a, params.in_wrap_bits)
            lo, hi = int(a.min()), int(a.max())
    u, v = state["u"], state["v"]
    t = state.get("t")
    if t is not None and int(t) == params.reset_step:  # LIFReset: u = v = 0 before integrating
        u, v = np.zeros_like(u), np.zeros_like(v)
    # current: decay (du + ds_offset), add input << act_shift (int32), wrap once at 24 bits
    u = _decay(u, params.du + DS_OFFSET)
    u = u + (a << ACT_SHIFT)  # int64: exact; i32(u + i32(a << 6)) == i32(u + (a << 6)) (mod 2**32)
    if u.size and (u.max() >= 1 << 31 or u.min() < -(1 << 31)):
        u = i32(u)
    if u.size and (u.max() > MAX_UV or u.min() <= -MAX_UV):
        u = np.where(u > MAX_UV, u - 2 * MAX_UV, np.where(u <= -MAX_UV, u + 2 * MAX_UV, u))
    # voltage: decay (dv + dm_offset), add current and bias (int32), saturate at 24 bits
    v = _decay(v, params.dv + DM_OFFSET)
    bias = effective_bias(params.bias_mant, params.bias_exp)
    v = v + u + bias
    if v.size and (v.max() >= 1 << 31 or v.min() < -(1 << 31)):  # int32 wrap (an identity inside the range)
        v = i32(v)
    v = np.clip(v, -MAX_UV + 1, MAX_UV - 1)
    # PyLifModelBitAcc.spiking_activation: strict v > vth << 6; reset_voltage: v = 0
    spikes = v > (params.vth << VTH_SHIFT)
    v = np.where(spikes, 0, v)
    new = {"u": u, "v": v}
    if t is not None:
        new["t"] = np.asarray(int(t) + 1, dtype=np.int64)
    return new, spikes.astype(np.int64)


# ----------------------------------------------------------------- synapse
def dense_effective_weights(weights, num_weight_bits: int = 8, sign_mode: str | None = None) -> np.ndarray:
    """The integer weights Lava's PyDenseModelBitAcc really uses (first run_spk).

    sign mode (weightutils.determine_sign_mode): excitatory if min >= 0, else
    inhibitory if max <= 0, else mixed.  clip_weights(num_bits=8): mixed
    [-256, 255], excitatory [0, 255], inhibitory -clip(-w, 0, 255).
    truncate_weights: drop ``8 - num_weight_bits + mixed`` low bits (arithmetic
    shift, on -w for inhibitory).  Note: mixed weights at full 8 bits lose their
    lowest bit (odd values become even, rounded down).
    """
    w = np.asarray(weights, dtype=np.int64)
    if sign_mode is None:
        sign_mode = "excitatory" if w.min(initial=0) >= 0 else ("inhibitory" if w.max(initial=0) <= 0 else "mixed")
    mixed = int(sign_mode == "mixed")
    sign = -1 if sign_mode == "inhibitory" else 1
    w = sign * w
    w = np.clip(w, -256 * mixed, 255)
    drop = 8 - int(num_weight_bits) + mixed
    w = (w >> drop) << drop
    return sign * w


def dense_accumulate(weights_eff: np.ndarray, spikes: np.ndarray, weight_exp: int = 0) -> np.ndarray:
    """PyDenseModelBitAcc: ``a = sum of weights of active inputs``, then ``a << e``
    (``e > 0``) or ``a >> -e`` (floor), sent as an int32 message.

    Timing (run_spk sends ``a_buff`` *before* receiving ``s_in``): the value sent at
    step t was computed from the spikes of step t-1, i.e. every Dense adds exactly
    one step of delay; the LIF it feeds integrates ``W s(t-1)`` at step t.
    ``spikes`` [B, in] binary; returns int64 [B, out].
    """
    s = (np.asarray(spikes) != 0).astype(np.int64)
    acc = s @ np.asarray(weights_eff, dtype=np.int64).T
    acc = acc << weight_exp if weight_exp > 0 else acc >> (-weight_exp)
    return i32(acc)


# ----------------------------------------------------------------- the neuron over a time window, compiled
def _cuba_kernel(in_half: int, record: bool):
    """:func:`loihi_cuba_step` over ``a_in [T, batch, n]`` (float64 holding integers), neuron by neuron, in int64:
    the same rules, each wrap or saturation applied where the value leaves its range (elsewhere the
    identity, as the step's whole-array shortcuts assume).  ``in_half``: ``2**(in_wrap_bits - 1)`` (0: no
    Conv wrap); ``reset_at``: the window step at which ``u = v = 0`` (-1: none).  Returns whether some input
    was not a finite integer (then nothing it computed means anything).  ``ptr``: ``ptr[r + 1] = ptr[r] +
    (neurons that fired in row r = t * batch + b)``, the consumer's event rows."""
    half32 = 1 << 31

    def kernel(a_in, u, v, du_factor, dv_factor, bias, vth, reset_at, out, ptr, rec_u, rec_v):
        bad = False
        ptr[0] = 0
        for t in range(a_in.shape[0]):
            for b in range(a_in.shape[1]):
                events = 0
                for k in range(a_in.shape[2]):
                    x = a_in[t, b, k]
                    bad |= x != np.floor(x) or x - x != 0.0
                    a = np.int64(x)
                    if a < -half32 or a >= half32:  # the a_in message is int32
                        a = (a + half32) % (2 * half32) - half32
                    if in_half > 0 and (a < -in_half or a >= in_half):  # PyConvModelFixed: signed_clamp(a, 24)
                        a = (a + in_half) % (2 * in_half) - in_half
                    uu = u[b, k]
                    vv = v[b, k]
                    if t == reset_at:  # LIFReset
                        uu = 0
                        vv = 0
                    prod = uu * du_factor
                    uu = (np.abs(prod) >> DECAY_SHIFT) * np.sign(prod)
                    uu = uu + (a << ACT_SHIFT)
                    if uu < -half32 or uu >= half32:
                        uu = (uu + half32) % (2 * half32) - half32
                    if uu > MAX_UV:
                        uu = uu - 2 * MAX_UV
                    elif uu <= -MAX_UV:
                        uu = uu + 2 * MAX_UV
                    prod = vv * dv_factor
                    vv = (np.abs(prod) >> DECAY_SHIFT) * np.sign(prod)
                    vv = vv + uu + bias[k]
                    if vv < -half32 or vv >= half32:
                        vv = (vv + half32) % (2 * half32) - half32
                    vv = min(max(vv, -MAX_UV + 1), MAX_UV - 1)
                    fired = vv > vth
                    vv = 0 if fired else vv
                    u[b, k] = uu
                    v[b, k] = vv
                    out[t, b, k] = 1.0 if fired else 0.0
                    events += fired
                    if record:
                        rec_u[t, b, k] = uu
                        rec_v[t, b, k] = vv
                r = t * a_in.shape[1] + b
                ptr[r + 1] = ptr[r] + events
        return bad

    return kernel


_cuba_window = specialise(_cuba_kernel)


def loihi_cuba_window(
    state: dict,
    x: np.ndarray,
    params: LoihiCuba,
    record: bool = False,
    out: np.ndarray | None = None,
    events: np.ndarray | None = None,
):
    """:func:`loihi_cuba_step` over every step of ``x [T, batch, *shape]``, compiled (``NeuronModel.window``);
    states recorded as int32 (24-bit on the chip); ``out``: a float64 array of ``x``'s shape for the spikes;
    ``events``: int64 ``[T * batch + 1]`` to receive where each row's spikes start."""
    steps, batch, *shape = x.shape
    n = int(np.prod(shape, dtype=np.int64))
    xs = np.ascontiguousarray(x, dtype=np.float64).reshape(steps, batch, n)
    u = np.array(state["u"], dtype=np.int64).reshape(batch, n)
    v = np.array(state["v"], dtype=np.int64).reshape(batch, n)
    bias = np.ascontiguousarray(np.broadcast_to(effective_bias(params.bias_mant, params.bias_exp), shape)).reshape(n)
    t0 = int(state["t"]) if "t" in state else None
    reset_at = params.reset_step - t0 if t0 is not None and 0 <= params.reset_step - t0 < steps else -1
    in_half = 1 << (params.in_wrap_bits - 1) if params.in_wrap_bits is not None else 0
    out = np.empty((steps, batch, n)) if out is None else out.reshape(steps, batch, n)
    rec = [np.empty((steps, batch, n) if record else (0, 0, 0), dtype=np.int32) for _ in range(2)]
    kernel = _cuba_window(in_half, bool(record))
    if kernel(
        xs,
        u,
        v,
        DECAY_UNITY - (params.du + DS_OFFSET),
        DECAY_UNITY - (params.dv + DM_OFFSET),
        bias,
        params.vth << VTH_SHIFT,
        reset_at,
        out,
        np.empty(steps * batch + 1, dtype=np.int64) if events is None else events,
        *rec,
    ):
        raise SnnCliError(NON_INTEGER_INPUT)
    full = (batch, *shape)
    new = {"u": u.reshape(full), "v": v.reshape(full)}
    if t0 is not None:
        new["t"] = np.asarray(t0 + steps, dtype=np.int64)
    records = {"u": rec[0].reshape(steps, *full), "v": rec[1].reshape(steps, *full)} if record else None
    return new, out.reshape(steps, *full), records


MODEL = NeuronModel(LoihiCuba, loihi_cuba_init, loihi_cuba_step, window=loihi_cuba_window)
