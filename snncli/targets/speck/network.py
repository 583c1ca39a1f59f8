"""An integer Speck network as plain data, and its step-by-step forward in numpy.

``IntegerLayer`` is one core: integer weights (conv ``[O, C, kh, kw]`` or linear
``[O, F]``), an optional per-channel bias, the IAF parameters and the sum pooling
of its output.  A network is a list of them in order (a chain: each layer reads
the previous one's pooled spikes; the first reads the input event frames).

:func:`run_network` executes such a list with the rules of
:mod:`~snncli.targets.speck.arithmetic` (conv/linear -> :func:`speck_iaf_step` ->
sum pool, per time step) and returns every layer's spike counts per step.  It is
the numpy twin of the Sinabs reference in :mod:`~snncli.targets.speck.reference`
(tests: identical spikes every step) and the arithmetic a Speck hwsim model uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.speck import arithmetic as ar
from snncli.targets.speck.layer import SpeckLayer, pair
from snncli.targets.speck.limits import chain_errors, parameter_error


@dataclass(frozen=True, eq=False)
class IntegerLayer:
    """One Speck layer with its integer parameters.

    ``weight``: conv ``[O, C, kh, kw]`` or linear ``[O, F]`` (F = C*H*W of ``in_shape``,
    read in C,H,W order); ``in_shape``: (C, H, W) read by the layer (a linear layer may
    give (F,)); ``bias``: ``[O]`` or None; ``threshold``, ``min_v_mem`` (the floor,
    default -32768), ``reset``, ``multi_spike``: the IAF (:class:`~.arithmetic.SpeckIAF`);
    ``pool``: sum pooling of the output spikes (1, 2 or 4).
    """

    name: str
    weight: np.ndarray
    in_shape: tuple[int, ...]
    threshold: int
    bias: np.ndarray | None = field(default=None)
    min_v_mem: int = ar.DEFAULT_MIN_V_MEM
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pool: tuple[int, int] = (1, 1)
    reset: Literal["subtract", "zero"] = "subtract"
    multi_spike: bool = True

    def __post_init__(self):
        w = np.asarray(self.weight)
        if w.ndim not in (2, 4):
            raise SnnCliError(f"layer {self.name!r}: weight must be [O, C, kh, kw] or [O, F], got {list(w.shape)}")
        msg = parameter_error(self.name, w, self.bias, self.threshold, self.min_v_mem)
        if msg:
            raise SnnCliError(msg)
        object.__setattr__(self, "weight", w.astype(np.int64))
        if self.bias is not None:
            b = np.asarray(self.bias).reshape(-1)
            if b.size != w.shape[0]:
                raise SnnCliError(f"layer {self.name!r}: {b.size} biases for {w.shape[0]} output channels")
            object.__setattr__(self, "bias", b.astype(np.int64))
        shape = tuple(int(s) for s in self.in_shape)
        if w.ndim == 2 and len(shape) == 1:
            shape = (shape[0], 1, 1)
        if len(shape) != 3:
            raise SnnCliError(f"layer {self.name!r}: in_shape must be (C, H, W), got {list(shape)}")
        if w.ndim == 2 and w.shape[1] != int(np.prod(shape)):
            raise SnnCliError(f"layer {self.name!r}: linear weight has {w.shape[1]} inputs, in_shape {list(shape)}")
        if w.ndim == 4 and w.shape[1] != shape[0]:
            raise SnnCliError(f"layer {self.name!r}: conv weight reads {w.shape[1]} channels, in_shape {list(shape)}")
        object.__setattr__(self, "in_shape", shape)
        for key in ("stride", "padding", "pool"):
            object.__setattr__(self, key, pair(getattr(self, key), f"layer {self.name!r} {key}"))
        if w.ndim == 2 and self.pool != (1, 1):
            raise SnnCliError(f"layer {self.name!r}: a linear layer's output is 1x1, it cannot be pooled {self.pool}")
        object.__setattr__(self, "threshold", int(self.threshold))
        object.__setattr__(self, "min_v_mem", int(self.min_v_mem))

    @property
    def kind(self) -> str:
        return "linear" if self.weight.ndim == 2 else "conv"

    @property
    def spec(self) -> SpeckLayer:
        """The shape description :mod:`.limits` and :mod:`.mapping` work on."""
        if self.kind == "linear":
            return SpeckLayer.linear(self.name, self.in_shape, self.weight.shape[0], has_bias=self.bias is not None)
        o, _, kh, kw = self.weight.shape
        return SpeckLayer(self.name, self.in_shape, o, (kh, kw), self.stride, self.padding, self.pool,
                          has_bias=self.bias is not None)  # fmt: skip

    @property
    def neuron(self) -> ar.SpeckIAF:
        return ar.SpeckIAF(self.threshold, self.min_v_mem, self.bias, self.reset, self.multi_spike)

    @property
    def conv_weight(self) -> np.ndarray:
        """The weight as the chip holds it: ``[O, C, kh, kw]`` (linear: kernel = the input map)."""
        return self.weight if self.kind == "conv" else self.weight.reshape(self.weight.shape[0], *self.in_shape)

    @property
    def neuron_shape(self) -> tuple[int, ...]:
        """Shape of the layer's spikes per sample: (C, H, W) for conv, (F,) for linear."""
        return self.spec.neuron_shape if self.kind == "conv" else (self.weight.shape[0],)


