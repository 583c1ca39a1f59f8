"""ANN-to-SNN conversion: train a ReLU network, convert it with SpikingJelly, write an ordinary run.

    summary = convert(cfg, "runs/digits_converted")          # trains the ReLU twin, converts, writes the run
    summary = convert(cfg, "runs/t64", ann_checkpoint="runs/digits_converted/ann.pt")   # reuses that ANN

The ReLU network has the architecture of ``cfg``'s model (:func:`build_ann`): ``mlp``
``Flatten -> (Linear -> ReLU)* -> Linear -> ReLU``; ``cnn`` ``(Conv -> ReLU ->
AvgPool2d(2))* -> Flatten -> Linear -> ReLU``.  It is trained on the logits ``z`` before
the last ReLU (cross-entropy), and classifies by ``argmax`` of the ReLU'd output, the
function that is converted: the output layer becomes spiking neurons whose counts
snncli reads as the class scores, and a neuron with negative input never fires.  So
that the ReLU hides no winner, :func:`shift_output_bias` then adds ``c = max(0,
-min_i max_k z_ik)`` over the training samples to every output bias (argmax and
softmax do not change; every training sample's winning logit is then >= 0).

SpikingJelly's ``ann2snn.Converter`` with ``RateCodingRecipe(mode, channel_wise=
ann2snn_channel_wise)`` (``mode`` from ``ann2snn_mode``/``ann2snn_value``: ``"max"``,
``"99.9%"``, ``0.5``: :func:`snncli.trainer.config.ann2snn_mode`) runs the training samples through the ANN,
takes an activation scale ``s_l`` per ReLU (the running max, a percentile, or a
fraction of the max: its ``VoltageHook``) and replaces each ``ReLU`` by
``VoltageScaler(1/s_l) -> IFNode(v_threshold=1, v_reset=None) -> VoltageScaler(s_l)``:
integrate-and-fire with reset by subtraction, threshold 1, fed the same analog input
every step (direct encoding).

Folding (:func:`fold_scales`) turns that graph into snncli's own ``mlp``/``cnn`` with
IF neurons, so :func:`snncli.trainer.models.build_model` rebuilds it from the run's
config and ``export``/``simulate``/``parity`` take it like a trained run.  Layer ``l``
of the graph feeds its IF neurons ``(W_l (s_{l-1} z_{l-1}) + b_l) / s_l`` where
``z_{l-1}`` are the previous layer's spikes (for a conv layer after a pool,
``AvgPool(s z) = (s/4) SumPool(z)``); so::

    W'_l[o, i] = W_l[o, i] * s_{l-1}[i] / (p_l s_l[o])      b'_l[o] = b_l[o] / s_l[o]

with ``s_0 = 1`` (the input), ``p_l = 4`` after a 2x2 pool (snncli's SumPool2d) and 1
otherwise; scalar scales (one per layer) broadcast, channel-wise ones follow the
channel (repeated over H x W across the Flatten).  The folded network's output spike
counts times ``s_L`` equal the sum over T of the converter graph's output
(``tests/test_convert.py`` checks this on test data).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import functional

from snncli.data.datasets import Dataset, load_dataset
from snncli.errors import SnnCliError
from snncli.trainer.checkpoint import rng_state, save_checkpoint, write_metrics
from snncli.trainer.config import TrainConfig, ann2snn_mode, load_config, save_config
from snncli.trainer.models import FiringRates, build_model, predict
from snncli.trainer.train import limit, resolve_device

CONVERTIBLE_MODELS = ("mlp", "cnn")


def check_convertible(cfg: TrainConfig) -> None:
    """Refuse, in one line, what conversion cannot produce (before any work)."""
    if cfg.model not in CONVERTIBLE_MODELS:
        raise SnnCliError(f"convert takes model mlp or cnn, not {cfg.model!r}")
    if cfg.encoder != "direct":
        raise SnnCliError(
            f"convert feeds the analog input every step (encoder direct), not encoder {cfg.encoder!r}; "
            "event datasets cannot be converted"
        )
    if cfg.qat_bits or cfg.stdp_epochs:
        raise SnnCliError(
            "convert with qat_bits or stdp_epochs: convert first, then fine-tune the converted run "
            "(`snncli train --init-from RUN --qat-bits 8`)"
        )


def snn_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` as the converted network runs: IF neurons, threshold 1, reset by subtraction, direct input."""
    return load_config(
        None, {**cfg.to_dict(), "neuron": "if", "v_threshold": 1.0, "reset": "subtract", "encoder": "direct"}
    )


