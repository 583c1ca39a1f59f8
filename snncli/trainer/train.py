"""Surrogate-gradient BPTT training of the spiking models, with resumable checkpoints.

Loss: cross-entropy on output spike counts, ``L = CE(sum_t s_out[t], y)``
(counts are the logits).  Gradients flow back through all T steps, the
Heaviside spike replaced by the chosen surrogate's derivative.

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``;
the shuffle order and the encoder's random draws of epoch ``e`` come from
generators seeded with ``(seed, e)``.  So a run resumed from ``last.pt`` after
epoch ``e`` sees exactly the batches and spikes the uninterrupted run saw.

Run directory::

    config.yaml           resolved config
    checkpoints/last.pt   model + optimizer state, epoch, metrics, rng states
    checkpoints/best.pt   the same, at the best test accuracy
    metrics.json          one entry per epoch
    training_curves.png

Launched by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) it trains with
DistributedDataParallel: each process takes its shard of every epoch
(``DistributedSampler``), ``batch_size`` is per process, rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, SequentialSampler, TensorDataset
from tqdm.auto import tqdm

from snncli.data.datasets import Dataset, load_dataset
from snncli.data.encoders import make_encoder
from snncli.errors import SnnCliError
from snncli.trainer.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, write_metrics
from snncli.trainer import qat
from snncli.trainer.config import RUNTIME_KEYS, TrainConfig, load_config, save_config
from snncli.trainer.models import FiringRates, build_model, predict, spike_counts
from snncli.trainer.plots import plot_training_curves


def resolve_device(cfg: TrainConfig, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda`` if available, else ``cpu``; under DDP each process takes ``cuda:LOCAL_RANK``."""
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SnnCliError(f"device {cfg.device!r} requested but this torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(cfg.device)


def _seed(*parts: int) -> int:
    """A 63-bit seed from a tuple of ints (numpy's SeedSequence mixes them, no collisions like seed + epoch)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def limit(ds: Dataset, cfg: TrainConfig) -> Dataset:
    """Keep the first ``limit_train`` / ``limit_test`` samples (the splits are already shuffled or official)."""
    return replace(ds, train_x=ds.train_x[: cfg.limit_train], train_y=ds.train_y[: cfg.limit_train],
                   test_x=ds.test_x[: cfg.limit_test], test_y=ds.test_y[: cfg.limit_test])


def encoder_from_config(cfg: TrainConfig):
    """The input encoder a run was trained with (name, T and options from ``cfg``)."""
    return make_encoder(cfg.encoder, cfg.time_steps, **cfg.encoder_options())


def _run_batches(model, loader, encoder, device, gen, train_step=None, bar=None):
    """Forward every batch of ``loader``; with ``train_step(loss)`` also learn.  Returns (loss sum, correct, samples)."""
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True).float(), y.to(device, non_blocking=True)
        out = model(encoder(x, gen))
        loss = F.cross_entropy(spike_counts(out), y)
        if train_step is not None:
            train_step(loss)
        functional.reset_net(model)  # membrane potentials start at v_reset for the next batch
        loss_sum += loss.item() * len(y)
        correct += (predict(out) == y).sum().item()
        seen += len(y)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
    return loss_sum, correct, seen


def _test_loader(ds: Dataset, cfg: TrainConfig) -> DataLoader:
    data = TensorDataset(torch.from_numpy(ds.test_x), torch.from_numpy(ds.test_y))
    return DataLoader(data, sampler=BatchSampler(SequentialSampler(data), max(cfg.batch_size, 256), False), batch_size=None)


@torch.no_grad()
def _evaluate(model, ds, cfg, device) -> tuple[float, float, dict]:
    """Test accuracy, mean test loss and hidden firing rates; the encoder's draws are seeded by ``(seed, 2**31)``."""
    gen = torch.Generator(device=device).manual_seed(_seed(cfg.seed, 2**31))
    model.eval()
    with FiringRates(model) as fr:
        loss_sum, correct, seen = _run_batches(model, _test_loader(ds, cfg), encoder_from_config(cfg), device, gen)
    return correct / seen, loss_sum / seen, {"mean": fr.mean(), **fr.rates()}


def evaluate(model: nn.Module, dataset: Dataset, cfg: TrainConfig, device: str | torch.device = "cpu") -> float:
    """Accuracy of ``model`` on the test split of ``dataset``, encoded as ``cfg`` says."""
    model.to(device)
    return _evaluate(model, dataset, cfg, torch.device(device))[0]


def _check_run_dir(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    if resume:
        if not (run_dir / "checkpoints" / "last.pt").is_file():
            raise SnnCliError(f"cannot resume: {run_dir}/checkpoints/last.pt does not exist; train without --resume")
        saved = load_config(run_dir / "config.yaml")
        diff = [f"{k}: {getattr(saved, k)!r} -> {getattr(cfg, k)!r}" for k in cfg.to_dict()
                if k not in RUNTIME_KEYS and getattr(saved, k) != getattr(cfg, k)]
        if diff:
            raise SnnCliError(f"cannot resume {run_dir}: its config differs ({'; '.join(diff)}); "
                              "resume with the same config or train into a new run directory")
    elif run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise SnnCliError(f"run directory {run_dir} is not empty; pass --resume to continue that run, or choose a new directory")


def _mismatch(exc: RuntimeError) -> str:
    """The first detail of torch's ``load_state_dict`` error (its first line only says where)."""
    lines = str(exc).splitlines()
    return lines[1].strip() if len(lines) > 1 else str(exc)


def _load_initial_weights(model: nn.Module, source_run: str, device) -> None:
    """Fine-tuning: start from the weights of ``source_run``'s best checkpoint (quantized by QAT if it was)."""
    source, _cfg, _info = load_trained(source_run, "best", device)
    try:
        model.load_state_dict(qat.latent_state(source.state_dict(), model))
    except RuntimeError as exc:
        raise SnnCliError(f"init_from {source_run}: its model does not fit this config ({_mismatch(exc)}); "
                          "fine-tune with the same model, sizes and dataset shape") from None


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """Cosine decay per optimiser step, ``lr_k = lr (1 + cos(pi k / K)) / 2``, or constant."""
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total)) if cfg.lr_schedule == "cosine" else cfg.lr


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train(cfg: TrainConfig, run_dir: str | os.PathLike, resume: bool = False, progress: bool = True,
          on_epoch=None) -> dict:
    """Train ``cfg``'s model on ``cfg``'s dataset into ``run_dir``; ``on_epoch(metrics_entry)`` after each epoch.

    Returns ``{best_test_acc, final_test_acc, best_epoch, epochs, seconds, firing_rate, run_dir, device, ...}``.
    """
    run_dir = Path(run_dir)
    world, rank, local_rank = (int(os.environ.get(k, d)) for k, d in (("WORLD_SIZE", 1), ("RANK", 0), ("LOCAL_RANK", 0)))
    distributed = world > 1
    device = resolve_device(cfg, local_rank)
    _check_run_dir(cfg, run_dir, resume)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        dist.barrier()  # every rank has checked the run dir before rank 0 writes into it
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = False  # cuDNN autotuning picks kernels by timing: not reproducible
    main = rank == 0

    torch.manual_seed(cfg.seed)
    ds = limit(load_dataset(cfg.dataset, cfg.data_root, cfg.seed, cfg.time_steps if cfg.encoder == "frames" else None), cfg)
    model = build_model(cfg, ds.sample_shape, ds.num_classes).to(device)
    optimizer = _optimizer(cfg, model.parameters())
    start, metrics, best = 0, [], -1.0
    ckpt_dir = run_dir / "checkpoints"
    if resume:
        ckpt = load_checkpoint(ckpt_dir / "last.pt", device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        start, metrics = ckpt["epoch"], ckpt["metrics"]
        best = max((m["test_acc"] for m in metrics), default=-1.0)
    elif cfg.init_from:
        _load_initial_weights(model, cfg.init_from, device)
    if main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if distributed else model

    train_set = TensorDataset(torch.from_numpy(ds.train_x), torch.from_numpy(ds.train_y))
    shuffle_gen = torch.Generator()
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=cfg.seed) if distributed \
        else RandomSampler(train_set, generator=shuffle_gen)
    # batch_size=None + a BatchSampler: the TensorDataset is indexed once per batch, not once per sample
    loader = DataLoader(train_set, sampler=BatchSampler(sampler, cfg.batch_size, drop_last=False), batch_size=None,
                        num_workers=cfg.num_workers, pin_memory=device.type == "cuda", generator=shuffle_gen)
    encoder = encoder_from_config(cfg)
    enc_gen = torch.Generator(device=device)
    steps_per_epoch, total_steps = len(loader), len(loader) * cfg.epochs
    info = ds.info()

    def payload(epoch: int) -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "metrics": metrics,
                "rng": rng_state(), "config": cfg.to_dict(), "dataset": info}

    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        shuffle_gen.manual_seed(_seed(cfg.seed, epoch))
        enc_gen.manual_seed(_seed(cfg.seed, epoch, rank))
        if distributed:
            sampler.set_epoch(epoch)
        step = epoch * steps_per_epoch

        def train_step(loss):
            nonlocal step
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(cfg, step, total_steps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1

        net.train()
        with tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (progress and main),
                  leave=True, dynamic_ncols=True) as bar:
            totals = _run_batches(net, loader, encoder, device, enc_gen, train_step, bar)
            if distributed:
                t = torch.tensor(totals, dtype=torch.float64, device=device)
                dist.all_reduce(t)
                totals = t.tolist()
            test_acc, test_loss, rates = _evaluate(model, ds, cfg, device)
            bar.set_postfix(loss=f"{totals[0] / totals[2]:.4f}", acc=f"{totals[1] / totals[2]:.3f}", test=f"{test_acc:.3f}")
        metrics.append({"epoch": epoch + 1, "loss": totals[0] / totals[2], "train_acc": totals[1] / totals[2],
                        "test_loss": test_loss, "test_acc": test_acc, "firing_rate": rates.pop("mean"), "firing_rates": rates,
                        "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0})
        if main:
            if test_acc > best:
                best = test_acc
                save_checkpoint(payload(epoch + 1), ckpt_dir / "best.pt")
            if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                save_checkpoint(payload(epoch + 1), ckpt_dir / "last.pt")
            write_metrics(metrics, run_dir / "metrics.json")
            plot_training_curves(metrics, run_dir / "training_curves.png")
        if on_epoch is not None:
            on_epoch(metrics[-1])

    if distributed:
        dist.destroy_process_group()
    best_entry = max(metrics, key=lambda m: m["test_acc"])
    return {"best_test_acc": best_entry["test_acc"], "best_epoch": best_entry["epoch"],
            "final_test_acc": metrics[-1]["test_acc"], "firing_rate": metrics[-1]["firing_rate"],
            "epochs": len(metrics), "seconds": sum(m["seconds"] for m in metrics), "run_dir": str(run_dir),
            "device": str(device), "dataset": info, "parameters": sum(p.numel() for p in model.parameters())}


def load_trained(run_dir: str | os.PathLike, which: str = "best", device: str | torch.device = "cpu"):
    """Rebuild the model of ``run_dir`` from its config.yaml and load ``checkpoints/{which}.pt``.

    Returns ``(model in eval mode, TrainConfig, dataset info dict)``, quantization-aware
    models with their weights quantized (:func:`snncli.trainer.qat.bake`); the
    dataset info (``sample_shape``, ``num_classes``, ...) comes from the
    checkpoint, so the dataset itself is not needed.
    """
    if which not in ("best", "last"):
        raise SnnCliError(f"checkpoint {which!r} does not exist; choose best or last")
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise SnnCliError(f"{run_dir} is not a training run (no config.yaml); pass the directory `snncli train` wrote")
    cfg = load_config(run_dir / "config.yaml")
    ckpt = load_checkpoint(run_dir / "checkpoints" / f"{which}.pt", device)
    info = ckpt["dataset"]
    model = build_model(cfg, info["sample_shape"], info["num_classes"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise SnnCliError(f"{run_dir}/checkpoints/{which}.pt does not fit the model its config.yaml describes "
                          f"({_mismatch(exc)}); it was written by another snncli version or config: retrain") from None
    return qat.bake(model).to(device).eval(), cfg, info
