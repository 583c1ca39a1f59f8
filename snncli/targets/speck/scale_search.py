"""Speck calibration: each core's scale chosen on calibration samples, with hwsim.

``calibration``: encoded training samples ``[T, N, *input_shape]`` (event counts).
The float model (the float target) runs once on them; then core by core, in order,
each core is quantized and run by hwsim in Speck arithmetic (a one-core Program
built as the lowering builds the network) on the integer spikes of the cores
already chosen before it:

* weights on a quantization-aware-training lattice: the lattice scale, exact
  (:func:`~snncli.targets.speck.quantize.lattice_scale`), no search;
* otherwise the walk of :func:`snncli.targets.calibration.walk_grid` from the rule
  scale (which clips nothing) over ``base * 2**(k/2)``: up clips outlying weights for
  resolution, down gives up resolution.  Score, in order: the state stays within
  half of the 16-bit range (:data:`HEADROOM`: saturation, which Sinabs does not
  model, never applies); for the output core, agreement of the predicted class with
  the float model; the mean absolute difference of the spike counts per neuron and
  sample; the larger scale.  A core with a floor only takes scales Sinabs'
  discretize passes unchanged (:func:`~snncli.targets.speck.quantize.sinabs_neutral`).

``program.notes["scale_search"]`` logs every candidate.
"""

from __future__ import annotations

import numpy as np

from snncli.core.program import Input, Layer, Output, Program
from snncli.hwsim.simulate import Simulator
from snncli.targets.calibration import calibration_samples, float_spike_counts, grid_scale, walk_grid
from snncli.targets.speck import arithmetic as ar
from snncli.targets.speck.program import core_layers
from snncli.targets.speck.quantize import Quantized, lattice_scale, quantize_core, rule_scale, sinabs_neutral
from snncli.targets.speck.structure import Core

HEADROOM = 2.0  # a candidate is safe when its largest state stays below STATE_MAX / HEADROOM


def search_scales(graph, dt: float, reading: str, cores: list[Core], calibration: np.ndarray):
    """``({neuron: Quantized}, log)`` chosen on ``calibration`` (module docstring)."""
    samples = calibration_samples(calibration.shape[1], max(core.size for core in cores))
    x = calibration[:, :samples]
    f_counts = float_spike_counts(graph, dt, reading, x, [core.neuron for core in cores])
    f_pred = f_counts[cores[-1].neuron].argmax(1)
    quant, log = {}, {"method": "search", "samples": int(samples), "steps": int(x.shape[0]), "layers": {}}
    upstream = x
    for core in cores:
        last = core is cores[-1]
        pick, upstream, entry = search_core(core, upstream, f_counts[core.neuron], f_pred if last else None)
        quant[core.neuron] = pick
        log["layers"][core.neuron] = entry
    out = upstream.sum(0).reshape(samples, -1)
    log["prediction_agreement"] = float(np.mean(out.argmax(1) == f_pred))
    return quant, log


def search_core(core: Core, upstream: np.ndarray, f_count: np.ndarray, f_pred: np.ndarray | None):
    """``(Quantized, the core's pooled output spikes, log entry)`` for one core."""
    lattice = lattice_scale(core)
    base = lattice if lattice is not None else rule_scale(core)
    results: dict[int, tuple] = {}
    tried: list[dict] = []

    def evaluate(k: int) -> tuple:
        if k not in results:
            q = quantize_core(core, grid_scale(base, k))
            spikes, out, peak = run_core(core, q, upstream)
            counts = spikes.sum(0).reshape(f_count.shape[0], -1)
            err = float(np.mean(np.abs(counts - f_count)))
            agree = float(np.mean(counts.argmax(1) == f_pred)) if f_pred is not None else 0.0
            safe = peak * HEADROOM <= ar.STATE_MAX
            results[k] = ((safe, agree, -err, q.scale), q, out)
            tried.append({"scale": q.scale, "threshold": q.threshold, "safe": bool(safe), "count_mae": err,
                          "agreement": agree if f_pred is not None else None, "clipped": q.clipped,
                          "peak_state": int(peak)})  # fmt: skip
        return results[k][0]

    def allowed(k: int) -> bool:
        q = quantize_core(core, grid_scale(base, k))
        return q.threshold < ar.STATE_MAX and (core.floor is None or sinabs_neutral(q))

    best = 0 if lattice is not None else walk_grid(evaluate, allowed)
    evaluate(best)
    _, q, out = results[best]
    entry = {"method": "qat-lattice" if lattice is not None else "search", "scale": q.scale, "base": base,
             "threshold": q.threshold, "candidates": tried}  # fmt: skip
    return q, out, entry


def run_core(core: Core, q: Quantized, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One core in Speck arithmetic, run by hwsim on ``upstream`` ``[T, N, ...]`` event counts:
    ``(spikes [T, N, *neuron_shape], pooled output [T, N, ...], largest |state| before firing)``."""
    shape = core.flatten_shape if core.flatten is not None else core.in_shape
    layers = [Layer(core.source, Input(), shape, shape), *core_layers(core, q)]
    last = layers[-1]
    layers.append(Layer("output", Output(), last.out_shape, last.out_shape, inputs=(last.name,)))
    x = upstream.reshape(*upstream.shape[:2], *shape)
    result = Simulator(Program("speck", 1.0, layers)).run(x, batch_size=x.shape[1], record=True)
    rec = result.records
    v, syn = rec[core.neuron]["v"], rec[core.synapse]["out"]
    before = np.concatenate([np.zeros_like(v[:1]), v[:-1]]) + syn  # v + x at each step, bias added below
    if q.bias is not None:
        before = before + q.bias.reshape((-1,) + (1,) * (before.ndim - 3))
    peak = int(np.abs(before).max(initial=0))
    return rec[core.neuron]["out"], result.outputs, peak