def build_ann(cfg: TrainConfig, sample_shape, num_classes: int) -> nn.Sequential:
    """The ReLU network with the architecture (and layer names) of ``cfg``'s ``mlp`` or ``cnn``."""
    shape = tuple(sample_shape)
    mods: list[tuple[str, nn.Module]] = []
    if cfg.model == "mlp":
        mods.append(("flatten", nn.Flatten()))
        width = math.prod(shape)
        for i, h in enumerate(cfg.hidden, 1):
            mods += [(f"fc{i}", nn.Linear(width, h, bias=cfg.bias)), (f"relu{i}", nn.ReLU())]
            width = h
    else:
        if len(shape) != 3:
            raise SnnCliError(
                f"model cnn needs image samples [C, H, W], dataset has shape {list(shape)}; use model mlp"
            )
        c, h, w = shape
        for i, out in enumerate(cfg.channels, 1):
            mods += [
                (f"conv{i}", nn.Conv2d(c, out, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=cfg.bias)),
                (f"relu{i}", nn.ReLU()),
                (f"pool{i}", nn.AvgPool2d(2)),
            ]
            c, h, w = out, h // 2, w // 2
        mods.append(("flatten", nn.Flatten()))
        width = c * h * w
    mods += [("fc_out", nn.Linear(width, num_classes, bias=cfg.bias)), ("relu_out", nn.ReLU())]
    return nn.Sequential(OrderedDict(mods))


# ---------------------------------------------------------------- the ANN


def _batches(x: np.ndarray, y: np.ndarray | None, size: int, order: np.ndarray | None = None):
    index = np.arange(len(x)) if order is None else order
    for start in range(0, len(index), size):
        part = index[start : start + size]
        xb = torch.from_numpy(np.ascontiguousarray(x[part])).float()
        yield (xb, torch.from_numpy(y[part])) if y is not None else xb


@torch.no_grad()
def ann_accuracy(ann: nn.Sequential, x: np.ndarray, y: np.ndarray, device, batch_size: int = 512) -> float:
    """Share of ``argmax(ann(x)) == y``: the ReLU'd output, the function that is converted."""
    ann.eval()
    correct = sum((ann(xb.to(device)).argmax(1).cpu() == yb).sum().item() for xb, yb in _batches(x, y, batch_size))
    return correct / len(y)


