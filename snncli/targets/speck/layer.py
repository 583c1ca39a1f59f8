"""A plain description of one DynapCNN core's worth of network: its shapes, no weights.

``SpeckLayer`` is what :mod:`~snncli.targets.speck.limits` checks and
:mod:`~snncli.targets.speck.mapping` places on cores.  It depends on no Program
type: a lowering (or a test) fills it from whatever it holds.

A layer is ``conv (or linear) -> IAF -> sum pool`` (``sinabs/backend/dynapcnn/
dynapcnn_layer.py`` 55-75).  A linear layer reads its input map flattened (C,H,W
order) and is, on the chip, a convolution whose kernel covers the whole map
(``convert_linear_to_conv``, ``dynapcnn_layer.py`` 17-52): ``kernel_size = (H, W)``,
no padding, stride 1, output ``(F, 1, 1)``.  Output size per axis, as Sinabs
computes it (``DynapcnnLayer._get_conv_output_shape``, ``dynapcnn_layer.py`` 246-270)::

    out = (in + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
"""

from __future__ import annotations

from dataclasses import dataclass

from snncli.errors import SnnCliError


def pair(v, what: str = "value") -> tuple[int, int]:
    """``2`` -> ``(2, 2)``; ``(2, 3)`` -> ``(2, 3)``."""
    if not hasattr(v, "__len__") and not hasattr(v, "__iter__"):
        return int(v), int(v)
    t = tuple(int(i) for i in (v.reshape(-1) if hasattr(v, "reshape") else v))
    if len(t) == 1:
        return t[0], t[0]
    if len(t) != 2:
        raise SnnCliError(f"{what} must be one or two integers, got {list(t)}")
    return t


@dataclass(frozen=True)
class SpeckLayer:
    """Shapes of one Speck layer (one core): ``conv -> IAF -> sum pool``.

    ``in_shape`` (C, H, W) is the map the layer reads (for a linear layer reading a
    vector, ``(F, 1, 1)``); ``kernel_size``, ``stride``, ``padding``, ``dilation`` are
    (y, x) pairs; ``pool`` the sum pooling applied to its output spikes (kernel =
    stride); ``has_bias``: the layer has a bias vector (it then uses bias memory,
    even if the values are zero, as Sinabs counts it).  ``kind`` is ``"conv"`` or
    ``"linear"`` (for messages; a linear layer is built with :meth:`linear`).
    """

    name: str
    in_shape: tuple[int, int, int]
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pool: tuple[int, int] = (1, 1)
    has_bias: bool = False
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    kind: str = "conv"

    def __post_init__(self):
        shape = tuple(int(s) for s in self.in_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise SnnCliError(f"layer {self.name!r}: in_shape must be (C, H, W) with positive sizes, got {list(shape)}")
        object.__setattr__(self, "in_shape", shape)
        for key in ("kernel_size", "stride", "padding", "pool", "dilation"):
            object.__setattr__(self, key, pair(getattr(self, key), f"layer {self.name!r} {key}"))
        object.__setattr__(self, "out_channels", int(self.out_channels))
        object.__setattr__(self, "groups", int(self.groups))
        if self.out_channels < 1 or min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.pool) < 1:
            raise SnnCliError(
                f"layer {self.name!r}: out_channels, kernel_size, stride and pool must be positive "
                f"(got {self.out_channels}, {self.kernel_size}, {self.stride}, {self.pool})"
            )
        if min(self.padding) < 0:
            raise SnnCliError(f"layer {self.name!r}: padding must be >= 0, got {self.padding}")
        if self.kind not in ("conv", "linear"):
            raise SnnCliError(f"layer {self.name!r}: kind must be 'conv' or 'linear', got {self.kind!r}")
        h, w = self.conv_hw
        if h < 1 or w < 1:
            raise SnnCliError(
                f"layer {self.name!r}: kernel {self.kernel_size} with stride {self.stride} and padding "
                f"{self.padding} leaves no output on a {shape[1]}x{shape[2]} input"
            )

    @classmethod
    def linear(cls, name: str, in_shape, out_features: int, has_bias: bool = False) -> SpeckLayer:
        """A linear layer reading ``in_shape`` ((C, H, W) flattened, or (F,)): a conv with kernel (H, W)."""
        shape = tuple(int(s) for s in in_shape)
        if len(shape) == 1:
            shape = (shape[0], 1, 1)
        if len(shape) != 3:
            raise SnnCliError(f"layer {name!r}: a linear layer reads (F,) or (C, H, W), got {list(shape)}")
        return cls(name, shape, out_features, (shape[1], shape[2]), has_bias=has_bias, kind="linear")

    @property
    def conv_hw(self) -> tuple[int, int]:
        (kh, kw), (sy, sx), (py, px), (dy, dx) = self.kernel_size, self.stride, self.padding, self.dilation
        _, h, w = self.in_shape
        return (h + 2 * py - dy * (kh - 1) - 1) // sy + 1, (w + 2 * px - dx * (kw - 1) - 1) // sx + 1

    @property
    def neuron_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the layer's neurons (before pooling); ``(F, 1, 1)`` for linear."""
        return (self.out_channels, *self.conv_hw)

    @property
    def neurons(self) -> int:
        c, h, w = self.neuron_shape
        return c * h * w

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C, H, W) after sum pooling (floor), what the next layer reads."""
        c, h, w = self.neuron_shape
        return c, h // self.pool[0], w // self.pool[1]

    @property
    def weights(self) -> int:
        """Number of weights (``out * in/groups * kh * kw``)."""
        return self.out_channels * (self.in_shape[0] // self.groups) * self.kernel_size[0] * self.kernel_size[1]
