"""Surrogate-gradient BPTT training of the spiking models, with resumable checkpoints.

Loss: cross-entropy on output spike counts, ``L = CE(sum_t s_out[t], y)``
(counts are the logits).  Gradients flow back through all T steps, the
Heaviside spike replaced by the chosen surrogate's derivative.

Model selection: ``val_fraction`` of the training samples (after ``limit_train``)
is held out, stratified by class and drawn with the run's seed.  Each epoch is
scored on that validation split; ``best.pt`` is the epoch with the best
validation accuracy (the first one on ties).  The test split is evaluated once,
at the end, on the selected checkpoint only.  With ``val_fraction: 0`` the last
epoch is selected.

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``;
the validation split, the shuffle order and the encoder's random draws of epoch
``e`` come from generators seeded with ``(seed, ...)``.  So a run resumed from
``last.pt`` after epoch ``e`` sees exactly the split, batches and spikes the
uninterrupted run saw.  ``deterministic: true`` also fixes the kernels and the
thread count, so runs are bit-identical on one machine (see :func:`determinism`).

Run directory::

    config.yaml           resolved config
    checkpoints/last.pt   model + optimizer state, epoch, metrics, rng states, validation indices
    checkpoints/best.pt   the same, at the best validation accuracy (+ its test result at the end)
    metrics.json          {"validation": split, "epochs": [...], "selection": ..., "test": ...}
    training_curves.png

Launched by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) it trains with
DistributedDataParallel: each process takes its shard of every epoch
(``DistributedSampler``), ``batch_size`` is per process, rank 0 writes files.
Every rank evaluates the whole validation split, so all take the same decisions.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)
from tqdm.auto import tqdm

from snncli.data.datasets import Dataset, load_dataset
from snncli.data.encoders import make_encoder
from snncli.errors import SnnCliError
from snncli.trainer import qat
from snncli.trainer.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, write_metrics
from snncli.trainer.config import RUNTIME_KEYS, TrainConfig, load_config, save_config, show
from snncli.trainer.models import FiringRates, build_model, predict, set_masked_psn_lambda, spike_counts
from snncli.trainer.plots import plot_training_curves

# Seed streams: (seed, stream, ...) -> generator seeds that never collide with (seed, epoch[, rank]).
_VAL_SPLIT, _VAL_DRAWS, _TEST_DRAWS = 2**31 + 2, 2**31 + 1, 2**31


def resolve_device(cfg: TrainConfig, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda`` if available, else ``cpu``; under DDP each process takes ``cuda:LOCAL_RANK``."""
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SnnCliError(f"device {cfg.device!r} requested but this torch sees no CUDA GPU; use --device cpu or auto")
    device = torch.device(cfg.device)
    if device.type == "cuda" and device.index is None:  # plain "cuda": this process's GPU (torch wants an index)
        device = torch.device("cuda", local_rank)
    return device


def _seed(*parts: int) -> int:
    """A 63-bit seed from a tuple of ints (numpy's SeedSequence mixes them, no collisions like seed + epoch)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def limit(ds: Dataset, cfg: TrainConfig) -> Dataset:
    """Keep the first ``limit_train`` / ``limit_test`` samples (the splits are already shuffled or official)."""
    return replace(
        ds,
        train_x=ds.train_x[: cfg.limit_train],
        train_y=ds.train_y[: cfg.limit_train],
        test_x=ds.test_x[: cfg.limit_test],
        test_y=ds.test_y[: cfg.limit_test],
    )


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the validation samples: ``round(fraction * N)`` of them, stratified.

    Each class ``c`` gives ``floor(fraction * n_c)`` samples, the remainder going to the
    classes with the largest fractional parts (ties: lower class), each class's
    samples drawn by a generator seeded with ``(seed, stream)``.
    """
    labels = np.asarray(labels)
    total = int(round(fraction * len(labels)))
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(_seed(seed, _VAL_SPLIT))
    classes, counts = np.unique(labels, return_counts=True)
    quota = fraction * counts
    take = np.floor(quota).astype(np.int64)
    order = sorted(range(len(classes)), key=lambda i: (-(quota[i] - take[i]), i))
    for i in order[: total - int(take.sum())]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _split_info(val_idx: np.ndarray, n: int, cfg: TrainConfig) -> dict:
    return {
        "size": int(len(val_idx)),
        "fraction": cfg.val_fraction,
        "of_train_samples": int(n),
        "stratified": True,
        "seed": cfg.seed,
        "indices_sha256": hashlib.sha256(val_idx.astype("<i8").tobytes()).hexdigest(),
    }