def check_chain(layers: Sequence[IntegerLayer]) -> None:
    """Shapes chain (each layer reads what the previous one sends); raises the first mismatch."""
    if not layers:
        raise SnnCliError("a Speck network needs at least one layer")
    errors = chain_errors([layer.spec for layer in layers])
    if errors:
        raise SnnCliError(errors[0])


def input_counts(x, first: IntegerLayer) -> np.ndarray:
    """Input event counts ``[T, N, ...]`` as int64 ``[T, N, *first.in_shape]``; SnnCliError if not counts."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and (not np.all(np.isfinite(x)) or not np.array_equal(x, np.round(x))):
        raise SnnCliError("Speck input must be integer event counts per step (time x batch x C x H x W)")
    x = x.astype(np.int64)
    if x.size and x.min() < 0:
        raise SnnCliError(f"Speck input event counts must be >= 0, got {int(x.min())}")
    if x.ndim < 3 or int(np.prod(x.shape[2:])) != int(np.prod(first.in_shape)):
        raise SnnCliError(
            f"input of shape {list(x.shape)} does not match layer {first.name!r}, which reads "
            f"{list(first.in_shape)} per sample (time x batch x ...)"
        )
    return x.reshape(x.shape[0], x.shape[1], *first.in_shape)


def run_network(layers: Sequence[IntegerLayer], x, saturate: bool = True) -> dict[str, np.ndarray]:
    """Every layer's spike counts per step, ``name -> int64 [T, N, *neuron_shape]``.

    ``x``: input event counts ``[T, N, C, H, W]`` (integers >= 0).  ``saturate``: clip the
    state to 16 bits (the chip); False follows Sinabs beyond that range (exact while its float32
    state holds the integers, ``|v| < 2**24``).
    """
    check_chain(layers)
    x = input_counts(x, layers[0])
    t_steps, batch = x.shape[:2]
    params = [replace(layer.neuron, saturate=saturate) for layer in layers]
    shapes = [layer.spec.neuron_shape for layer in layers]
    states = [ar.speck_iaf_init(s, batch, p) for s, p in zip(shapes, params, strict=True)]
    out = {layer.name: np.zeros((t_steps, batch, *layer.neuron_shape), dtype=np.int64) for layer in layers}
    for t in range(t_steps):
        a = x[t]
        for i, layer in enumerate(layers):
            if layer.kind == "linear":
                syn = ar.linear_int(a, layer.weight).reshape(batch, *shapes[i])
            else:
                syn = ar.conv2d_int(a, layer.weight, layer.stride, layer.padding)
            states[i], spikes = ar.speck_iaf_step(states[i], syn, params[i])
            out[layer.name][t] = spikes.reshape(batch, *layer.neuron_shape)
            a = ar.sum_pool2d_int(spikes, layer.pool)
    return out
