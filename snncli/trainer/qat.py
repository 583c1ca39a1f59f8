"""Quantization-aware training: every weight matrix fake-quantized to N-bit integers.

With ``L = 2**(N-1) - 1`` levels each side and one scale per layer::

    s   = max|w| / L
    w_q = s * clamp(round(w / s), -L, L)

The forward pass uses ``w_q``; the backward pass hands ``w``'s gradient straight
through (``torch.fake_quantize_per_tensor_affine``, whose gradient is 1 inside the
range and 0 outside; ``s`` comes from ``max|w|`` so nothing is outside).  The
network learns weights that survive any backend with N-bit weights and a per-layer
scale; the trainer itself knows nothing of which backend that is.

Training attaches the fake quantizer with ``torch.nn.utils.parametrize`` (the
checkpoint stores the latent ``w``); :func:`bake` replaces it by the quantized
weights for inference and export, so an exported graph carries ``w_q`` itself.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

MIN_BITS, MAX_BITS = 2, 16


class FakeQuantize(nn.Module):
    """``w -> s * clamp(round(w / s), -L, L)`` with ``s = max|w| / L``, straight-through gradient."""

    def __init__(self, bits: int):
        super().__init__()
        self.levels = 2 ** (bits - 1) - 1

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = (w.detach().abs().max() / self.levels).clamp_min(torch.finfo(torch.float32).tiny).float()
        zero = torch.zeros((), dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_tensor_affine(w, scale.reshape(()), zero, -self.levels, self.levels)


def _weighted(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def attach(model: nn.Module, bits: int) -> nn.Module:
    """Fake-quantize the weight of every Linear and Conv2d in ``model`` (in place)."""
    for module in _weighted(model):
        parametrize.register_parametrization(module, "weight", FakeQuantize(bits))
    return model


def latent_state(state: dict, model: nn.Module) -> dict:
    """A plain model's state dict keyed for ``model``, whose weights may be fake-quantized
    (``fc1.weight`` -> ``fc1.parametrizations.weight.original``): fine-tuning with QAT."""
    keys = set(model.state_dict())
    renamed = {}
    for key, value in state.items():
        latent = key[: -len("weight")] + "parametrizations.weight.original"
        renamed[latent if key.endswith("weight") and key not in keys and latent in keys else key] = value
    return renamed


def bake(model: nn.Module) -> nn.Module:
    """Replace the fake quantizers by the quantized weights (plain modules again, for inference/export)."""
    for module in _weighted(model):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model
