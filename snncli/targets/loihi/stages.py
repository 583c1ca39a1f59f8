"""The Loihi target's intermediate form: a network as stages (netx blocks), and their integer parameters.

A :class:`Stage` is one neuron layer with the synapses feeding it (one feed-forward
:class:`Synapse`, at most one recurrent), in float units; a :class:`Quantized` is
one stage's integer parameters at one scale ``q``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncli.core.program import Conv2d, Dense, Layer, Neuron
from snncli.targets.loihi.arithmetic import LoihiCuba


@dataclass
class Synapse:
    """One synapse layer: a NIR Affine/Linear/Conv2d with the pools/flattens before it folded in."""

    name: str
    source: str  # the Input or neuron node it reads
    op: str  # "dense" | "conv2d"
    weight: np.ndarray  # float64: dense [n_out, n_src] (source flattened C,H,W), conv [co, ci, kh, kw]
    bias: np.ndarray | None  # float64 per output neuron, flattened, or None
    src_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    conv: dict | None = None  # stride, padding, dilation, groups
    folded: list[str] = field(default_factory=list)
    pool: int = 1  # conv: non-overlapping sum pool folded in (weights replicated in pool x pool blocks)


@dataclass
class Stage:
    """One neuron layer and the synapses feeding it (a netx block)."""

    name: str
    kind: str  # "LIF" | "IF" | "CubaLIF"
    shape: tuple[int, ...]
    synapses: list[Synapse]
    depth: int
    a: float  # dt / tau_mem (0 for IF)
    b: float | None  # dt / tau_syn (CubaLIF)
    gain: np.ndarray  # [n] v units per step per unit of synaptic input
    bias_f: np.ndarray  # [n] v units per step
    v_th: float
    fire: str = ">"  # the reading's firing rule: v > v_th, or v >= v_th (SpikingJelly)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def ff(self) -> Synapse:
        return next(s for s in self.synapses if s.source != self.name)

    @property
    def rec(self) -> Synapse | None:
        return next((s for s in self.synapses if s.source == self.name), None)


@dataclass
class Quantized:
    """Integer parameters of one stage at one scale."""

    q: float
    weights: dict[str, np.ndarray]
    params: LoihiCuba
    clipped: int  # weights clipped to the 8-bit range


def synapse_layer(s: Synapse, weight: np.ndarray, delayed: bool = True) -> Layer:
    """The Program layer of a synapse: Lava's Dense/Conv sends ``W s(t-1)``, one step of delay."""
    if s.op == "dense":
        op = Dense(weight)
        in_shape, out_shape = (int(np.prod(s.src_shape)),), (int(np.prod(s.out_shape)),)
    else:
        c = s.conv
        op = Conv2d(weight, None, c["stride"], c["padding"], c["dilation"], c["groups"])
        in_shape, out_shape = s.src_shape, s.out_shape
    edges = {"delayed_inputs": (s.source,)} if delayed else {"inputs": (s.source,)}
    return Layer(s.name, op, in_shape, out_shape, **edges)


def neuron_layer(st: Stage, params: LoihiCuba) -> Layer:
    """The Program layer of a stage's neurons, reading its synapses in the same step."""
    return Layer(st.name, Neuron(params), st.shape, st.shape, inputs=tuple(s.name for s in st.synapses))