def encoder_from_config(cfg: TrainConfig):
    """The input encoder a run was trained with (name, T and options from ``cfg``)."""
    return make_encoder(cfg.encoder, cfg.time_steps, **cfg.encoder_options())


def _run_batches(model, loader, encoder, device, gen, step=None, log=None):
    """Forward every batch of ``loader``; ``step(x, y) -> (loss, out)`` learns.  Returns (loss sum, correct, samples)."""
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True).float(), y.to(device, non_blocking=True)
        if step is None:
            out = model(encoder(x, gen))
            loss = F.cross_entropy(spike_counts(out), y)
            functional.reset_net(model)  # membrane potentials start at v_reset for the next batch
        else:
            loss, out = step(encoder(x, gen), y)
        loss_sum += loss.item() * len(y)
        correct += (predict(out) == y).sum().item()
        seen += len(y)
        if log is not None:
            log.batch(loss_sum / seen, correct / seen)
    return loss_sum, correct, seen


def _eval_loader(x: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> DataLoader:
    data = TensorDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)))
    return DataLoader(
        data, sampler=BatchSampler(SequentialSampler(data), max(cfg.batch_size, 256), False), batch_size=None
    )


@torch.no_grad()
def _evaluate_split(model, x, y, cfg, device, stream: int) -> dict:
    """Accuracy, mean loss and hidden firing rates on ``(x, y)``; the encoder's draws are seeded by ``(seed, stream)``."""
    if len(y) == 0:
        return {"acc": None, "loss": None, "firing_rate": None, "firing_rates": {}}
    gen = torch.Generator(device=device).manual_seed(_seed(cfg.seed, stream))
    was_training = model.training
    model.eval()
    set_masked_psn_lambda(model, 1.0)  # evaluated fully masked: the model a checkpoint reloads
    with FiringRates(model) as fr:
        loss_sum, correct, seen = _run_batches(model, _eval_loader(x, y, cfg), encoder_from_config(cfg), device, gen)
    model.train(was_training)
    return {"acc": correct / seen, "loss": loss_sum / seen, "firing_rate": fr.mean(), "firing_rates": fr.rates()}


def evaluate(model: nn.Module, dataset: Dataset, cfg: TrainConfig, device: str | torch.device = "cpu") -> float:
    """Accuracy of ``model`` on the test split of ``dataset``, encoded as ``cfg`` says."""
    model.to(device)
    return _evaluate_split(model, dataset.test_x, dataset.test_y, cfg, torch.device(device), _TEST_DRAWS)["acc"]


# ---------------------------------------------------------------- run directory

_UNFINISHED_OK = {"config.yaml", "checkpoints", "metrics.json", "training_curves.png"}


def run_dir_state(run_dir: Path) -> str:
    """``new`` (absent or empty), ``unstarted`` (a run interrupted before its first checkpoint:
    config.yaml and nothing else of value), ``checkpointed`` (a .pt checkpoint exists: resumable
    if it is last.pt), or ``other`` (not a run, or a file)."""
    if not run_dir.exists():
        return "new"
    if not run_dir.is_dir():
        return "other"
    entries = {p.name for p in run_dir.iterdir() if not (p.name.startswith(".") and p.name.endswith(".tmp"))}
    if not entries:
        return "new"
    ckpt = run_dir / "checkpoints"
    if ckpt.is_dir() and any(p.suffix == ".pt" and not p.name.startswith(".") for p in ckpt.iterdir()):
        return "checkpointed"
    if entries == {"checkpoints"} and ckpt.is_dir() and all(p.name.endswith(".tmp") for p in ckpt.iterdir()):
        return "new"  # killed between creating checkpoints/ and writing config.yaml
    if "config.yaml" in entries and entries <= _UNFINISHED_OK and not (run_dir / "metrics.json").exists():
        try:
            load_config(run_dir / "config.yaml")
        except SnnCliError:
            return "other"
        if not ckpt.exists() or all(p.name.endswith(".tmp") for p in ckpt.iterdir()):
            return "unstarted"
    return "other"


