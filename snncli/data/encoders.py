"""Encoders: turn a batch ``x`` of values in [0, 1], ``[B, *shape]``, into ``T`` input steps ``[T, B, *shape]``.

Small dataclasses over functions, as tonic's transforms.  SpikingJelly's
``encoding.PoissonEncoder``/``LatencyEncoder`` are stateful single-step modules
without a ``torch.Generator``; ours emit all T steps at once and take a
generator, so a seeded run draws the same spikes every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snncli.errors import SnnCliError


def direct(x: torch.Tensor, time_steps: int) -> torch.Tensor:
    """Analog current: ``s[t] = x`` for every step (first layer sees real values)."""
    return x.unsqueeze(0).expand(time_steps, *x.shape)


def poisson(
    x: torch.Tensor, time_steps: int, max_rate: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rate code: ``s[t] ~ Bernoulli(max_rate * x)`` independently per step and pixel."""
    u = torch.rand((time_steps, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return (u < (max_rate * x).clamp(0, 1)).to(x.dtype)


def latency(x: torch.Tensor, time_steps: int, threshold: float = 0.01) -> torch.Tensor:
    """Time-to-first-spike: one spike at ``t = round((1 - x) (T - 1))``, none where ``x < threshold``.

    Brighter pixels fire earlier (x = 1 at t = 0, x -> 0 at t = T - 1).
    """
    t_fire = torch.round((1 - x.clamp(0, 1)) * (time_steps - 1)).long()
    steps = torch.arange(time_steps, device=x.device).view(time_steps, *([1] * x.dim()))
    return ((steps == t_fire) & (x >= threshold)).to(x.dtype)


def frames(x: torch.Tensor) -> torch.Tensor:
    """Data already in time, ``[B, T, *shape]`` -> ``[T, B, *shape]``."""
    return x.transpose(0, 1)


@dataclass
class DirectEncoder:
    time_steps: int

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return direct(x, self.time_steps)


@dataclass
class PoissonEncoder:
    time_steps: int
    max_rate: float = 1.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return poisson(x, self.time_steps, self.max_rate, generator)


@dataclass
class LatencyEncoder:
    time_steps: int
    threshold: float = 0.01

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return latency(x, self.time_steps, self.threshold)


@dataclass
class FramesEncoder:
    time_steps: int  # the number of frames the data was binned into

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.shape[1] != self.time_steps:
            raise SnnCliError(
                f"data has {x.shape[1]} frames per sample but time_steps is {self.time_steps}; "
                "set time_steps to the number of frames"
            )
        return frames(x)


ENCODERS = {"direct": DirectEncoder, "poisson": PoissonEncoder, "latency": LatencyEncoder, "frames": FramesEncoder}
_BINARY = {"direct": False, "poisson": True, "latency": True, "frames": True}


def make_encoder(name: str, time_steps: int, **opts):
    """Encoder ``name`` producing ``time_steps`` steps; ``opts``: ``max_rate`` (poisson), ``threshold`` (latency)."""
    if name not in ENCODERS:
        raise SnnCliError(f"unknown encoder {name!r}; choose one of: {', '.join(ENCODERS)}")
    if time_steps < 1:
        raise SnnCliError(f"time_steps must be >= 1, got {time_steps}")
    try:
        return ENCODERS[name](time_steps, **opts)
    except TypeError as e:
        raise SnnCliError(f"encoder {name!r} does not take options {sorted(opts)} ({e})") from e


def encoder_is_binary(name: str) -> bool:
    """Whether encoder ``name`` emits 0/1 spikes (so the first layer does accumulates, not MACs)."""
    if name not in _BINARY:
        raise SnnCliError(f"unknown encoder {name!r}; choose one of: {', '.join(ENCODERS)}")
    return _BINARY[name]
