"""Loihi calibration: the greedy, accuracy-driven search for each layer's scale ``q`` and the input scale.

``calibration`` given (``[T, N, *input_shape]`` encoded samples; at most
``SEARCH_ELEMENTS`` samples x neurons are used): a greedy, accuracy-driven search
(the sample budget, the float counts and the grid walk are the chip targets' shared
:mod:`snncli.targets.calibration`).
The float target (NIR semantics) runs once on the calibration set in hwsim.  Each
layer starts at the largest scale that neither clips a weight nor brings the
observed synaptic input within a factor 2 (:data:`HEADROOM`) of the 24-bit range,
and walks the grid ``base * 2**(k/2)`` up (clipping outliers) or down while the
layer's spike counts, simulated by hwsim in Lava's integer arithmetic (a one-stage
Program built as :mod:`~snncli.targets.loihi.lowering` builds the whole network) on
the already quantized upstream spikes, get closer to the float layer's (output layer: agreement of the
predicted class first).  Candidate input scales: ``2**b - 1`` levels for b = 8..2
and, when the data lie on a lattice (digits: k/16), its exact multiples; each is
tried on the first layer, the best three through the whole network, and the
winner searched fully.  ``program.notes["scale_search"]`` logs every candidate.
"""

from __future__ import annotations

import math

import numpy as np

from snncli.core.program import Input, Layer, Output, Program
from snncli.hwsim.simulate import Simulator
from snncli.targets.calibration import calibration_samples, float_spike_counts, grid_scale, walk_grid
from snncli.targets.loihi.arithmetic import MAX_UV
from snncli.targets.loihi.input_encoding import INPUT_BITS, lattice_base, quantize_input
from snncli.targets.loihi.quantize import (
    A_MAX,
    VTH_MAX,
    decays,
    float_weights,
    hard_limit,
    noclip_limit,
    quantize_stage,
)
from snncli.targets.loihi.stages import Quantized, Stage, Synapse, neuron_layer, synapse_layer

HEADROOM = 2.0  # calibration: reject scales within this factor of the 24-bit range