def _config_diff(saved: TrainConfig, cfg: TrainConfig) -> list[str]:
    return [
        f"{k}: {show(getattr(saved, k), 40)} -> {show(getattr(cfg, k), 40)}"
        for k in cfg.to_dict()
        if k not in RUNTIME_KEYS and getattr(saved, k) != getattr(cfg, k)
    ]


def prepare_run_dir(cfg: TrainConfig, run_dir: str | os.PathLike, resume: bool) -> tuple[str, str | None]:
    """Check, before any work, that training ``cfg`` into ``run_dir`` can go ahead.

    Returns ``(mode, note)``: mode ``new``, ``restart`` (the directory holds a run interrupted
    before its first checkpoint; it starts again from scratch) or ``resume``; ``note`` says
    what happens where it is not obvious.  Raises :class:`SnnCliError` when the
    directory holds another or a checkpointed run (without ``resume``), when ``resume``
    meets a config that differs from the run's, or when it cannot be written.
    """
    run_dir = Path(run_dir)
    state = run_dir_state(run_dir)
    if state == "other":
        what = "is a file" if run_dir.exists() and not run_dir.is_dir() else "is not empty and holds no snncli run"
        raise SnnCliError(f"run directory {run_dir} {what}; choose a new directory")
    if resume and state in ("unstarted", "checkpointed"):
        diff = _config_diff(load_config(run_dir / "config.yaml"), cfg)
        if diff:
            raise SnnCliError(
                f"cannot resume {run_dir}: its config differs ({'; '.join(diff)[:300]}); "
                "resume with the same config or train into a new run directory"
            )
    _check_writable(run_dir)
    has_last = (run_dir / "checkpoints" / "last.pt").is_file()
    if state == "checkpointed" and not resume:
        raise SnnCliError(
            f"run directory {run_dir} holds a run with checkpoints; pass --resume to continue it, "
            "or choose a new directory"
        )
    if resume and has_last:
        return "resume", None
    if state == "checkpointed":  # resume, but only a best.pt (checkpoint_every > 1, killed before last.pt)
        return "restart", (
            f"{run_dir} has no checkpoints/last.pt to resume from; starting it again from scratch "
            "(its best.pt is replaced)"
        )
    if state == "unstarted":
        return "restart", (
            f"{run_dir} holds a run interrupted before its first checkpoint; starting it again from scratch"
        )
    if resume:
        return "new", f"nothing to resume in {run_dir} (no checkpoint yet); starting the run from scratch"
    return "new", None


def _check_writable(run_dir: Path) -> None:
    """The run directory (or the nearest folder above it that exists) accepts new files."""
    probe = run_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SnnCliError(f"cannot create run directory {run_dir}: {probe} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise SnnCliError(f"cannot write into {probe} for run directory {run_dir}: {e.strerror or e}") from None


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
        raise SnnCliError(
            f"init_from {source_run}: its model does not fit this config ({_mismatch(exc)}); "
            "fine-tune with the same model, sizes and dataset shape"
        ) from None


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """Cosine decay per optimiser step, ``lr_k = lr (1 + cos(pi k / K)) / 2``, or constant."""
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total)) if cfg.lr_schedule == "cosine" else cfg.lr


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


# ---------------------------------------------------------------- determinism and logging


@contextmanager
def determinism(enabled: bool):
    """Bit-identical runs where torch allows, while inside; the previous settings come back after.

    ``torch.use_deterministic_algorithms(True)`` (ops without a deterministic kernel then
    raise), one CPU thread (a reduction split over threads sums in another order:
    ~1e-7 differences between ``OMP_NUM_THREADS`` settings), cuDNN deterministic and
    not benchmarking, ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (effective only if CUDA was
    not initialised before).  Cost: one CPU thread, so large layers on a many-core
    CPU train up to that many times slower (on a busy 2-core machine the digits MLP
    was faster with one thread: 2.6 s vs 17 s for 3 epochs); slower deterministic
    kernels on GPU.  Not covered: other torch/CUDA versions, CPU instruction sets
    (AVX2 vs AVX-512), GPU models.
    """
    if not enabled:
        yield
        return
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.get_num_threads(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]


