r"""Speck (DynapCNN) integer arithmetic, as Sinabs models the chip.

Pure numpy; imports nothing from Sinabs.  Every rule below names the Sinabs
3.1.3 file and lines it comes from (paths relative to the installed package
``sinabs/``; the same lines are git tag ``v3.1.3`` of github.com/synsense/sinabs)
or the SynSense document that states it.  Sinabs is used here as a document and,
in :mod:`snncli.targets.speck.reference`, as an optional installed library; no
code of it is copied.

What one DynapCNN core computes
-------------------------------
A core ("layer") is ``conv -> integrate-and-fire -> sum pool``, in that order
(``backend/dynapcnn/dynapcnn_layer.py`` 55-75 and ``forward`` 149-172;
``docs/speck/the_basics.md`` "Model conversion to DYNAP-CNN core structure";
``docs/speck/overview.md`` "Internal Execution Order").  A ``Linear`` layer is the
same core with a kernel as large as its input map (``convert_linear_to_conv``,
``dynapcnn_layer.py`` 17-52): the same dot product, weights in C,H,W order.

Synapses (integers; counts are spikes per step, >= 0)::

    x[o, i, j] = sum_{c, u, v} W[o, c, u, v] * s[c, i*sy - py + u, j*sx - px + v]    (zero padding)

``W`` is 8-bit signed, [-128, 127] (``DYNAPCNN_WEIGHT_PRECISION_BITS = 8``,
``backend/dynapcnn/discretize.py`` 10 and 322-324; overview.md "Weight
resolution 8bit"); the config writes ``weights.int()`` (``chips/dynapcnn.py``
128-129).  A count ``k > 1`` (several spikes of one source in one step, see
MultiSpike below) contributes ``k * W``: on the chip those are ``k`` events, each
adding ``W`` once, so the sum is the same.

Sum pooling (``p`` in {1, 2, 4}, square, stride = kernel) is applied to a core's
output spikes on their way to a destination core (``chips/dynapcnn.py`` 172-190,
the destination's ``pooling``).  Sinabs models it as ``lp_pool2d(norm_type=1)``,
a plain sum over ``p x p`` windows with floor division of the map size
(``dynapcnn_layer.py`` 13-14, 160-167): trailing rows/columns that do not fill a
window are dropped.  Pooled counts add exactly (no width limit on the event path:
each spike stays one event).

Neuron, one time step, one neuron of output channel ``c`` (integers)::

    v   = v + x + b[c]                           b: per-channel bias ("leak"), if any
    v   = clip(v, state_min, state_max)          only if saturate (see "State width")
    n   = v // theta   if v >= theta  else 0     multi_spike (Sinabs' MultiSpike)
    n   = 1            if v >= theta  else 0     single spike (Sinabs' SingleSpike)
    v   = v - n * theta                          reset "subtract" (MembraneSubtract)
    v   = 0  where n > 0                         reset "zero"     (MembraneReset)
    v   = max(v, min_v_mem)                      floor, every step
    out = n

Sources, rule by rule:

* integrate: ``IAF`` is ``LIF`` with ``alpha_mem = 1`` and ``norm_input=False``
  (``layers/iaf.py`` 60-78); ``lif_forward_single`` adds the input to ``v_mem``
  (``layers/functional/lif.py`` 18-30; no ``tau_syn``: ``i_syn = input``).
* fire: ``MultiSpike.forward``: ``spikes = (v > 0) * trunc(v / theta)``
  (``activation/spike_generation.py`` 39-41), i.e. ``v // theta`` spikes once
  ``v >= theta > 0`` -- several spikes in one step; ``SingleSpike``:
  ``(v - theta >= 0)`` (same file, 122).  The firing rule is ``v >= theta``
  (``layers/iaf.py`` 16-22).  MultiSpike is IAF's default (``iaf.py`` 52) and the
  one SynSense recommends for the chip (``docs/speck/dangers.md`` "Spike generation
  function"; ``docs/speck/faqs/tips_for_training.md`` "Selection Of Spike Function").
* reset: ``MembraneSubtract``: ``v - spikes * theta``; ``MembraneReset``: ``v * (spikes
  == 0) + 0`` (``activation/reset_mechanism.py`` 26-46 and 5-23).  The config maps
  them to ``return_to_zero`` False/True (``chips/dynapcnn.py`` 147-155); the chip's
  default is subtraction (tips_for_training.md "The Reset Mechanism").
* floor: ``v = relu(v - min_v_mem) + min_v_mem`` after the reset
  (``layers/functional/lif.py`` 41-44).  The chip's ``threshold_low`` is
  ``min_v_mem``, or ``-2**15`` when the layer has none (``chips/dynapcnn.py``
  157-165); ``discretize`` always sets it (``discretize.py`` 254-259, 291-297), so
  every discretized DynapcnnLayer has a floor (``-32768`` by default).
* threshold: one per layer, ``threshold_high = int(spike_threshold)``
  (``chips/dynapcnn.py`` 164), 16-bit like the state (``discretize.py`` 11, 270-272).
* initial state: zero (``chips/dynapcnn.py`` 135-138 writes zeros when the
  layer's state is not initialised).

State width.  The chip's neuron state has 16 bits ("Neuron state resolution 16",
samna's Speck 2b feature list, synsense-sys-int.gitlab.io/samna/models/speckSeries/
speck2b.html; overview.md "16bit int for neuron state"; ``discretize.py`` 11).
**Sinabs does not model it**: ``v_mem`` is float32 and is never clipped or
wrapped, only floored at ``min_v_mem``.  What the chip does on overflow is not
stated in any SynSense document we could find; snncli's design takes it as
saturating (``saturate=True``, the default), ``saturate=False`` reproduces Sinabs.
The two agree whenever ``v + x + b`` stays within 16 bits, which a lowering can
guarantee (``|x| <= 127 * fan-in * max count``).

Bias and leak.  The bias is per output channel (samna ``CnnLayerConfig.biases``,
"Formatted as [feature]"); the config enables the leak unit when any bias is
non-zero (``chips/dynapcnn.py`` 130-131).  On the chip the bias is added to every
neuron "at every clock cycle" of the slow clock, which must be provided
(``docs/speck/notebooks/leak_neuron.ipynb`` cell 0; ``DynapcnnNetwork.to(...,
slow_clk_frequency)``, ``dynapcnn_network.py`` 361-365; samna speck2f
``CnnLayerConfig.leak_enable``: "A slow clk must be provided to SLOW_CLK pin").
Sinabs adds the conv bias once per time step (it is part of the conv output,
``dynapcnn_layer.py`` 157).  So a Sinabs time step reads as one slow-clock
period; on the chip the leak runs asynchronously to the events.  SynSense
discourages biases (``docs/speck/dangers.md``, "Biases/Leak are not encouraged").
Sinabs quantizes biases with the *weight* precision, 8 bits (``discretize.py``
267-269); no SynSense document we found gives the chip's bias register width.

Discretization (``discretize_conv_spike_``, ``discretize.py`` 177-338), applied
by ``DynapcnnLayer`` when ``discretize=True`` (``dynapcnn_layer.py`` 122-124)::

    scale(T, bits): lo = -2**(bits-1), hi = 2**(bits-1) - 1
                    |hi / max T|  if |min T| <= |max T| * |lo / hi|  else  |lo / min T|
    s = min(scale(W, 8), scale(b, 8), scale([min_v_mem or -2**15, theta], 16)[, scale(v_mem, 16)])
    W, b, theta, min_v_mem  <-  round(s * .)          (torch.round: half to even, float32)

A zero tensor gives ``inf`` (it does not constrain ``s``).  Consequence, checked
in tests: an integer layer passes **unchanged iff s == 1** (:func:`discretize_scale`).
For a layer whose values are in range that holds when ``min_v_mem = -32768``
(Sinabs' default floor: then the threshold term is exactly 1), or when ``W`` (or
``b``) reaches its 8-bit limit on the side the formula picks (``max W = 127``, or
``min W = -128`` with ``max W < 127``).  Otherwise ``s > 1``: Sinabs scales the
integers up and rounds them, which is not an exact multiple of the layer, and
spike counts can change.  (If ``s`` happens to be an integer, every value is
scaled exactly and Sinabs' spikes are unchanged.)

Where the chip differs from this (Sinabs') model, with sources
--------------------------------------------------------------
* Event-driven firing: the chip checks the threshold when an event arrives and
  emits at most one spike per incoming event; a neuron left above threshold stays
  silent until its next input event (tips_for_training.md "Weight Clipping During
  Training"; dangers.md "Event driven vs time-step based evaluation").  Sinabs'
  MultiSpike emits ``v // theta`` spikes at once per time step.  The two agree
  (subtractive reset, no bias) when every weight onto a neuron is excitatory and
  below ``theta`` (``v`` then stays below ``theta`` between events, and the chip's
  spike count is ``(v0 + sum W) // theta`` too); with mixed signs the chip's result
  depends on the order of the events, which a time step does not keep.
* State width (above): the chip has 16 bits, Sinabs has float32.
* Leak timing (above): slow clock vs once per time step.
* Congestion balancer (drops input events while a core is busy; off by default,
  samna speck2f ``CnnLayerConfig.input_congestion_balancer_enable``), output
  decimator (passes 1 of N spikes, overview.md "Decimator"), and a per-core
  SynOps/s bandwidth past which "the entire chip stalls" (tips_for_training.md):
  none of them is in Sinabs' simulation.
* "Our chip called Speck has some stochastic elements, so the same input will
  not always produce the same output" (SynSense maintainer, github.com/synsense/
  sinabs issue #53, 2022-10-03).
* Readout layer channel errata on Speck 2e/2f: core channel 0 -> readout class 1,
  4 -> 2, 8 -> 3, ... (``docs/speck/faqs/chip_errata.md``; Sinabs' fix widens the
  last layer to ``(C - 1) * 4 + 1`` channels, ``backend/dynapcnn/utils.py`` 210-248).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from snncli.core.compiled import specialise
from snncli.core.program import NeuronModel
from snncli.errors import SnnCliError

WEIGHT_BITS = 8  # discretize.py 10: DYNAPCNN_WEIGHT_PRECISION_BITS
STATE_BITS = 16  # discretize.py 11: DYNAPCNN_STATE_PRECISION_BITS
BIAS_BITS = 8  # discretize.py 267-269: Sinabs scales biases with the weight precision
WEIGHT_MIN, WEIGHT_MAX = -(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1  # -128, 127
BIAS_MIN, BIAS_MAX = -(1 << (BIAS_BITS - 1)), (1 << (BIAS_BITS - 1)) - 1  # -128, 127
STATE_MIN, STATE_MAX = -(1 << (STATE_BITS - 1)), (1 << (STATE_BITS - 1)) - 1  # -32768, 32767
DEFAULT_MIN_V_MEM = STATE_MIN  # chips/dynapcnn.py 157-158, discretize.py 254-255: -(2**15)


@dataclass(frozen=True, eq=False)
class SpeckIAF:
    r"""Parameters of one Speck IAF layer (one DynapCNN core's neurons), integers.

    One step (module docstring for the sources)::

        v = v + x + bias[c]                          (bias: per channel, or None)
        v = clip(v, state_min, state_max)            (if saturate)
        n = v // threshold if v >= threshold else 0  (multi_spike; else n = [v >= threshold])
        v = v - n * threshold  (reset "subtract")  |  v = 0 where n > 0  (reset "zero")
        v = max(v, min_v_mem)
        out = n

    Fields: ``threshold`` (``threshold_high``, 1..32767), ``min_v_mem``
    (``threshold_low``, the floor; -32768 is Sinabs' default), ``bias`` (int per
    output channel, or None), ``reset`` ("subtract" = ``return_to_zero`` False, the
    chip's default; "zero"), ``multi_spike`` (True: Sinabs' MultiSpike, several
    spikes per step; False: SingleSpike), ``saturate`` (clip the state to the
    chip's 16 bits; False reproduces Sinabs, which never clips), ``state_min`` /
    ``state_max`` (the 16-bit state range).

    Event-driven (``event_driven``): hwsim counts one state update per input event
    that reaches a neuron (the core processes events one by one), plus, with a bias,
    every neuron once per slow-clock tick (:func:`speck_iaf_updates`).
    """

    model: ClassVar[str] = "speck_iaf"
    event_driven: ClassVar[bool] = True
    threshold: int
    min_v_mem: int = DEFAULT_MIN_V_MEM
    bias: np.ndarray | None = field(default=None)
    reset: Literal["subtract", "zero"] = "subtract"
    multi_spike: bool = True
    saturate: bool = True
    state_min: int = STATE_MIN
    state_max: int = STATE_MAX

    def __post_init__(self):
        for key in ("threshold", "min_v_mem", "state_min", "state_max"):
            value = getattr(self, key)
            if isinstance(value, (bool, np.bool_)) or not float(value).is_integer():
                raise SnnCliError(f"speck IAF {key} must be an integer, got {value!r}")
            object.__setattr__(self, key, int(value))
        if not self.state_min < 0 < self.state_max:
            raise SnnCliError(f"speck IAF state range [{self.state_min}, {self.state_max}] must contain 0")
        if not 1 <= self.threshold <= self.state_max:
            raise SnnCliError(
                f"speck IAF threshold {self.threshold} outside [1, {self.state_max}] (16-bit threshold_high)"
            )
        if not self.state_min <= self.min_v_mem < self.threshold:
            raise SnnCliError(
                f"speck IAF min_v_mem {self.min_v_mem} outside [{self.state_min}, threshold - 1 = {self.threshold - 1}]"
            )
        if self.reset not in ("subtract", "zero"):
            raise SnnCliError(f"speck IAF reset must be 'subtract' or 'zero', got {self.reset!r}")
        if self.bias is not None:
            b = np.asarray(self.bias)
            if b.ndim != 1 or (b.dtype.kind == "f" and not np.array_equal(b, np.round(b))):
                raise SnnCliError(f"speck IAF bias must be one integer per channel, got shape {list(b.shape)}")
            b = b.astype(np.int64)
            if b.size and (b.min() < self.state_min or b.max() > self.state_max):
                raise SnnCliError(
                    f"speck IAF bias range [{b.min()}, {b.max()}] exceeds the state range "
                    f"[{self.state_min}, {self.state_max}]"
                )
            object.__setattr__(self, "bias", None if not np.any(b) else b)

    def as_dict(self) -> dict:
        """Plain values (for a Program's params / JSON)."""
        out = {k: getattr(self, k) for k in ("threshold", "min_v_mem", "reset", "multi_spike", "saturate",
                                              "state_min", "state_max")}  # fmt: skip
        out["bias"] = None if self.bias is None else self.bias.tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict) -> SpeckIAF:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _as_params(params) -> SpeckIAF:
    return params if isinstance(params, SpeckIAF) else SpeckIAF.from_dict(dict(params))


NON_INTEGER_INPUT = (
    "a Speck neuron layer received non-integer synaptic input: weights and input counts must be "
    "integers (quantize the layer, and encode analog input as event counts)"
)


def _integer_input(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or not np.array_equal(x, np.round(x)):
            raise SnnCliError(NON_INTEGER_INPUT)
    elif x.dtype.kind not in "iub":
        raise SnnCliError(f"a Speck neuron layer received input of dtype {x.dtype}; expected integers")
    return x.astype(np.int64, copy=False)


def speck_iaf_init(shape, batch: int, params) -> dict[str, np.ndarray]:
    """Zero membrane state ``v`` (int64, [batch, *shape]); the chip's initial value (chips/dynapcnn.py 135-138)."""
    p = _as_params(params)
    shape = tuple(int(s) for s in shape)
    if p.bias is not None and (not shape or shape[0] != p.bias.size):
        raise SnnCliError(f"speck IAF bias has {p.bias.size} channels, the layer's shape is {list(shape)}")
    return {"v": np.zeros((int(batch), *shape), dtype=np.int64)}


def speck_iaf_step(state: dict[str, np.ndarray], x, params):
    """One Speck IAF step (equations in :class:`SpeckIAF`).

    ``x``: this step's integer synaptic input, [batch, *shape] (``W . counts``,
    without the bias, which ``params.bias`` adds per channel, axis 1).  Returns
    ``(new_state, spike_counts)``; counts are int64, >= 0, and can exceed 1 with
    ``multi_spike``.
    """
    p = _as_params(params)
    a = _integer_input(x)
    v = state["v"] + a
    if p.bias is not None:
        v = v + p.bias.reshape((1, -1) + (1,) * (v.ndim - 2))
    if p.saturate:
        v = np.clip(v, p.state_min, p.state_max)
    theta = p.threshold
    if p.multi_spike:
        n = np.where(v >= theta, v // theta, 0)
    else:
        n = (v >= theta).astype(np.int64)
    v = v - n * theta if p.reset == "subtract" else np.where(n > 0, 0, v)
    v = np.maximum(v, p.min_v_mem)
    return {**state, "v": v}, n


def speck_iaf_updates(x, params) -> int:
    """Neuron updates of one step that no event causes: with a bias the leak unit updates every
    neuron once per slow-clock tick (one tick per time step, as Sinabs models it), else none.
    The updates events cause (one per event and target neuron) are counted by hwsim."""
    return int(np.size(x)) if _as_params(params).bias is not None else 0


def _iaf_kernel(saturate: bool, multi: bool, subtract: bool, record: bool):
    """:func:`speck_iaf_step` over ``a_in [T, batch, n]`` (float64 holding integers), neuron by neuron, in int64,
    for one combination of the layer's switches.  Returns whether some input was not a finite integer.  ``ptr``:
    ``ptr[r + 1] = ptr[r] + (neurons that spiked in row r = t * batch + b)``, the consumer's event rows."""

    def kernel(a_in, v, bias, lo, hi, theta, floor_v, out, ptr, rec_v):
        bad = False
        ptr[0] = 0
        for t in range(a_in.shape[0]):
            for b in range(a_in.shape[1]):
                events = 0
                for k in range(a_in.shape[2]):
                    x = a_in[t, b, k]
                    bad |= x != np.floor(x) or x - x != 0.0
                    vv = v[b, k] + np.int64(x) + bias[k]
                    if saturate:
                        vv = min(max(vv, lo), hi)
                    spikes = 0
                    if vv >= theta:
                        spikes = vv // theta if multi else 1
                    if subtract:
                        vv = vv - spikes * theta
                    elif spikes > 0:
                        vv = 0
                    vv = max(vv, floor_v)
                    v[b, k] = vv
                    out[t, b, k] = spikes
                    events += spikes != 0
                    if record:
                        rec_v[t, b, k] = vv
                r = t * a_in.shape[1] + b
                ptr[r + 1] = ptr[r] + events
        return bad

    return kernel


_iaf_window = specialise(_iaf_kernel)


def state_dtype(p: SpeckIAF):
    """The narrowest integer type that holds every state the layer can reach (16 bits on the chip when
    saturating; unbounded, int64, without saturation, as Sinabs)."""
    if not p.saturate:
        return np.int64
    lo = min(p.state_min, p.min_v_mem)
    return next(t for t in (np.int16, np.int32, np.int64) if np.iinfo(t).min <= lo and p.state_max <= np.iinfo(t).max)


def speck_iaf_window(
    state: dict,
    x: np.ndarray,
    params,
    record: bool = False,
    out: np.ndarray | None = None,
    events: np.ndarray | None = None,
):
    """:func:`speck_iaf_step` over every step of ``x [T, batch, *shape]``, compiled (``NeuronModel.window``);
    the state recorded in :func:`state_dtype`; ``out``: a float64 array of ``x``'s shape for the spike counts;
    ``events``: int64 ``[T * batch + 1]`` to receive where each row's spikes start."""
    p = _as_params(params)
    steps, batch, *shape = x.shape
    n = int(np.prod(shape, dtype=np.int64))
    xs = np.ascontiguousarray(x, dtype=np.float64).reshape(steps, batch, n)
    v = np.array(state["v"], dtype=np.int64).reshape(batch, n)
    bias = np.zeros(n, dtype=np.int64)
    if p.bias is not None:
        bias = np.ascontiguousarray(np.broadcast_to(p.bias.reshape((-1,) + (1,) * (len(shape) - 1)), shape)).reshape(n)
    out = np.empty((steps, batch, n)) if out is None else out.reshape(steps, batch, n)
    rec_v = np.empty((steps, batch, n) if record else (0, 0, 0), dtype=state_dtype(p))
    kernel = _iaf_window(p.saturate, p.multi_spike, p.reset == "subtract", bool(record))
    ptr = np.empty(steps * batch + 1, dtype=np.int64) if events is None else events
    if kernel(xs, v, bias, p.state_min, p.state_max, p.threshold, p.min_v_mem, out, ptr, rec_v):
        raise SnnCliError(NON_INTEGER_INPUT)
    full = (batch, *shape)
    return (
        {**state, "v": v.reshape(full)},
        out.reshape(steps, *full),
        {"v": rec_v.reshape(steps, *full)} if record else None,
    )


MODEL = NeuronModel(SpeckIAF, speck_iaf_init, speck_iaf_step, speck_iaf_updates, window=speck_iaf_window)


# ----------------------------------------------------------------- synapses
def conv2d_int(counts, weight, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """Integer convolution of spike counts [B, C, H, W] with weights [O, C, kh, kw]:
    ``x[b, o, i, j] = sum W[o, c, u, v] * s[b, c, i*sy - py + u, j*sx - px + v]``, zero
    padding (torch ``conv2d``, as ``DynapcnnLayer.forward`` applies it).  int64."""
    s = np.asarray(counts, dtype=np.int64)
    w = np.asarray(weight, dtype=np.int64)
    (sy, sx), (py, px) = _pair(stride), _pair(padding)
    kh, kw = w.shape[2:]
    s = np.pad(s, ((0, 0), (0, 0), (py, py), (px, px)))
    win = np.lib.stride_tricks.sliding_window_view(s, (kh, kw), axis=(2, 3))[:, :, ::sy, ::sx]
    return np.einsum("bchwuv,ocuv->bohw", win, w, optimize=True)


def linear_int(counts, weight) -> np.ndarray:
    """``x = counts_flat @ W.T``; counts [B, ...] flattened in C,H,W order (torch/NIR Flatten)."""
    s = np.asarray(counts, dtype=np.int64)
    return s.reshape(s.shape[0], -1) @ np.asarray(weight, dtype=np.int64).T


def sum_pool2d_int(counts, pool) -> np.ndarray:
    """Sum pooling (kernel = stride = p, square), floor of the map size: Sinabs'
    ``lp_pool2d(norm_type=1)`` (dynapcnn_layer.py 13-14, 160-167).  Counts add exactly."""
    s = np.asarray(counts, dtype=np.int64)
    py, px = _pair(pool)
    if (py, px) == (1, 1):
        return s
    b, c, h, w = s.shape
    ho, wo = h // py, w // px
    return s[:, :, : ho * py, : wo * px].reshape(b, c, ho, py, wo, px).sum(axis=(3, 5))


def _pair(v) -> tuple[int, int]:
    if np.ndim(v) == 0:
        return int(v), int(v)
    t = tuple(int(i) for i in np.asarray(v).reshape(-1))
    return (t[0], t[0]) if len(t) == 1 else (t[0], t[1])


# ------------------------------------------------------- Sinabs' discretize
def discretization_scale(values, bits: int) -> float:
    """``determine_discretization_scale`` (discretize.py 308-338) in float32, as torch evaluates it:
    ``|hi / max|`` if ``|min| <= |max| * |lo / hi|`` else ``|lo / min|``; ``inf`` for a zero tensor.
    ``int / tensor`` is ``tensor.reciprocal() * int`` in torch (``Tensor.__rdiv__``), so the quotient
    is computed that way here too (it can differ from a plain division by one unit in the last place)."""
    t = np.asarray(values, dtype=np.float32).reshape(-1)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    mn, mx = t.min(), t.max()
    ratio = np.float32(abs(lo / hi))  # a Python float, applied to a float32 tensor
    with np.errstate(divide="ignore"):
        if np.abs(mn) <= np.abs(mx) * ratio:
            return float(np.abs((np.float32(1) / mx) * np.float32(hi)))
        return float(np.abs((np.float32(1) / mn) * np.float32(lo)))


def discretize_scale(weight, bias, threshold, min_v_mem=None) -> float:
    """The common factor ``s`` Sinabs' ``discretize_conv_spike_`` multiplies a layer by
    (discretize.py 254-283; no initial state).  ``s == 1`` means the integer layer passes
    through Sinabs' discretization unchanged."""
    b = np.zeros(np.shape(weight)[0]) if bias is None else bias
    floor = DEFAULT_MIN_V_MEM if min_v_mem is None else min_v_mem
    return min(
        discretization_scale(weight, WEIGHT_BITS),
        discretization_scale(b, WEIGHT_BITS),
        discretization_scale([floor, threshold], STATE_BITS),
    )