def search_scales(graph, dt, input_node, stages, calibration, encoding):
    """``(input scale, {stage: Quantized}, log)`` chosen on ``calibration`` (module docstring)."""
    steps, total = calibration.shape[:2]
    samples = calibration_samples(total, max(st.size for st in stages))
    calibration = calibration[:, :samples]
    f_counts = float_spike_counts(graph, dt, "nir", calibration, [st.name for st in stages])
    f_pred = f_counts[stages[-1].name].argmax(1)
    latency = stages[-1].depth
    pad = np.zeros((latency, *calibration.shape[1:]))
    x_pad = np.concatenate([calibration, pad])

    if encoding["graded"]:
        x_max = encoding["x_max"]
        # 8-bit messages, but fewer significant input bits can buy weight precision: the product
        # W_q x_q must stay within the 24-bit current (netx has no exponent to shift it down)
        scales = [(2.0**bits - 1) / x_max for bits in range(INPUT_BITS, 1, -1)]
        base = lattice_base(calibration)
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
        outputs = {input_node.name: quantize_input(x_pad, s_in)}
        sigma = {input_node.name: s_in or 1.0}
        quant, logs, safe = {}, {}, True
        for st in stages:
            pick = search_stage(st, outputs, sigma, f_counts[st.name], st is stages[-1], f_pred, window[st.name],
                                 quick=quick)  # fmt: skip
            quant[st.name], outputs[st.name], logs[st.name] = pick["quant"], pick["spikes"], pick["log"]
            safe = safe and pick["score"][0]
        return (safe, *pick["score"][1:3]), quant, logs, outputs

    if len(scales) > 1:
        # 1. every input scale at the first stage's base q; 2. the best three through the whole network at
        # base q, scored on the output; 3. the winner searched fully
        first = []
        for s_in in scales:
            outputs = {input_node.name: quantize_input(x_pad, s_in)}
            pick = search_stage(stages[0], outputs, {input_node.name: s_in}, f_counts[stages[0].name],
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


def search_stage(
    st: Stage,
    outputs: dict,
    sigma: dict,
    f_count: np.ndarray,
    is_output: bool,
    f_pred,
    window: slice,
    quick: bool = False,
) -> dict:
    """Pick q for one stage: start at the largest scale that neither clips weights nor comes
    within HEADROOM of the 24-bit current on the calibration data, then walk the grid
    ``base * 2**(k/2)`` up, or else down, while the score improves."""
    hard = hard_limit(st)
    noclip = noclip_limit(st, sigma)
    # observed float-valued synaptic input per step (v units) on the already quantized upstream outputs
    a_obs = 0.0
    for s in st.synapses:
        if s.source == st.name:
            continue
        acc = _synaptic_input(s, float_weights(st, s, sigma.get(s.source, 1.0)), outputs[s.source])
        a_obs = max(a_obs, float(np.abs(acc).max(initial=0.0)))
    base = min(hard, noclip)
    if a_obs > 0:
        # 0.9: weight rounding can add a few percent to the integer sum
        base = min(base, 0.9 * A_MAX / HEADROOM / a_obs * ((decays(st)[0] + 1) / 4096))
    if not math.isfinite(base):
        base = VTH_MAX / st.v_th
    results: dict[int, tuple] = {}
    tried = []

    def evaluate(k: int):
        if k not in results:
            q = min(hard, grid_scale(base, k))
            quant = quantize_stage(st, q, sigma)
            spikes, peak = _simulate_stage(st, quant, outputs)
            safe = peak * HEADROOM < MAX_UV
            counts = spikes[window].sum(0).reshape(f_count.shape[0], -1)
            err = float(np.mean(np.abs(counts - f_count)))
            agree = float(np.mean(counts.argmax(1) == f_pred)) if is_output else 0.0
            results[k] = ((safe, agree, -err, q), quant, spikes)
            tried.append({"q": q, "safe": bool(safe), "count_mae": err, "agreement": agree if is_output else None,
                          "clipped_weights": quant.clipped})  # fmt: skip
        return results[k]

    if quick:
        evaluate(0)
        best_k = 0
    else:
        best_k = walk_grid(lambda k: evaluate(k)[0], lambda k: grid_scale(base, k) <= hard * 1.0001)
    score, quant, spikes = results[best_k]
    log = {"q": quant.q, "scale": 64 * quant.q, "count_mae": -score[2], "candidates": tried}
    return {"quant": quant, "spikes": spikes, "score": score, "log": log}


def _synaptic_input(s: Synapse, weight: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``W . src`` for every step and sample (no delay), run by hwsim: ``[T, N, n_out]``."""
    program = Program("loihi", 1.0, [Layer(s.source, Input(), s.src_shape, s.src_shape),
                                     synapse_layer(s, weight, delayed=False),
                                     Layer("output", Output(), s.out_shape, s.out_shape, inputs=(s.name,))])  # fmt: skip
    out = Simulator(program).run(src.reshape(*src.shape[:2], *s.src_shape), batch_size=src.shape[1]).outputs
    return out.reshape(*src.shape[:2], -1)


def _simulate_stage(st: Stage, quant: Quantized, outputs: dict) -> tuple[np.ndarray, int]:
    """Run one stage in Lava's integer arithmetic on its sources' outputs with hwsim, on a
    one-stage Program built like the lowered network's; returns (spikes [T, N, n], peak |u|)."""
    ff, rec = st.ff, st.rec
    src = outputs[ff.source]
    layers = [Layer(ff.source, Input(), ff.src_shape, ff.src_shape), synapse_layer(ff, quant.weights[ff.name])]
    if rec is not None:
        layers.append(synapse_layer(rec, quant.weights[rec.name]))
    layers += [neuron_layer(st, quant.params), Layer("output", Output(), st.shape, st.shape, inputs=(st.name,))]
    result = Simulator(Program("loihi", 1.0, layers)).run(
        src.reshape(*src.shape[:2], *ff.src_shape), batch_size=src.shape[1], record=True
    )
    records = result.records
    synaptic = sum(records[s.name]["out"] for s in st.synapses)
    peak = max(int(np.abs(synaptic).max(initial=0)) << 6, int(np.abs(records[st.name]["u"]).max(initial=0)))
    spikes = records[st.name]["out"].reshape(*src.shape[:2], -1).astype(np.int8)
    return spikes, peak