class _EpochLog:
    """Progress of one epoch: a tqdm bar on a terminal (``progress``); otherwise one line per
    epoch, and with ``progress`` a line every ``interval`` seconds within long epochs."""

    def __init__(self, stream, progress: bool, epoch: int, epochs: int, batches: int, interval: float, phase: str):
        self.stream, self.batches, self.interval = stream, batches, interval
        self.name = f"epoch {epoch}/{epochs}" + (f" ({phase})" if phase else "")
        tty = stream is not None and getattr(stream, "isatty", lambda: False)()
        self.bar = (
            tqdm(total=batches, desc=self.name, file=stream, leave=True, dynamic_ncols=True)
            if progress and tty
            else None
        )
        self.periodic = progress and not tty and stream is not None
        self.t0 = self.last = time.perf_counter()
        self.done = 0

    def batch(self, loss: float, acc: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}")
        elif self.periodic and time.perf_counter() - self.last >= self.interval and self.done < self.batches:
            self.last = time.perf_counter()
            self._line(
                f"{self.name}: batch {self.done}/{self.batches} loss {loss:.4f} train {acc:.3f} "
                f"({self.last - self.t0:.0f} s)"
            )

    def end(self, entry: dict) -> None:
        val = "-" if entry["val_acc"] is None else f"{entry['val_acc']:.3f}"
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{entry['loss']:.4f}", acc=f"{entry['train_acc']:.3f}", val=val)
            self.bar.close()
        elif self.stream is not None:
            self._line(
                f"{self.name}: loss {entry['loss']:.4f} train {entry['train_acc']:.3f} val {val} "
                f"({entry['seconds']:.1f} s)"
            )

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _say(stream, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


# ---------------------------------------------------------------- training


def train(
    cfg: TrainConfig,
    run_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    on_epoch=None,
    *,
    log="stderr",
) -> dict:
    """Train ``cfg``'s model on ``cfg``'s dataset into ``run_dir``; ``on_epoch(metrics_entry)`` after each epoch.

    ``progress``: tqdm bars on a terminal, periodic lines otherwise; ``log``: a text stream for
    progress and notes (default: ``sys.stderr`` at call time; ``None``: nowhere); one line per
    epoch is written whatever ``progress`` says.
    Returns ``{accuracy, test_accuracy, val_accuracy, selection, best_epoch, epochs, seconds,
    firing_rate, validation, run_dir, device, dataset, parameters, best_test_acc (= test_accuracy)}``.
    """
    with determinism(cfg.deterministic):
        return _train(cfg, Path(run_dir), resume, progress, on_epoch, sys.stderr if log == "stderr" else log)


def _train(cfg: TrainConfig, run_dir: Path, resume: bool, progress: bool, on_epoch, log) -> dict:
    session = _Session(cfg, run_dir, resume, log)
    try:
        for epoch in range(session.start, session.total_epochs):
            entry = session.run_epoch(epoch, progress)
            if on_epoch is not None:
                on_epoch(entry)
        result = session.finish()
    finally:
        session.close()
    _say(session.log, f"selected {result['selection']}: val {_pct(result['val_acc'])}, test {_pct(result['test_acc'])}")
    return session.summary(result)


class _Session:
    """One training run: its data, model, optimiser, validation split, selection state and files.

    Under torchrun every rank holds one; all take the same decisions (the whole
    validation split is evaluated on each), rank 0 writes.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool, log):
        self.cfg, self.run_dir, self.ckpt_dir = cfg, run_dir, run_dir / "checkpoints"
        self.world, self.rank, local_rank = (
            int(os.environ.get(k, d)) for k, d in (("WORLD_SIZE", 1), ("RANK", 0), ("LOCAL_RANK", 0))
        )
        self.distributed, self.main = self.world > 1, self.rank == 0
        self.log = log if self.main else None
        self.device = device = resolve_device(cfg, local_rank)
        mode, note = prepare_run_dir(cfg, run_dir, resume)
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            dist.barrier()  # every rank has checked the run dir before rank 0 writes into it
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = False  # cuDNN autotuning picks kernels by timing: not reproducible
        torch.manual_seed(cfg.seed)
        self._load_data()
        self.model = build_model(cfg, self.ds.sample_shape, self.ds.num_classes).to(device)
        self.tuner_cls, self.tuner = self._stdp_class(), None
        self.optimizer = _optimizer(cfg, self.model.parameters())
        self.start, self.metrics, self.best, self.best_state, self.stdp, self.stdp_state = 0, [], None, None, None, None
        if mode == "resume":
            self._restore()
        elif cfg.init_from:
            _load_initial_weights(self.model, cfg.init_from, device)
        if note:
            _say(self.log, note)
        if self.main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run_dir / "config.yaml")
        self.net = (
            nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
            if self.distributed
            else self.model
        )
        self._make_loader()
        self.total_epochs = cfg.epochs + cfg.stdp_epochs

    # ------------------------------------------------------------ setup
    def _load_data(self) -> None:
        cfg = self.cfg
        frames = cfg.time_steps if cfg.encoder == "frames" else None
        self.ds = ds = limit(load_dataset(cfg.dataset, cfg.data_root, cfg.seed, frames), cfg)
        self.val_idx = validation_split(ds.train_y, cfg.val_fraction, cfg.seed)
        self.split = _split_info(self.val_idx, len(ds.train_y), cfg)
        self.keep = np.setdiff1d(np.arange(len(ds.train_y)), self.val_idx, assume_unique=True)
        if len(self.keep) == 0:
            raise SnnCliError(
                f"val_fraction {cfg.val_fraction} leaves no training sample of {len(ds.train_y)}; lower it"
            )
        self.val_x, self.val_y = ds.train_x[self.val_idx], ds.train_y[self.val_idx]
        self.info = {**ds.info(), "train_size": len(self.keep), "val_size": len(self.val_idx)}

    def _stdp_class(self):
        if not self.cfg.stdp_epochs:
            return None
        from snncli.trainer import stdp  # SpikingJelly's learning module, only where STDP is asked for

        stdp.stdp_layers(self.model, self.cfg)  # a wrong layer name fails now, not after the gradient epochs
        return stdp.StdpFineTuner

    def _make_loader(self) -> None:
        cfg, ds = self.cfg, self.ds
        train_set = TensorDataset(torch.from_numpy(ds.train_x[self.keep]), torch.from_numpy(ds.train_y[self.keep]))
        self.shuffle_gen = torch.Generator()
        self.sampler = (
            DistributedSampler(train_set, self.world, self.rank, shuffle=True, seed=cfg.seed)
            if self.distributed
            else RandomSampler(train_set, generator=self.shuffle_gen)
        )
        # batch_size=None + a BatchSampler: the TensorDataset is indexed once per batch, not once per sample
        self.loader = DataLoader(
            train_set,
            sampler=BatchSampler(self.sampler, cfg.batch_size, drop_last=False),
            batch_size=None,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=self.shuffle_gen,
        )
        self.encoder = encoder_from_config(cfg)
        self.enc_gen = torch.Generator(device=self.device)
        self.steps_per_epoch = len(self.loader)
        self.total_steps = max(1, self.steps_per_epoch * cfg.epochs)

    def _restore(self) -> None:
        ckpt = load_checkpoint(self.ckpt_dir / "last.pt", self.device)
        if "validation" not in ckpt:
            raise SnnCliError(
                f"{self.ckpt_dir / 'last.pt'} was written by an older snncli (model selection on the "
                "test split); it cannot be resumed: train into a new run directory"
            )
        if ckpt["validation"]["indices_sha256"] != self.split["indices_sha256"]:
            raise SnnCliError(
                f"cannot resume {self.run_dir}: its validation split differs from the one this dataset "
                "gives now (the data changed?); train into a new run directory"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        self.start, self.metrics = ckpt["epoch"], ckpt["metrics"]
        self.stdp, self.stdp_state = ckpt.get("stdp"), ckpt.get("stdp_state")
        if (self.ckpt_dir / "best.pt").is_file():
            best = load_checkpoint(self.ckpt_dir / "best.pt", self.device)
            val = next(
                (m["val_acc"] for m in best["metrics"] if m["epoch"] == best["epoch"]),
                (best.get("stdp") or {}).get("before", {}).get("val_acc"),
            )
            self.best, self.best_state = (best["epoch"], val), best["model"]

    # ------------------------------------------------------------ evaluation, selection, files
    def evaluate_val(self) -> dict:
        with self.tuner.paused() if self.tuner is not None else nullcontext():
            return _evaluate_split(self.model, self.val_x, self.val_y, self.cfg, self.device, _VAL_DRAWS)

    def evaluate_test(self) -> dict:
        return _evaluate_split(self.model, self.ds.test_x, self.ds.test_y, self.cfg, self.device, _TEST_DRAWS)

    def payload(self, epoch: int, weights=None) -> dict:
        return {
            "model": weights if weights is not None else self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": epoch,
            "metrics": self.metrics,
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
            "dataset": self.info,
            "validation": {**self.split, "indices": torch.from_numpy(self.val_idx)},
            "stdp": self.stdp,
            "stdp_state": self.tuner.state_dict() if self.tuner is not None else None,
        }

    def keep_best(self, epoch: int, val_acc) -> None:
        """Selection: the first epoch with the highest validation accuracy (the last one without a split)."""
        if self.best is None or self.cfg.val_fraction == 0 or (val_acc is not None and val_acc > self.best[1]):
            self.best = (epoch, val_acc)
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.main:
                save_checkpoint(self.payload(epoch, self.best_state), self.ckpt_dir / "best.pt")

    def _write_metrics(self, test: dict | None) -> None:
        write_metrics(
            {
                "validation": self.split,
                "epochs": self.metrics,
                "stdp": self.stdp,
                "selection": test["selection"] if test else None,
                "test": test,
            },
            self.run_dir / "metrics.json",
        )
        plot_training_curves(self.metrics, self.run_dir / "training_curves.png", test)

    # ------------------------------------------------------------ epochs
    def run_epoch(self, epoch: int, progress: bool) -> dict:
        cfg, t0 = self.cfg, time.perf_counter()
        self.shuffle_gen.manual_seed(_seed(cfg.seed, epoch))
        self.enc_gen.manual_seed(_seed(cfg.seed, epoch, self.rank))
        if self.distributed:
            self.sampler.set_epoch(epoch)
        is_stdp = epoch >= cfg.epochs
        if is_stdp and self.tuner is None:
            self._start_stdp()
        step = (
            (lambda x, y: self.tuner.step(self.net, x, y))
            if is_stdp
            else _gradient_step(self.net, self.optimizer, cfg, epoch * self.steps_per_epoch, self.total_steps)
        )
        self.net.train()
        epoch_log = _EpochLog(
            self.log,
            progress,
            epoch + 1,
            self.total_epochs,
            self.steps_per_epoch,
            cfg.log_interval,
            "stdp" if is_stdp else "",
        )
        totals = _run_batches(self.net, self.loader, self.encoder, self.device, self.enc_gen, step, epoch_log)
        if self.distributed:
            t = torch.tensor(totals, dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            totals = t.tolist()
        val = self.evaluate_val()
        self.metrics.append(
            {
                "epoch": epoch + 1,
                "phase": "stdp" if is_stdp else "gradient",
                "loss": totals[0] / totals[2],
                "train_acc": totals[1] / totals[2],
                "val_loss": val["loss"],
                "val_acc": val["acc"],
                "firing_rate": val["firing_rate"],
                "firing_rates": val["firing_rates"],
                "lr": cfg.stdp_lr if is_stdp else self.optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - t0,
            }
        )
        epoch_log.end(self.metrics[-1])
        self.keep_best(epoch + 1, val["acc"])
        if self.main:
            if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == self.total_epochs:
                save_checkpoint(self.payload(epoch + 1), self.ckpt_dir / "last.pt")
            self._write_metrics(None)
        return self.metrics[-1]

    def _start_stdp(self) -> None:
        """Enter the STDP phase: from the selected gradient checkpoint (or the init_from weights),
        measured on validation and test before any STDP step."""
        if self.stdp is None:  # not a resume within the STDP phase
            if self.best_state is not None:
                self.model.load_state_dict(self.best_state)
            before_val = self.evaluate_val()
            self.stdp = {
                "layers": None,
                "mode": self.cfg.stdp_mode,
                "start_epoch": self.best[0] if self.best else 0,
                "before": {"val_acc": before_val["acc"], "test_acc": self.evaluate_test()["acc"]},
                "after": None,
            }
            if self.best is None:  # epochs == 0: the init_from weights are the first candidate
                self.keep_best(0, before_val["acc"])
        self.tuner = self.tuner_cls(self.model, self.cfg, self.distributed)
        self.stdp["layers"] = self.tuner.layers
        if self.stdp_state:
            self.tuner.load_state_dict(self.stdp_state)
        _say(
            self.log,
            f"STDP fine-tuning ({self.cfg.stdp_mode}) of {', '.join(self.tuner.layers)} from epoch "
            f"{self.stdp['start_epoch']}: val {_pct(self.stdp['before']['val_acc'])} before",
        )

    # ------------------------------------------------------------ the end
    def finish(self) -> dict:
        """Close the STDP phase, then evaluate the selected checkpoint once on the test split."""
        if self.tuner is not None:
            self.tuner.close()
            self.tuner = None
        if self.stdp is not None and self.stdp["after"] is None:  # the last STDP weights, before selection
            self.stdp["after"] = {
                "val_acc": self.metrics[-1]["val_acc"],
                "epoch": self.metrics[-1]["epoch"],
                "test_acc": self.evaluate_test()["acc"],
            }
        _dump_final_weights(self.model, self.rank)
        result = self._final_test()
        if self.main:
            best_payload = load_checkpoint(self.ckpt_dir / "best.pt", self.device)
            save_checkpoint({**best_payload, "test": result, "stdp": self.stdp}, self.ckpt_dir / "best.pt")
            self._write_metrics(result)
        return result

    def _final_test(self) -> dict:
        if self.best is None:
            raise SnnCliError(
                "the run has no selected checkpoint (checkpoints/best.pt is missing); train into a new directory"
            )
        epoch, val_acc = self.best
        self.model.load_state_dict(self.best_state)
        test = self.evaluate_test()
        how = (
            "last epoch (val_fraction 0: no validation split)"
            if self.cfg.val_fraction == 0
            else f"best validation accuracy over {self.total_epochs} epochs"
        )
        selection = f"{how}, epoch {epoch}" + (" (the init_from weights)" if epoch == 0 else "")
        return {
            "checkpoint": "best",
            "epoch": epoch,
            "selection": selection,
            "val_acc": val_acc,
            "test_acc": test["acc"],
            "test_loss": test["loss"],
            "firing_rate": test["firing_rate"],
            "firing_rates": test["firing_rates"],
            "test_samples": int(len(self.ds.test_y)),
        }

    def close(self) -> None:
        if self.tuner is not None:
            self.tuner.close()
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def summary(self, result: dict) -> dict:
        return {
            "accuracy": result["test_acc"],
            "test_accuracy": result["test_acc"],
            "val_accuracy": result["val_acc"],
            "selection": result["selection"],
            "best_epoch": result["epoch"],
            "best_test_acc": result["test_acc"],
            "test_loss": result["test_loss"],
            "firing_rate": result["firing_rate"],
            "validation": self.split,
            "stdp": self.stdp,
            "epochs": len(self.metrics),
            "seconds": sum(m["seconds"] for m in self.metrics),
            "run_dir": str(self.run_dir),
            "device": str(self.device),
            "dataset": self.info,
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }


def _dump_final_weights(model: nn.Module, rank: int) -> None:
    """Test hook: with ``SNNCLI_TEST_DUMP_WEIGHTS=DIR`` every rank saves its final weights as
    ``DIR/rank{r}.pt`` (so a test can check that DDP ranks end identical)."""
    folder = os.environ.get("SNNCLI_TEST_DUMP_WEIGHTS")
    if folder:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, Path(folder) / f"rank{rank}.pt")


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def _gradient_step(net, optimizer, cfg: TrainConfig, first_step: int, total_steps: int):
    """``step(x, y) -> (loss, out)``: one BPTT optimiser step, learning rate from the schedule."""
    counter = [first_step]

    def step(x, y):
        if cfg.psn_mask_ramp > 0:  # masked PSN: lambda rises 0 -> 1 over the first psn_mask_ramp of the steps
            set_masked_psn_lambda(net, min(1.0, counter[0] / (cfg.psn_mask_ramp * total_steps)))
        out = net(x)
        loss = F.cross_entropy(spike_counts(out), y)
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(cfg, counter[0], total_steps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        functional.reset_net(net)
        counter[0] += 1
        return loss.detach(), out.detach()

    return step


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
        raise SnnCliError(
            f"{run_dir}/checkpoints/{which}.pt does not fit the model its config.yaml describes "
            f"({_mismatch(exc)}); it was written by another snncli version or config: retrain"
        ) from None
    return qat.bake(model).to(device).eval(), cfg, info
