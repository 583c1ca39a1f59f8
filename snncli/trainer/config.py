"""Training configuration: defaults < YAML file (``--config``) < CLI flags.

Every key is checked: an unknown key names the closest valid one, a value of
the wrong type or out of range names the key and what it accepts.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from snncli.data.datasets import EVENT_DATASETS, list_datasets
from snncli.data.encoders import ENCODERS
from snncli.errors import SnnCliError
from snncli.trainer.qat import MAX_BITS as MAX_QAT_BITS
from snncli.trainer.qat import MIN_BITS as MIN_QAT_BITS

MODELS = ("mlp", "cnn")
NEURONS = ("lif", "if", "plif")
RESETS = ("zero", "subtract")
SURROGATES = ("atan", "sigmoid", "piecewise-quadratic", "erf", "piecewise-exp", "soft-sign", "super-spike",
              "piecewise-leaky-relu", "rect")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "constant")

# Keys that change where/how fast a run goes, not what it computes: they may
# differ when resuming.  (``epochs`` may grow to train longer; the cosine
# schedule then stretches from the resumed step on.)
RUNTIME_KEYS = frozenset({"device", "num_workers", "data_root", "checkpoint_every", "epochs"})


@dataclass
class TrainConfig:
    """All knobs of ``snncli train``; defaults give >= 95 % on digits in seconds."""

    # model
    model: str = "mlp"                       # mlp | cnn
    hidden: list[int] = field(default_factory=lambda: [500])   # mlp hidden sizes: 64-500-10 on digits
    channels: list[int] = field(default_factory=lambda: [16, 32])  # cnn conv channels, one SumPool2d(2) each
    kernel_size: int = 3
    bias: bool = True                        # false: Speck has no biases
    # neuron: LIF is v[t] = beta v[t-1] + x[t]; spike if v >= v_threshold; then reset
    neuron: str = "lif"                      # lif | if | plif (beta is the initial value, learned)
    beta: float = 0.95
    v_threshold: float = 1.0
    reset: str = "zero"                      # zero: v = 0 | subtract: v -= v_threshold
    surrogate: str = "atan"
    detach_reset: bool = True                # no gradient through the reset (Zenke & Vogels 2021)
    # input
    encoder: str = "direct"                  # direct | poisson | latency | frames (event datasets)
    time_steps: int = 8
    max_rate: float = 1.0                    # poisson: spike probability per step at x = 1
    latency_threshold: float = 0.01          # latency: no spike below this value
    # data
    dataset: str = "digits"
    data_root: str | None = None
    limit_train: int | None = None           # use only the first N training samples (quick tests)
    limit_test: int | None = None
    # optimisation
    epochs: int = 15
    batch_size: int = 32
    lr: float = 2e-3
    optimizer: str = "adam"                  # adam | adamw | sgd (momentum 0.9)
    weight_decay: float = 0.0
    qat_bits: int | None = None              # N: train with weights fake-quantized to N-bit integers x one scale
                                             # per layer (straight-through), so N-bit export loses nothing to rounding
    lr_schedule: str = "cosine"              # cosine (per step, to 0) | constant
    # run
    init_from: str | None = None             # fine-tune: start from the weights of this run's best checkpoint
    seed: int = 0
    device: str = "auto"                     # auto: cuda if available, else cpu
    num_workers: int = 0                     # DataLoader worker processes
    checkpoint_every: int = 1                # write checkpoints/last.pt every N epochs

    def encoder_options(self) -> dict:
        """Options of the input encoder besides its name and T (for ``make_encoder``)."""
        return {"poisson": {"max_rate": self.max_rate}, "latency": {"threshold": self.latency_threshold}}.get(
            self.encoder, {}
        )

    def to_dict(self) -> dict:
        return asdict(self)


_FIELDS = {f.name: f for f in fields(TrainConfig)}
_CHOICES = {"model": MODELS, "neuron": NEURONS, "reset": RESETS, "surrogate": SURROGATES,
            "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "encoder": tuple(ENCODERS)}
_POSITIVE = {"kernel_size", "time_steps", "epochs", "batch_size", "checkpoint_every", "limit_train", "limit_test"}


def _unknown_key(key: str, where: str) -> SnnCliError:
    close = difflib.get_close_matches(key, list(_FIELDS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(_FIELDS)}"
    return SnnCliError(f"unknown config key {key!r} in {where}{hint}")


def _coerce(key: str, value: Any) -> Any:
    """Check ``value`` against the annotated type of ``key`` (ints are accepted for floats)."""
    ann = str(_FIELDS[key].type)
    optional = "None" in ann
    if value is None:
        if optional:
            return None
        raise SnnCliError(f"config key {key!r} may not be empty")
    if ann.startswith("list[int]"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise SnnCliError(f"config key {key!r} must be a list of integers, got {value!r}")
        if any(v < 1 for v in value):
            raise SnnCliError(f"config key {key!r} must hold positive sizes, got {value!r}")
        return list(value)
    base = ann.split(" |")[0]
    ok = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "bool": lambda v: isinstance(v, bool),
          "str": lambda v: isinstance(v, str)}[base]
    if not ok(value):
        raise SnnCliError(f"config key {key!r} must be {base}, got {value!r} ({type(value).__name__})")
    return float(value) if base == "float" else value


def _validate(cfg: TrainConfig) -> None:
    for key, choices in _CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise SnnCliError(f"config key {key!r} is {getattr(cfg, key)!r}; choose one of: {', '.join(choices)}")
    if cfg.dataset not in list_datasets():
        raise SnnCliError(f"config key 'dataset' is {cfg.dataset!r}; choose one of: {', '.join(list_datasets())}")
    for key in _POSITIVE:
        if getattr(cfg, key) is not None and getattr(cfg, key) < 1:
            raise SnnCliError(f"config key {key!r} must be >= 1, got {getattr(cfg, key)}")
    if cfg.num_workers < 0:
        raise SnnCliError(f"config key 'num_workers' must be >= 0, got {cfg.num_workers}")
    if not 0.0 < cfg.beta < 1.0:
        raise SnnCliError(f"config key 'beta' (LIF leak, v = beta v + x) must be in (0, 1), got {cfg.beta}")
    for key in ("v_threshold", "lr", "max_rate"):
        if getattr(cfg, key) <= 0:
            raise SnnCliError(f"config key {key!r} must be > 0, got {getattr(cfg, key)}")
    if cfg.qat_bits is not None and not MIN_QAT_BITS <= cfg.qat_bits <= MAX_QAT_BITS:
        raise SnnCliError(f"config key 'qat_bits' must be between {MIN_QAT_BITS} and {MAX_QAT_BITS} "
                          f"(8 for 8-bit weights), got {cfg.qat_bits}")
    if cfg.weight_decay < 0:
        raise SnnCliError(f"config key 'weight_decay' must be >= 0, got {cfg.weight_decay}")
    if cfg.device not in ("auto", "cpu") and not cfg.device.startswith("cuda"):
        raise SnnCliError(f"config key 'device' is {cfg.device!r}; use auto, cpu, cuda or cuda:N")
    if cfg.kernel_size % 2 == 0:
        raise SnnCliError(f"config key 'kernel_size' must be odd (padding k//2 keeps the size), got {cfg.kernel_size}")
    if (cfg.dataset in EVENT_DATASETS) != (cfg.encoder == "frames"):
        raise SnnCliError(f"encoder {cfg.encoder!r} does not fit dataset {cfg.dataset!r}: "
                          "event datasets (nmnist, dvs-gesture, shd) use encoder 'frames', image datasets direct/poisson/latency")


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> TrainConfig:
    """Defaults, then the YAML mapping at ``path``, then ``overrides`` (``None`` values are ignored, i.e. flag not given).

    Event datasets select the ``frames`` encoder unless one is set explicitly.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as e:
            raise SnnCliError(f"cannot read config {path}: {e.strerror}") from e
        except yaml.YAMLError as e:
            raise SnnCliError(f"config {path} is not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise SnnCliError(f"config {path} must be a mapping of key: value, got {type(loaded).__name__}")
        for key, value in (loaded or {}).items():
            if key not in _FIELDS:
                raise _unknown_key(str(key), str(path))
            values[key] = _coerce(key, value)
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise _unknown_key(key, "the command-line options")
        if value is not None:
            values[key] = _coerce(key, value)
    if values.get("dataset") in EVENT_DATASETS and "encoder" not in values:
        values["encoder"] = "frames"
    cfg = TrainConfig(**values)
    _validate(cfg)
    return cfg


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomically); ``load_config(path)`` reads it back equal."""
    atomic_write_text(Path(path), yaml.safe_dump(cfg.to_dict(), sort_keys=False))