def train_ann(ann: nn.Sequential, ds: Dataset, cfg: TrainConfig, device, log=None) -> list[dict]:
    """``ann_epochs`` of cross-entropy on the logits before the last ReLU, with ``cfg``'s optimiser,
    batch size, learning rate and schedule; the shuffle of epoch ``e`` is seeded by ``(seed, e)``."""
    params = list(ann.parameters())
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        optimizer = cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    logits = ann[:-1]
    steps = math.ceil(len(ds.train_y) / cfg.batch_size)
    total, step, history = steps * cfg.ann_epochs, 0, []
    for epoch in range(cfg.ann_epochs):
        t0 = time.perf_counter()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(ds.train_y))
        ann.train()
        loss_sum, correct = 0.0, 0
        for xb, yb in _batches(ds.train_x, ds.train_y, cfg.batch_size, order):
            xb, yb = xb.to(device), yb.to(device)
            lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total)) if cfg.lr_schedule == "cosine" else cfg.lr
            for group in optimizer.param_groups:
                group["lr"] = lr
            z = logits(xb)
            loss = F.cross_entropy(z, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(yb)
            correct += (z.detach().argmax(1) == yb).sum().item()
        entry = {
            "epoch": epoch + 1,
            "phase": "ann",
            "loss": loss_sum / len(ds.train_y),
            "train_acc": correct / len(ds.train_y),
            "lr": lr,
            "seconds": time.perf_counter() - t0,
        }
        history.append(entry)
        if log is not None:
            print(
                f"ANN epoch {epoch + 1}/{cfg.ann_epochs}: loss {entry['loss']:.4f} train {entry['train_acc']:.3f} "
                f"({entry['seconds']:.1f} s)",
                file=log,
                flush=True,
            )
    ann.eval()
    return history


@torch.no_grad()
def shift_output_bias(ann: nn.Sequential, x: np.ndarray, device, batch_size: int = 512) -> float:
    """Add ``c = max(0, -min_i max_k z_ik)`` to the output layer's bias (``z``: the logits of the samples ``x``),
    so that every sample's largest logit survives the output ReLU; returns ``c`` (0 without a bias, or when
    already so: a second call changes nothing)."""
    head = ann.fc_out
    if head.bias is None:
        return 0.0
    ann.eval()
    lowest = min(ann[:-1](xb.to(device)).max(1).values.min().item() for xb in _batches(x, None, batch_size))
    shift = max(0.0, -lowest)
    head.bias += shift
    return shift


def load_ann(ann: nn.Sequential, path: str, device) -> None:
    """Load a state dict written by an earlier :func:`convert` (``RUN/ann.pt``) into ``ann``."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise SnnCliError(f"no ANN checkpoint at {path}; pass the ann.pt an earlier `snncli convert` wrote") from None
    except Exception as e:  # truncated, or not a torch file
        raise SnnCliError(f"cannot read ANN checkpoint {path} ({str(e).splitlines()[0][:120]})") from None
    try:
        ann.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        detail = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise SnnCliError(
            f"ANN checkpoint {path} does not fit {describe(ann)} ({detail[:200]}); convert with the "
            "model, sizes and dataset it was trained with"
        ) from None


def describe(ann: nn.Sequential) -> str:
    return "a ReLU network " + " -> ".join(type(m).__name__ for m in ann if not isinstance(m, nn.ReLU))


# ---------------------------------------------------------------- conversion and folding


def convert_ann(
    ann: nn.Sequential, calibration, mode: str | float, channel_wise: bool, device, quiet: bool = True
) -> nn.Module:
    """SpikingJelly's ``Converter`` (``RateCodingRecipe``) applied to a copy of ``ann``; calibrates on the
    tensors ``calibration`` yields.  Returns its graph module (single-step, IF neurons between scalers)."""
    from spikingjelly.activation_based import ann2snn

    recipe = ann2snn.RateCodingRecipe(dataloader=calibration, mode=mode, channel_wise=channel_wise)
    # its calibration loop draws a tqdm bar on stderr whatever we say: hidden when quiet
    with contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext():
        return ann2snn.Converter(recipe=recipe, device=device).convert(copy.deepcopy(ann).to(device))


def converter_scales(graph: nn.Module) -> list[torch.Tensor]:
    """The activation scale ``s_l`` of every converted ReLU, in graph order (the ``scaler1`` after each IF node)."""
    modules = dict(graph.named_modules())
    scales = [
        modules[node.target].scale.detach().clone()
        for node in graph.graph.nodes
        if node.op == "call_module" and str(node.target).endswith(".scaler1")
    ]
    for node in graph.graph.nodes:  # each scaler0 must be 1/s: threshold 1 and nothing else in between
        if node.op == "call_module" and str(node.target).endswith(".scaler0"):
            theta = getattr(modules[str(node.target).replace(".scaler0", ".if_node")], "v_threshold", None)
            if theta != 1.0:
                raise SnnCliError(f"converter graph node {node.target}: IF threshold {theta}, expected 1.0")
    return scales


def _per_channel(scale: torch.Tensor, channels: int) -> torch.Tensor:
    return scale.double().reshape(-1).expand(channels) if scale.numel() == 1 else scale.double().reshape(-1)


@torch.no_grad()
def fold_scales(ann: nn.Sequential, scales: list[torch.Tensor], snn: nn.Module) -> None:
    """Write ``W'_l = W_l s_{l-1} / (p_l s_l)``, ``b'_l = b_l / s_l`` into ``snn``'s layers of the same names
    (see the module docstring); ``scales`` as :func:`converter_scales` gives them."""
    weighted = [(n, m) for n, m in ann.named_children() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if len(weighted) != len(scales):
        raise SnnCliError(
            f"the converter replaced {len(scales)} ReLUs but the network has {len(weighted)} "
            "weighted layers; cannot fold"
        )
    s_in: torch.Tensor | None = None  # per input channel/feature of the next weighted layer; None: the input (1)
    k = 0
    for name, module in ann.named_children():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            w = module.weight.double()
            fan_in = w.shape[1]
            s_prev = torch.ones(fan_in, dtype=torch.float64) if s_in is None else s_in
            if s_prev.numel() != fan_in:  # a Flatten between a conv and this Linear: repeat each channel's scale
                s_prev = s_prev.repeat_interleave(fan_in // s_prev.numel())
            s_out = _per_channel(scales[k].cpu(), w.shape[0])
            shape = (-1,) + (1,) * (w.dim() - 1)
            target = getattr(snn, name)
            folded = w * s_prev.reshape(1, -1, *([1] * (w.dim() - 2))) / s_out.reshape(shape)
            target.weight.copy_(folded.to(target.weight.dtype))
            if module.bias is not None:
                target.bias.copy_((module.bias.double() / s_out).to(target.bias.dtype))
            s_in, k = s_out, k + 1
        elif isinstance(module, nn.AvgPool2d):
            size = module.kernel_size
            # AvgPool(s z) = (s / k^2) SumPool(z)
            s_in = s_in / (size * size if isinstance(size, int) else math.prod(size))


@torch.no_grad()
def accuracy_by_steps(
    model: nn.Module, x: np.ndarray, y: np.ndarray, steps: list[int], device, batch_size: int | None = None
) -> tuple[dict[int, float], dict]:
    """Accuracy after each ``t`` in ``steps`` (one run of ``max(steps)`` steps: the first ``t`` steps of a
    direct-encoded run are the run of ``t`` steps), and the firing rates over ``max(steps)`` steps.
    ``batch_size`` defaults to ``8192 // max(steps)`` samples (at least 1): T x batch bounds the memory."""
    steps = sorted(set(int(t) for t in steps))
    horizon = steps[-1]
    batch_size = batch_size or max(1, 8192 // horizon)
    model.eval().to(device)
    correct = {t: 0 for t in steps}
    with FiringRates(model) as rates:
        for xb, yb in _batches(x, y, batch_size):
            xb = xb.to(device)
            out = model(xb.unsqueeze(0).expand(horizon, *xb.shape))
            functional.reset_net(model)
            counts = out.cumsum(0)
            for t in steps:
                correct[t] += (predict(counts[t - 1 : t]).cpu() == yb).sum().item()
    return {t: c / len(y) for t, c in correct.items()}, {"mean": rates.mean(), **rates.rates()}


# ---------------------------------------------------------------- the run


def _check_new_dir(run_dir: Path) -> None:
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise SnnCliError(f"run directory {run_dir} is not empty; convert into a new directory")


def convert(cfg: TrainConfig, run_dir, ann_checkpoint: str | None = None, progress: bool = True) -> dict:
    """Train (or load) the ReLU twin of ``cfg``'s model, convert it, write ``run_dir`` as a run.

    Reads from ``cfg``: ``model``, ``hidden`` / ``channels`` / ``kernel_size``, ``bias``,
    ``dataset``, ``data_root``, ``limit_train``, ``limit_test``, ``seed``, ``device``,
    ``time_steps``; for the ANN ``ann_epochs``, ``batch_size``, ``lr``, ``optimizer``,
    ``weight_decay``, ``lr_schedule``; for the conversion ``ann2snn_mode``, ``ann2snn_value``,
    ``ann2snn_channel_wise``.  The run's config.yaml is ``cfg`` with ``neuron: if``,
    ``v_threshold: 1``, ``reset: subtract``, ``encoder: direct``.

    Writes ``config.yaml``, ``checkpoints/best.pt`` and ``last.pt`` (the same checkpoint
    format as ``train``, plus ``"conversion"``; they cannot be resumed, fine-tune with
    ``train --init-from``), ``metrics.json`` and ``ann.pt`` (the ANN's state dict, for
    ``ann_checkpoint`` of a later convert).  Returns the summary also stored as
    ``metrics.json``'s ``"conversion"`` and ``"test"``.
    """
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    check_convertible(cfg)
    mode = ann2snn_mode(cfg)
    out_cfg = snn_config(cfg)
    _check_new_dir(run_dir)
    log = sys.stderr if progress else None
    device = resolve_device(cfg)
    torch.manual_seed(cfg.seed)
    ds = limit(load_dataset(cfg.dataset, cfg.data_root, cfg.seed), cfg)
    snn = build_model(out_cfg, ds.sample_shape, ds.num_classes)  # first: its shape checks name the config keys
    ann = build_ann(cfg, ds.sample_shape, ds.num_classes).to(device)
    history: list[dict] = []
    if ann_checkpoint:
        load_ann(ann, ann_checkpoint, device)
    else:
        history = train_ann(ann, ds, cfg, device, log)
    bias_shift = shift_output_bias(ann, ds.train_x, device)
    ann_acc = ann_accuracy(ann, ds.test_x, ds.test_y, device)
    calibration = list(_batches(ds.train_x, None, 256))
    graph = convert_ann(ann, calibration, mode, cfg.ann2snn_channel_wise, device, quiet=not progress)
    scales = converter_scales(graph)
    fold_scales(ann.cpu(), scales, snn)
    snn = snn.to(device)
    by_steps, rates = accuracy_by_steps(snn, ds.test_x, ds.test_y, [cfg.time_steps], device)
    snn_acc = by_steps[cfg.time_steps]
    if log is not None:
        print(
            f"converted ({mode}{', channel-wise' if cfg.ann2snn_channel_wise else ''}): "
            f"ANN {100 * ann_acc:.2f} % -> SNN {100 * snn_acc:.2f} % at T = {cfg.time_steps}",
            file=log,
            flush=True,
        )

    conversion = {
        "converted_from_ann": True,
        "ann_test_acc": ann_acc,
        "ann2snn_mode": cfg.ann2snn_mode,
        "ann2snn_value": None if cfg.ann2snn_mode == "max" else cfg.ann2snn_value,
        "recipe_mode": mode,
        "channel_wise": cfg.ann2snn_channel_wise,
        "time_steps": cfg.time_steps,
        "ann_checkpoint": str(ann_checkpoint) if ann_checkpoint else str(run_dir / "ann.pt"),
        "ann_trained_here": not ann_checkpoint,
        "ann_epochs": cfg.ann_epochs if not ann_checkpoint else None,
        "output_bias_shift": bias_shift,
        "scales": [s.reshape(-1).tolist() for s in scales],
        "converter": "spikingjelly.activation_based.ann2snn.Converter(RateCodingRecipe), scales folded into weights",
    }
    test = {
        "checkpoint": "best",
        "epoch": len(history),
        "selection": "the converted network (no selection)",
        "val_acc": None,
        "test_acc": snn_acc,
        "test_loss": None,
        "firing_rate": rates.pop("mean"),
        "firing_rates": rates,
        "test_samples": int(len(ds.test_y)),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    save_config(out_cfg, run_dir / "config.yaml")
    if not ann_checkpoint:
        save_checkpoint({k: v.cpu() for k, v in ann.state_dict().items()}, run_dir / "ann.pt")
    payload = {
        "model": {k: v.cpu() for k, v in snn.state_dict().items()},
        "optimizer": None,
        "epoch": len(history),
        "metrics": history,
        "rng": rng_state(),
        "config": out_cfg.to_dict(),
        "dataset": ds.info(),
        "conversion": conversion,
        "test": test,
    }
    for name in ("best.pt", "last.pt"):
        save_checkpoint(payload, run_dir / "checkpoints" / name)
    write_metrics(
        {"validation": None, "epochs": history, "selection": test["selection"], "test": test, "conversion": conversion},
        run_dir / "metrics.json",
    )
    return {
        "accuracy": snn_acc,
        "test_accuracy": snn_acc,
        "ann_test_accuracy": ann_acc,
        "time_steps": cfg.time_steps,
        "ann2snn_mode": cfg.ann2snn_mode,
        "recipe_mode": mode,
        "channel_wise": cfg.ann2snn_channel_wise,
        "firing_rate": test["firing_rate"],
        "run_dir": str(run_dir),
        "device": str(device),
        "dataset": ds.info(),
        "ann_checkpoint": conversion["ann_checkpoint"],
        "parameters": sum(p.numel() for p in snn.parameters()),
        "seconds": time.perf_counter() - t_start,
    }
