"""The model zoo: spiking networks for the trainer, and which of them can leave it.

``mlp`` and ``cnn`` are built only from modules SpikingJelly's ``nir_exchange``
maps (plus our SumPool2d), as a plain ``nn.Sequential`` the exporter walks layer
by layer.  With the parallel spiking neurons (``psn``, ``masked-psn``,
``sliding-psn``) they train but cannot be exported; ``spikformer``
(:mod:`snncli.trainer.spikformer`) neither.  :func:`export_refusal` says why, in one line.

All modules run in multi-step mode: input ``[T, B, *sample_shape]``, output
``[T, B, classes]`` (the output layer's spikes, or the Spikformer head's values
divided by T); the class is ``argmax_c sum_t out[t, b, c]``.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn as nn
from spikingjelly.activation_based import layer, neuron, surrogate

from snncli.errors import SnnCliError
from snncli.trainer import cpu_neurons, qat
from snncli.trainer.config import PSN_NEURONS, TrainConfig
from snncli.trainer.layers import SumPool2d

SURROGATE_CLASSES = {
    "atan": surrogate.ATan,
    "sigmoid": surrogate.Sigmoid,
    "piecewise-quadratic": surrogate.PiecewiseQuadratic,
    "erf": surrogate.Erf,
    "piecewise-exp": surrogate.PiecewiseExp,
    "soft-sign": surrogate.SoftSign,
    "super-spike": surrogate.SuperSpike,
    "piecewise-leaky-relu": surrogate.PiecewiseLeakyReLU,
    "rect": surrogate.Rect,
}
NEURON_CLASSES = (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode)  # membrane state + reset: exportable
PSN_CLASSES = (neuron.PSN, neuron.MaskedPSN, neuron.SlidingPSN)
SPIKING_CLASSES = NEURON_CLASSES + PSN_CLASSES


def make_neuron(cfg: TrainConfig) -> nn.Module:
    """One spiking neuron layer.

    LIF is snnTorch's ``v[t] = beta v[t-1] + x[t]``: SpikingJelly's
    ``v += (x - (v - v_reset)) / tau`` with ``decay_input=False`` is
    ``v = (1 - 1/tau) v + x``, so ``tau = 1 / (1 - beta)``.  IF is ``v += x``.
    Fire when ``v >= v_threshold``; reset ``zero`` sets ``v = 0`` (``v_reset=0``),
    ``subtract`` does ``v -= v_threshold`` (``v_reset=None``).

    The parallel spiking neurons (Fang et al., NeurIPS 2023, SpikingJelly's
    ``neuron.psn``) have no membrane state: over the whole input ``X`` ``[T, N]``
    at once, ``S = Heaviside(W X - B)`` with a learned ``W`` ``[T, T]`` and
    threshold ``B`` ``[T]`` (``psn``); ``masked-psn`` keeps only the ``k = psn_order``
    diagonals of ``W`` (step ``t`` sees steps ``t-k+1 .. t``); ``sliding-psn`` shares
    ``k`` weights along time.  ``v_threshold``, ``reset`` and ``beta`` do not apply.
    """
    if cfg.neuron in PSN_NEURONS:
        return make_psn(cfg)
    common = dict(
        v_threshold=cfg.v_threshold,
        v_reset=0.0 if cfg.reset == "zero" else None,
        surrogate_function=SURROGATE_CLASSES[cfg.surrogate](),
        detach_reset=cfg.detach_reset,
        step_mode="m",
    )
    tau = 1.0 / (1.0 - cfg.beta)
    if cfg.neuron == "if":
        return cpu_neurons.IFNode(**common)
    if cfg.neuron == "lif":
        return cpu_neurons.LIFNode(tau=tau, decay_input=False, **common)
    return neuron.ParametricLIFNode(init_tau=tau, decay_input=False, **common)


def make_psn(cfg: TrainConfig) -> nn.Module:
    """SpikingJelly's PSN / MaskedPSN / SlidingPSN in multi-step mode, T = ``cfg.time_steps``.

    ``MaskedPSN`` is built fully masked (``lambda_ = 1``, the model a checkpoint reloads);
    the training loop ramps ``lambda_`` from 0 to 1 as the paper does (``psn_mask_ramp``,
    :func:`set_masked_psn_lambda`).
    """
    surrogate_function = SURROGATE_CLASSES[cfg.surrogate]()
    if cfg.neuron == "psn":
        return neuron.PSN(T=cfg.time_steps, surrogate_function=surrogate_function)
    if cfg.neuron == "masked-psn":
        return neuron.MaskedPSN(
            k=cfg.psn_order, T=cfg.time_steps, lambda_init=1.0, surrogate_function=surrogate_function, step_mode="m"
        )
    return neuron.SlidingPSN(k=cfg.psn_order, exp_init=True, surrogate_function=surrogate_function, step_mode="m")


def set_masked_psn_lambda(model: nn.Module, value: float) -> int:
    """Set ``lambda_`` of every MaskedPSN in ``model`` (``(lambda M_k + (1 - lambda) J) * W``); returns how many."""
    layers = [m for m in model.modules() if isinstance(m, neuron.MaskedPSN)]
    for m in layers:
        m.lambda_ = float(value)
    return len(layers)


def export_refusal(cfg: TrainConfig) -> str | None:
    """Why a model of ``cfg`` cannot go to NIR (and so to no chip), in one line; ``None`` if it can."""
    if cfg.model == "spikformer":
        return (
            "model spikformer cannot be exported: its self-attention multiplies two spike tensors (Q K^T V), "
            "which NIR has no primitive for and no chip computes; train an mlp or cnn to deploy"
        )
    if cfg.neuron in PSN_NEURONS:
        return (
            f"neuron {cfg.neuron} cannot be exported: a parallel spiking neuron mixes all T input steps through a "
            "learned T x T matrix and has no membrane state or reset, so NIR has no primitive for it and no chip "
            "runs it; train with neuron lif, if or plif to deploy"
        )
    return None


def build_model(cfg: TrainConfig, sample_shape, num_classes: int) -> nn.Module:
    """``mlp``: Flatten -> (Linear -> neuron) per ``hidden`` -> Linear -> neuron.

    ``cnn`` (the Speck-compatible Sinabs N-MNIST shape): (Conv2d k x k, pad k//2
    -> neuron -> SumPool2d(2)) per ``channels`` -> Flatten -> Linear -> neuron.

    ``spikformer``: :func:`snncli.trainer.spikformer.build_spikformer`.

    ``qat_bits``: every weight is fake-quantized while training (:mod:`snncli.trainer.qat`).
    """
    shape = tuple(sample_shape)
    if cfg.model == "spikformer":
        # SpikingJelly's model package imports its whole zoo (~0.3 s): only where a Spikformer is built
        from snncli.trainer.spikformer import build_spikformer

        return build_spikformer(cfg, shape, num_classes)
    # Named modules: the names become the NIR node names, so reports read "fc1", "lif1", ...
    kind = cfg.neuron.replace("-", "_")  # masked-psn -> masked_psn1, a plain attribute name
    mods: list[tuple[str, nn.Module]] = []
    if cfg.model == "mlp":
        mods.append(("flatten", layer.Flatten(step_mode="m")))
        width = math.prod(shape)
        for i, h in enumerate(cfg.hidden, 1):
            mods += [(f"fc{i}", layer.Linear(width, h, bias=cfg.bias, step_mode="m")), (f"{kind}{i}", make_neuron(cfg))]
            width = h
    else:
        if len(shape) != 3:
            raise SnnCliError(
                f"model cnn needs image samples [C, H, W], dataset has shape {list(shape)}; use model mlp"
            )
        c, h, w = shape
        for i, out in enumerate(cfg.channels, 1):
            if min(h, w) < 2:
                raise SnnCliError(
                    f"cnn channels {cfg.channels}: {len(cfg.channels)} pooling stages shrink "
                    f"{shape[1]}x{shape[2]} inputs below 1 pixel; use fewer channels entries"
                )
            mods += [
                (
                    f"conv{i}",
                    layer.Conv2d(c, out, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=cfg.bias, step_mode="m"),
                ),
                (f"{kind}{i}", make_neuron(cfg)),
                (f"pool{i}", SumPool2d(2, step_mode="m")),
            ]
            c, h, w = out, h // 2, w // 2
        mods.append(("flatten", layer.Flatten(step_mode="m")))
        width = c * h * w
    mods += [
        ("fc_out", layer.Linear(width, num_classes, bias=cfg.bias, step_mode="m")),
        (f"{kind}_out", make_neuron(cfg)),
    ]
    model = nn.Sequential(OrderedDict(mods))
    return qat.attach(model, cfg.qat_bits) if cfg.qat_bits else model


def spike_counts(out_spikes: torch.Tensor) -> torch.Tensor:
    """``[T, B, classes]`` spikes -> ``[B, classes]`` counts, the logits of the loss."""
    return out_spikes.sum(0)


def predict(out_spikes: torch.Tensor) -> torch.Tensor:
    """Class = ``argmax_c sum_t s[t, b, c]`` (ties go to the lowest index)."""
    return spike_counts(out_spikes).argmax(1)


class FiringRates:
    """Mean firing rate of every hidden neuron layer, ``spikes / (neurons * steps * samples)``.

    Forward hooks sum the spikes and count the elements each hidden neuron
    layer emits (SpikingJelly's ``monitor.OutputMonitor`` does the same but
    imports tensorboard, which we do not install).  The last neuron layer (the
    output) is left out, unless the model says its output is not spikes
    (``spiking_output = False``, the Spikformer).  Use as a context manager around forward passes.
    """

    def __init__(self, model: nn.Module):
        layers = [(n, m) for n, m in model.named_modules() if isinstance(m, SPIKING_CLASSES)]
        if getattr(model, "spiking_output", True):
            layers = layers[:-1]
        self.totals = {name: [0.0, 0] for name, _ in layers}
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in layers]

    def _hook(self, name: str):
        def hook(module, inputs, spikes):
            self.totals[name][0] += spikes.detach().sum().item()
            self.totals[name][1] += spikes.numel()

        return hook

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()

    def rates(self) -> dict[str, float]:
        """Per hidden layer (module name -> rate)."""
        return {name: s / n for name, (s, n) in self.totals.items() if n}

    def mean(self) -> float:
        """Pooled over all hidden neurons: total spikes / total neuron-steps."""
        count = sum(n for _, n in self.totals.values())
        return sum(s for s, _ in self.totals.values()) / count if count else 0.0
