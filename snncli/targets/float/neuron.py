"""The float target's neuron model: every reading's neuron step in one record, float64."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncli.core.program import NeuronModel, array
from snncli.errors import SnnCliError

RESETS = ("zero", "subtract", "late-subtract", "stale-subtract", "late-zero")
FIRING = (">", ">=")


@dataclass(frozen=True, eq=False)
class FloatLIF:
    r"""IF, LIF, LI, CubaLIF and CubaLI in one discrete-time form (step dt), under any reading::

        i[t] = i_decay * i[t-1] + i_gain * x[t]          (with a current; else i[t] = x[t])
        u    = v_decay * v[t-1] + v_gain * i[t] + v_bias
        v[t] = u                                         (reset "zero", "subtract")
             = u - v_threshold * s[t-1]                  (reset "late-subtract": snnTorch, reset_delay)
             = u * (1 - s[t-1])                          (reset "late-zero": snnTorch's Synaptic, RLeaky)
        s[t] = [v[t] > v_threshold]   or [v[t] >= v_threshold] (fire ">=")
             = floor(v[t] / v_threshold) where that test holds (multi_spike: several spikes in a step)
        v[t] = v_reset              where s[t] > 0       (reset "zero")
        v[t] = v[t] - s[t] v_threshold                   (reset "subtract")
        v[t] = max(v[t], v_min)                          (with v_min)
        out  = s[t] if spiking else v[t]

    Reset "stale-subtract" (snnTorch, ``reset_delay=False``): ``p = u - v_threshold
    [v[t-1] > v_threshold]``, ``s[t] = [p > v_threshold]``, ``v[t] = u - v_threshold s[t]``.
    States start at ``v_init`` (None: 0) and ``i = 0``.  How each reading sets the
    coefficients from a NIR node is :mod:`snncli.targets.float.lowering`'s job (forward
    Euler for the spec: ``v_decay = 1 - dt/tau``, ``v_gain = dt r/tau``, ``v_bias = dt
    v_leak/tau``; ``i_decay = 1 - dt/tau_syn``, ``i_gain = dt w_in/tau_syn``, the voltage
    reading the new current as Lava's CUBA and snnTorch's Synaptic do).  Arrays have the
    layer's shape.
    """

    model: ClassVar[str] = "float_lif"
    v_decay: np.ndarray
    v_gain: np.ndarray
    v_bias: np.ndarray
    i_decay: np.ndarray | None = None
    i_gain: np.ndarray | None = None
    v_threshold: np.ndarray | None = None
    v_reset: np.ndarray | None = None
    reset: str = "zero"
    v_min: np.ndarray | None = None
    nir_type: str = ""
    fire: str = ">"
    multi_spike: bool = False
    v_init: np.ndarray | None = None

    def __post_init__(self):
        for key in ("v_decay", "v_gain", "v_bias", "i_decay", "i_gain", "v_threshold", "v_reset", "v_min", "v_init"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, array(value, f"float_lif {key}", dtype=np.float64))
        if (self.i_decay is None) != (self.i_gain is None):
            raise SnnCliError("float_lif: i_decay and i_gain go together (a synaptic current)")
        if self.reset not in RESETS:
            raise SnnCliError(f"float_lif reset {self.reset!r}; expected one of {', '.join(RESETS)}")
        if self.fire not in FIRING:
            raise SnnCliError(f"float_lif fire {self.fire!r}; expected one of {', '.join(FIRING)}")
        object.__setattr__(self, "multi_spike", bool(self.multi_spike))
        if self.v_threshold is not None and self.v_reset is None and self.reset == "zero":
            object.__setattr__(self, "v_reset", np.zeros_like(self.v_threshold))

    @property
    def spiking(self) -> bool:
        return self.v_threshold is not None

    @property
    def late(self) -> bool:
        """Whether the reset acts one step after the spike (the state keeps the last spikes)."""
        return self.reset in ("late-subtract", "late-zero")


def init(shape, batch: int, p: FloatLIF) -> dict:
    v = np.zeros((batch, *shape))
    if p.v_init is not None:
        v += p.v_init
    state = {"v": v}
    if p.i_decay is not None:
        state["i"] = np.zeros((batch, *shape))
    if p.spiking and p.late:
        state["s"] = np.zeros((batch, *shape))
    return state


def spikes(v: np.ndarray, p: FloatLIF) -> np.ndarray:
    """Spikes of a step: ``[v > thr]`` or ``[v >= thr]``, or with ``multi_spike`` ``floor(v/thr)`` there
    (Rockpool's ``(v >= thr) * floor(v/thr)``, lif_torch.py:43)."""
    fired = v >= p.v_threshold if p.fire == ">=" else v > p.v_threshold
    if p.multi_spike:
        return np.where(fired, np.floor(v / p.v_threshold), 0.0)
    return fired.astype(np.float64)


def step(state: dict, x: np.ndarray, p: FloatLIF):
    if p.i_decay is not None:
        i = p.i_decay * state["i"] + p.i_gain * x
        state = {**state, "i": i}
    else:
        i = x
    u = p.v_decay * state["v"] + p.v_gain * i + p.v_bias
    if not p.spiking:
        return {**state, "v": u}, u
    thr = p.v_threshold
    if p.reset == "stale-subtract":  # snnTorch leaky.py:209-228 with reset_delay=False
        s = spikes(u - thr * (state["v"] > thr), p)
        v = u - thr * s
    elif p.reset == "late-subtract":
        v = u - thr * state["s"]
        s = spikes(v, p)
    elif p.reset == "late-zero":
        v = u * (1.0 - state["s"])
        s = spikes(v, p)
    else:
        v = u
        s = spikes(v, p)
        v = v - s * thr if p.reset == "subtract" else np.where(s > 0, p.v_reset, v)
    if p.v_min is not None:
        v = np.maximum(v, p.v_min)
    state = {**state, "v": v}
    if p.late:
        state["s"] = s
    return state, s


MODEL = NeuronModel(FloatLIF, init, step)
