"""Loihi calibration: the greedy, accuracy-driven search for each layer's scale ``q`` and the input scale.

``calibration`` given (``[T, N, *input_shape]`` encoded samples; at most
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
"""

from __future__ import annotations

import math

import numpy as np

from snncli.hwsim.loihi_neuron import MAX_UV, loihi_cuba_init, loihi_cuba_step, signed_wrap
from snncli.targets.loihi.input_encoding import INPUT_BITS, _lattice_base, _quantize_input
from snncli.targets.loihi.quantize import (
    A_MAX,
    CONV_WRAP_BITS,
    VTH_MAX,
    _decays,
    _float_weights,
    _hard_limit,
    _noclip_limit,
    _quantize,
)
from snncli.targets.loihi.stages import _Quantized, _Stage, _Synapse

HEADROOM = 2.0  # calibration: reject scales within this factor of the 24-bit range
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
