"""Spikformer (Zhou et al., "Spikformer: When Spiking Neural Network Meets Transformer", ICLR 2023).

SpikingJelly 2.0.0 ships it (``spikingjelly.activation_based.model.spikformer``,
with ``layer.attention.SpikingSelfAttention``); this module only configures it
from a :class:`TrainConfig` and adapts its output to the trainer.  What it computes,
per time step ``t`` of ``T`` (all in multi-step mode, ``[T, B, ...]``):

* Spiking patch splitting (SPS): four ``Conv3x3 -> BN -> LIF`` stages with
  ``D/8, D/4, D/2, D`` channels (``D = embed_dim``), a ``MaxPool(3, 2, 1)`` after
  the last two stages (``patch_size`` 4: an H x W image becomes H/4 x W/4 tokens)
  or after all four (``patch_size`` 16); then the relative position embedding
  ``x + LIF(BN(Conv3x3(x)))``.
* ``depth`` encoder blocks, each ``x = x + SSA(x); x = x + MLP(x)``:

  - SSA: ``Q, K, V = LIF(BN(Conv1x1(x)))`` are spike tensors; per head
    ``A = Q K^T V * 0.125`` (no softmax: a product of non-negative spike counts),
    then ``LIF`` (threshold 0.5) and ``LIF(BN(Conv1x1(.)))``.
  - MLP: ``LIF(BN(Conv1x1))`` to ``mlp_ratio * D`` channels, and back to ``D``.
* Head: the mean over tokens, then ``Linear(D, classes)``.

The paper's output is the head averaged over T; the trainer sums the output over
T (:func:`snncli.trainer.models.spike_counts`), so :class:`SpikformerClassifier`
divides each step's head output by T and the sum is exactly the paper's mean.

Neurons: SpikingJelly's ``LIFNode`` with ``decay_input=True`` (the paper's
``MultiStepLIFNode(tau=2.0, detach_reset=True)``): ``v += (x - v) / tau``, fire at
``v >= 1`` (0.5 after the attention product), hard reset to 0.  ``tau = 1 / (1 - beta)``,
so the paper's ``tau = 2`` is ``beta: 0.5``; ``surrogate`` applies (the paper used
SpikingJelly's default ``sigmoid``).  Not reproduced from the paper's training
recipe: data augmentation (RandAugment, mixup, random erasing), label smoothing,
warm-up epochs and the input normalisation by the dataset's mean and std.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron
from spikingjelly.activation_based.model.spikformer import Spikformer

from snncli.errors import SnnCliError
from snncli.trainer.config import TrainConfig


class SpikformerClassifier(nn.Module):
    """SpikingJelly's :class:`Spikformer` with the head's output divided by T at every step.

    ``forward([T, B, C, H, W]) -> [T, B, classes]`` whose sum over T is the paper's
    ``head(mean_t features)`` (the head is affine).  ``spiking_output = False`` tells
    :class:`snncli.trainer.models.FiringRates` that the last LIF layer is a hidden one.
    """

    spiking_output = False

    def __init__(self, net: Spikformer):
        super().__init__()
        self.net = net

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.ndim != 5:
            raise SnnCliError(f"spikformer expects input [T, B, C, H, W], got shape {list(x_seq.shape)}")
        return self.net(x_seq) / x_seq.shape[0]


def build_spikformer(cfg: TrainConfig, sample_shape, num_classes: int) -> SpikformerClassifier:
    """The Spikformer of ``cfg`` (``embed_dim``, ``num_heads``, ``depth``, ``mlp_ratio``, ``patch_size``,
    ``beta``, ``surrogate``) for ``[C, H, W]`` samples."""
    from snncli.trainer.models import SURROGATE_CLASSES  # models imports this module lazily

    shape = tuple(sample_shape)
    if len(shape) != 3:
        raise SnnCliError(
            f"model spikformer needs image samples [C, H, W], dataset has shape {list(shape)}; use model mlp"
        )
    channels, height, width = shape
    net = Spikformer(
        T=cfg.time_steps,
        in_channels=channels,
        img_size_h=height,
        img_size_w=width,
        patch_size=cfg.patch_size,
        num_classes=num_classes,
        embed_dims=cfg.embed_dim,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        depths=cfg.depth,
        surrogate_function=SURROGATE_CLASSES[cfg.surrogate](),
    )
    tau = 1.0 / (1.0 - cfg.beta)
    for module in net.modules():
        if isinstance(module, neuron.LIFNode):
            module.tau = tau  # every LIF, the attention's included (SpikingJelly fixes those at 2.0)
    return SpikformerClassifier(net)
