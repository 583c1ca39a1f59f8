"""Neuron models as pure state-transition functions, one per arithmetic.

Each model is ``init(shape, batch, params) -> state`` and
``step(state, x, params) -> (state, out)`` over numpy arrays of shape
``[batch, *shape]`` (Norse's functional style).  hwsim picks the model by
``Layer.neuron``; targets put the parameters in ``Layer.params``.

``float_lif`` (the ``float`` target) covers IF, LIF, LI, CubaLIF and CubaLI in
one discrete-time form, the NIR equations forward-Euler discretized with step dt::

    i[t] = i_decay * i[t-1] + i_gain * x[t]          (only if has_current, else i[t] = x[t])
    v[t] = v_decay * v[t-1] + v_gain * i[t] + v_bias
    s[t] = v[t] > v_threshold                        (only if spiking)
    v[t] = v_reset          where s   (reset_mode "zero")
    v[t] = v[t] - v_threshold where s (reset_mode "subtract")
    v[t] = max(v[t], v_min)                          (only if v_min is given)
    out  = s[t] if spiking else v[t]

With ``a = dt / tau``: LIF has ``v_decay = 1 - a``, ``v_gain = a r``,
``v_bias = a v_leak``; IF has ``v_decay = 1``, ``v_gain = dt r``, ``v_bias = 0``;
CubaLIF adds ``i_decay = 1 - dt/tau_syn``, ``i_gain = dt/tau_syn * w_in`` and the
voltage update reads the new current, as Lava's CUBA and snnTorch's Synaptic do.
"""

from __future__ import annotations

import numpy as np

from snncli.hwsim.loihi_neuron import loihi_cuba_init, loihi_cuba_step


def float_lif_init(shape, batch: int, params: dict) -> dict:
    state = {"v": np.zeros((batch, *shape), dtype=np.float64)}
    if params.get("has_current", False):
        state["i"] = np.zeros((batch, *shape), dtype=np.float64)
    return state


def float_lif_step(state: dict, x: np.ndarray, params: dict):
    p = params
    if p.get("has_current", False):
        i = p["i_decay"] * state["i"] + p["i_gain"] * x
        state = {**state, "i": i}
    else:
        i = x
    v = p["v_decay"] * state["v"] + p["v_gain"] * i + p["v_bias"]
    if not p["spiking"]:
        return {**state, "v": v}, v
    spikes = v > p["v_threshold"]
    if p["reset_mode"] == "subtract":
        v = np.where(spikes, v - p["v_threshold"], v)
    else:
        v = np.where(spikes, p["v_reset"], v)
    if "v_min" in p:
        v = np.maximum(v, p["v_min"])
    return {**state, "v": v}, spikes.astype(np.float64)


# name -> (init, step); other arithmetics (loihi, speck) register here too.
MODELS = {
    "float_lif": (float_lif_init, float_lif_step),
    "loihi_cuba": (loihi_cuba_init, loihi_cuba_step),
}


def get_model(name: str):
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"no neuron model {name!r} in hwsim (known: {', '.join(sorted(MODELS))})") from None
