"""The Loihi target's intermediate form: a network as stages (netx blocks), and their integer parameters.

A :class:`_Stage` is one neuron layer with the synapses feeding it (one feed-forward
:class:`_Synapse`, at most one recurrent), in float units; a :class:`_Quantized` is
one stage's integer parameters at one scale ``q``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Synapse:
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
class _Stage:
    """One neuron layer and the synapses feeding it (a netx block)."""

    name: str
    kind: str  # "LIF" | "IF" | "CubaLIF"
    shape: tuple[int, ...]
    synapses: list[_Synapse]
    depth: int
    a: float  # dt / tau_mem (0 for IF)
    b: float | None  # dt / tau_syn (CubaLIF)
    gain: np.ndarray  # [n] v units per step per unit of synaptic input
    bias_f: np.ndarray  # [n] v units per step
    v_th: float

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def ff(self) -> _Synapse:
        return next(s for s in self.synapses if s.source != self.name)

    @property
    def rec(self) -> _Synapse | None:
        return next((s for s in self.synapses if s.source == self.name), None)


@dataclass
class _Quantized:
    """Integer parameters of one stage at one scale."""

    q: float
    weights: dict[str, np.ndarray]
    params: dict
    clipped: int  # weights clipped to the 8-bit range
