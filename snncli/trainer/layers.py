"""Layers our models need that neither torch nor SpikingJelly provide."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import base


class SumPool2d(nn.Module, base.StepModule):
    """Sum pooling, the pooling of Speck/DynapCNN: ``y = sum_{k x k window} x``.

    torch has no sum pool; it is ``avg_pool2d * k_h * k_w`` (exact for spike
    counts, which are small integers).  Works in single-step (``[N,C,H,W]``)
    and multi-step (``[T,N,C,H,W]``) mode like SpikingJelly's layers.
    """

    def __init__(self, kernel_size, stride=None, padding=0, step_mode: str = "s"):
        super().__init__()
        self.kernel_size = nn.modules.utils._pair(kernel_size)
        self.stride = nn.modules.utils._pair(stride if stride is not None else kernel_size)
        self.padding = nn.modules.utils._pair(padding)
        self.step_mode = step_mode

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0] * self.kernel_size[1]
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, count_include_pad=True) * k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "m":
            return self._pool(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        return self._pool(x)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, step_mode={self.step_mode}"
        )
