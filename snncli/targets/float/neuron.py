"""The float target's neuron model: NIR neurons forward-Euler discretized, float64."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from snncli.core.program import NeuronModel, array
from snncli.errors import SnnCliError

RESETS = ("zero", "subtract")


@dataclass(frozen=True, eq=False)
class FloatLIF:
    r"""IF, LIF, LI, CubaLIF and CubaLI in one discrete-time form (forward Euler, step dt)::

        i[t] = i_decay * i[t-1] + i_gain * x[t]          (with a current; else i[t] = x[t])
        v[t] = v_decay * v[t-1] + v_gain * i[t] + v_bias
        s[t] = v[t] > v_threshold                        (spiking only)
        v[t] = v_reset              where s              (reset "zero")
        v[t] = v[t] - v_threshold   where s              (reset "subtract")
        v[t] = max(v[t], v_min)                          (with v_min)
        out  = s[t] if spiking else v[t]

    With ``a = dt / tau``: LIF has ``v_decay = 1 - a``, ``v_gain = a r``, ``v_bias = a
    v_leak``; IF ``v_decay = 1``, ``v_gain = dt r``, ``v_bias = 0``; CubaLIF adds
    ``i_decay = 1 - dt/tau_syn``, ``i_gain = dt/tau_syn * w_in`` and the voltage reads the
    new current, as Lava's CUBA and snnTorch's Synaptic do.  Arrays have the layer's shape.
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

    def __post_init__(self):
        for key in ("v_decay", "v_gain", "v_bias", "i_decay", "i_gain", "v_threshold", "v_reset", "v_min"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, array(value, f"float_lif {key}", dtype=np.float64))
        if (self.i_decay is None) != (self.i_gain is None):
            raise SnnCliError("float_lif: i_decay and i_gain go together (a synaptic current)")
        if self.reset not in RESETS:
            raise SnnCliError(f"float_lif reset {self.reset!r}; expected one of {', '.join(RESETS)}")
        if self.v_threshold is not None and self.v_reset is None and self.reset == "zero":
            object.__setattr__(self, "v_reset", np.zeros_like(self.v_threshold))

    @property
    def spiking(self) -> bool:
        return self.v_threshold is not None


def init(shape, batch: int, p: FloatLIF) -> dict:
    state = {"v": np.zeros((batch, *shape))}
    if p.i_decay is not None:
        state["i"] = np.zeros((batch, *shape))
    return state


def step(state: dict, x: np.ndarray, p: FloatLIF):
    if p.i_decay is not None:
        i = p.i_decay * state["i"] + p.i_gain * x
        state = {**state, "i": i}
    else:
        i = x
    v = p.v_decay * state["v"] + p.v_gain * i + p.v_bias
    if not p.spiking:
        return {**state, "v": v}, v
    spikes = v > p.v_threshold
    v = np.where(spikes, v - p.v_threshold, v) if p.reset == "subtract" else np.where(spikes, p.v_reset, v)
    if p.v_min is not None:
        v = np.maximum(v, p.v_min)
    return {**state, "v": v}, spikes.astype(np.float64)


MODEL = NeuronModel(FloatLIF, init, step)
