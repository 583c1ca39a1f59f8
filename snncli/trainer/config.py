"""Training configuration: defaults < YAML file (``--config``) < CLI flags.

Every key is checked: an unknown key names the closest valid one, a value of
the wrong type or out of range names the key, the value (shortened) and what it
accepts.  Files are read as plain YAML values only: no tags, no aliases, at most
1 MiB; floats may be written as users write them (``1e-3``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import reprlib
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from snncli.data.datasets import EVENT_DATASETS, list_datasets
from snncli.data.encoders import ENCODERS
from snncli.errors import SnnCliError
from snncli.trainer.qat import MAX_BITS as MAX_QAT_BITS
from snncli.trainer.qat import MIN_BITS as MIN_QAT_BITS

MODELS = ("mlp", "cnn", "spikformer")
PSN_NEURONS = ("psn", "masked-psn", "sliding-psn")  # SpikingJelly's parallel spiking neurons (Fang et al. 2023)
NEURONS = ("lif", "if", "plif", *PSN_NEURONS)
PATCH_SIZES = (4, 16)  # SpikingJelly's Spikformer patch stem: two max pools (CIFAR) or four (ImageNet)
RESETS = ("zero", "subtract")
SURROGATES = (
    "atan",
    "sigmoid",
    "piecewise-quadratic",
    "erf",
    "piecewise-exp",
    "soft-sign",
    "super-spike",
    "piecewise-leaky-relu",
    "rect",
)
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "constant")
STDP_MODES = ("alone", "mixed")
ANN2SNN_MODES = ("max", "percentile", "fraction")  # SpikingJelly's RateCodingRecipe modes: "max", "P%", a float

# Keys that change where/how fast a run goes, not what it computes: they may
# differ when resuming.  (``epochs`` may grow to train longer; the cosine
# schedule then stretches from the resumed step on.)
RUNTIME_KEYS = frozenset(
    {"device", "num_workers", "data_root", "checkpoint_every", "epochs", "deterministic", "log_interval"}
)


@dataclass
class TrainConfig:
    """All knobs of ``snncli train``; defaults give >= 95 % on digits in seconds.

    Every field carries ``metadata["help"]`` (one line) and, where it has a
    fixed set of values, ``metadata["choices"]``: the command line builds its
    flags from them.  Ranges are checked by :func:`load_config` (``_RANGES``).
    """

    # model
    model: str = field(
        default="mlp",
        metadata={
            "help": "network: mlp (dense), cnn (Speck-shaped conv + sum pool) or spikformer (Zhou et al. 2023; not exportable)",
            "choices": MODELS,
        },
    )
    hidden: list[int] = field(
        default_factory=lambda: [500], metadata={"help": "mlp hidden layer sizes, e.g. [500] (64-500-10 on digits)"}
    )
    channels: list[int] = field(
        default_factory=lambda: [16, 32], metadata={"help": "cnn conv channels, one SumPool2d(2) after each"}
    )
    kernel_size: int = field(default=3, metadata={"help": "cnn conv kernel size (odd; padding k//2 keeps the size)"})
    bias: bool = field(default=True, metadata={"help": "biases in Linear/Conv layers (false: Speck has none)"})
    # spikformer (snncli.trainer.spikformer): spiking patch splitting, then depth x (spiking self-attention + MLP)
    embed_dim: int = field(
        default=384,
        metadata={"help": "spikformer: embedding size D (divisible by 8 and by num_heads; 384 in Spikformer-4-384)"},
    )
    num_heads: int = field(
        default=12, metadata={"help": "spikformer: attention heads per block (12 in Spikformer-4-384)"}
    )
    depth: int = field(default=4, metadata={"help": "spikformer: number of encoder blocks (4 in Spikformer-4-384)"})
    mlp_ratio: float = field(default=4.0, metadata={"help": "spikformer: MLP hidden size as a multiple of embed_dim"})
    patch_size: int = field(
        default=4,
        metadata={
            "help": "spikformer: patch splitting downsamples by 4 (two max pools, CIFAR) or 16 (four, ImageNet)",
            "choices": PATCH_SIZES,
        },
    )
    # neuron: LIF is v[t] = beta v[t-1] + x[t]; spike if v >= v_threshold; then reset
    neuron: str = field(
        default="lif",
        metadata={
            "help": "spiking neuron: lif, if, plif (beta is its learned initial value), or psn / masked-psn / sliding-psn "
            "(parallel spiking neurons, no reset: train only, not exportable)",
            "choices": NEURONS,
        },
    )
    beta: float = field(default=0.95, metadata={"help": "LIF leak per step, v = beta*v + x, in (0, 1)"})
    v_threshold: float = field(default=1.0, metadata={"help": "firing threshold (spike when v >= v_threshold)"})
    reset: str = field(
        default="zero",
        metadata={"help": "after a spike: zero (v = 0) or subtract (v -= v_threshold)", "choices": RESETS},
    )
    surrogate: str = field(
        default="atan", metadata={"help": "surrogate gradient of the spike function", "choices": SURROGATES}
    )
    detach_reset: bool = field(default=True, metadata={"help": "no gradient through the reset (Zenke & Vogels 2021)"})
    psn_order: int = field(
        default=4,
        metadata={
            "help": "masked-psn / sliding-psn: order k, the number of steps (this one and k-1 before) each step's input mixes"
        },
    )
    psn_mask_ramp: float = field(
        default=0.5,
        metadata={
            "help": "masked-psn: lambda of the progressive mask rises linearly from 0 to 1 over this fraction of "
            "the training steps (Fang et al. 2023); 0 masks from the start; evaluation always uses lambda = 1"
        },
    )
    # input
    encoder: str = field(
        default="direct",
        metadata={
            "help": "input encoding: direct (analog current), poisson (rate), latency, frames (event datasets)",
            "choices": tuple(ENCODERS),
        },
    )
    time_steps: int = field(default=8, metadata={"help": "number of simulation steps T per sample"})
    max_rate: float = field(
        default=1.0, metadata={"help": "poisson encoder: spike probability per step at x = 1, in (0, 1]"}
    )
    latency_threshold: float = field(
        default=0.01, metadata={"help": "latency encoder: no spike below this value, in [0, 1)"}
    )
    # data
    dataset: str = field(
        default="digits",
        metadata={"help": "dataset (`snncli doctor` says which are here)", "choices": tuple(list_datasets())},
    )
    data_root: str | None = field(
        default=None, metadata={"help": "where downloadable datasets live / are downloaded to"}
    )
    limit_train: int | None = field(
        default=None,
        metadata={"help": "use only the first N training samples (the validation split is held out of these)"},
    )
    limit_test: int | None = field(default=None, metadata={"help": "use only the first N test samples"})
    val_fraction: float = field(
        default=0.1,
        metadata={
            "help": "share of the training samples held out (stratified, seeded) to pick the best checkpoint; 0: last epoch"
        },
    )
    # optimisation
    epochs: int = field(
        default=15, metadata={"help": "surrogate-gradient training epochs (0: only STDP, with init_from)"}
    )
    batch_size: int = field(default=32, metadata={"help": "mini-batch size (per process under torchrun)"})
    lr: float = field(default=2e-3, metadata={"help": "learning rate, e.g. 2e-3"})
    optimizer: str = field(
        default="adam", metadata={"help": "adam, adamw or sgd (momentum 0.9)", "choices": OPTIMIZERS}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay (>= 0)"})
    # N: weights fake-quantized to N-bit integers x one scale per layer (straight-through),
    # so an N-bit export loses nothing to rounding
    qat_bits: int | None = field(
        default=None,
        metadata={"help": "quantization-aware training: weights fake-quantized to N-bit integers (8 for Loihi)"},
    )
    lr_schedule: str = field(
        default="cosine", metadata={"help": "cosine (per step, to 0) or constant", "choices": LR_SCHEDULES}
    )
    # STDP fine-tuning after the gradient epochs (snncli.trainer.stdp)
    stdp_epochs: int = field(
        default=0, metadata={"help": "STDP fine-tuning epochs after the gradient epochs (0: none)"}
    )
    stdp_layers: list[str] = field(
        default_factory=list,
        metadata={
            "help": "layers STDP trains, as the model names them (e.g. fc1); empty: every weighted layer but the output"
        },
    )
    stdp_mode: str = field(
        default="alone",
        metadata={
            "help": "alone: only STDP changes the chosen layers, the rest is frozen; mixed: the other layers keep learning by gradient",
            "choices": STDP_MODES,
        },
    )
    stdp_tau_pre: float = field(default=2.0, metadata={"help": "STDP presynaptic trace time constant in steps (>= 1)"})
    stdp_tau_post: float = field(
        default=2.0, metadata={"help": "STDP postsynaptic trace time constant in steps (>= 1)"}
    )
    stdp_lr: float = field(default=1e-4, metadata={"help": "STDP learning rate (SGD on the STDP update, per sample)"})
    stdp_a_pre: float = field(
        default=1.0, metadata={"help": "STDP depression amplitude (pre after post), f_pre = a_pre*clamp(w, -1, 1)"}
    )
    stdp_a_post: float = field(
        default=1.0, metadata={"help": "STDP potentiation amplitude (post after pre), f_post = a_post*clamp(w, -1, 1)"}
    )
    stdp_grad_lr: float = field(
        default=1e-4, metadata={"help": "stdp_mode mixed: Adam learning rate of the layers STDP does not train"}
    )
    # ANN-to-SNN conversion (snncli convert, snncli.trainer.convert)
    ann_epochs: int = field(
        default=10, metadata={"help": "convert: epochs of training the ReLU network before conversion"}
    )
    ann2snn_mode: str = field(
        default="percentile",
        metadata={
            "help": "convert: each layer's activation scale from the training data: its max, a percentile of it "
            "(robust normalisation) or a fraction of the max (ann2snn_value)",
            "choices": ANN2SNN_MODES,
        },
    )
    ann2snn_value: float = field(
        default=99.9,
        metadata={
            "help": "convert: the percentile in (0, 100] (mode percentile) or the fraction of the max in (0, 1] "
            "(mode fraction); unused by mode max"
        },
    )
    ann2snn_channel_wise: bool = field(
        default=False, metadata={"help": "convert: one activation scale per channel instead of one per layer"}
    )
    # run
    init_from: str | None = field(
        default=None,
        metadata={"help": "fine-tune: start from the weights of this run's best checkpoint (and its settings)"},
    )
    seed: int = field(default=0, metadata={"help": "random seed: weights, validation split, shuffling, encoder draws"})
    deterministic: bool = field(
        default=False,
        metadata={"help": "bit-identical runs where torch allows: deterministic kernels, one CPU thread (slower)"},
    )
    device: str = field(default="auto", metadata={"help": "auto (cuda if available), cpu, cuda or cuda:N"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes"})
    checkpoint_every: int = field(default=1, metadata={"help": "write checkpoints/last.pt every N epochs"})
    log_interval: float = field(
        default=30.0,
        metadata={"help": "seconds between progress lines within an epoch when the output is not a terminal"},
    )

    def encoder_options(self) -> dict:
        """Options of the input encoder besides its name and T (for ``make_encoder``)."""
        return {"poisson": {"max_rate": self.max_rate}, "latency": {"threshold": self.latency_threshold}}.get(
            self.encoder, {}
        )

    def to_dict(self) -> dict:
        return asdict(self)


_FIELDS = {f.name: f for f in fields(TrainConfig)}
_CHOICES = {
    "model": MODELS,
    "neuron": NEURONS,
    "reset": RESETS,
    "surrogate": SURROGATES,
    "optimizer": OPTIMIZERS,
    "lr_schedule": LR_SCHEDULES,
    "encoder": tuple(ENCODERS),
    "stdp_mode": STDP_MODES,
    "ann2snn_mode": ANN2SNN_MODES,
}

_INF = math.inf
# key: (low, high, low included, high included).  Every number must also be finite.
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "kernel_size": (1, 63, True, True),
    "beta": (0.0, 1.0, False, False),
    "v_threshold": (0.0, _INF, False, False),
    "time_steps": (1, 10_000, True, True),
    "max_rate": (0.0, 1.0, False, True),
    "latency_threshold": (0.0, 1.0, True, False),
    "limit_train": (1, 2**31, True, True),
    "limit_test": (1, 2**31, True, True),
    "val_fraction": (0.0, 0.5, True, True),
    "epochs": (0, 100_000, True, True),
    "batch_size": (1, 2**20, True, True),
    "lr": (0.0, _INF, False, False),
    "weight_decay": (0.0, _INF, True, False),
    "qat_bits": (MIN_QAT_BITS, MAX_QAT_BITS, True, True),
    "psn_order": (1, 10_000, True, True),
    "psn_mask_ramp": (0.0, 1.0, True, True),
    "embed_dim": (8, 65_536, True, True),
    "num_heads": (1, 1024, True, True),
    "depth": (1, 1024, True, True),
    "mlp_ratio": (0.0, 1024.0, False, True),
    "ann_epochs": (1, 100_000, True, True),
    "stdp_epochs": (0, 100_000, True, True),
    "stdp_tau_pre": (1.0, _INF, True, False),
    "stdp_tau_post": (1.0, _INF, True, False),
    "stdp_lr": (0.0, _INF, False, False),
    "stdp_a_pre": (0.0, _INF, True, False),
    "stdp_a_post": (0.0, _INF, True, False),
    "stdp_grad_lr": (0.0, _INF, False, False),
    "seed": (0, 2**63 - 1, True, True),
    "num_workers": (0, 1024, True, True),
    "checkpoint_every": (1, 100_000, True, True),
    "log_interval": (0.0, _INF, False, False),
}
_LIST_RANGES = {"hidden": (1, 1_000_000), "channels": (1, 65_536)}  # per entry; at most _MAX_LIST entries
_MAX_LIST = 64
MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; refuse anything that could hold a bomb
_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxdict, _SHOW.maxstring, _SHOW.maxlong, _SHOW.maxother = 2, 4, 50, 40, 50
_SHOW.maxtuple = _SHOW.maxlist = _SHOW.maxarray = _SHOW.maxset = _SHOW.maxfrozenset = _SHOW.maxdeque = 6


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` bounded to ``limit`` characters (error messages never echo a huge user value)."""
    text = _SHOW.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _interval(low, high, low_in: bool, high_in: bool) -> str:
    if high == _INF:
        return f"{'>=' if low_in else '>'} {low}"
    return f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def _in_range(key: str, value) -> None:
    low, high, low_in, high_in = _RANGES[key]
    finite = isinstance(value, int) or math.isfinite(value)
    ok = finite and (low <= value if low_in else low < value) and (value <= high if high_in else value < high)
    if not ok:
        kind = "an integer" if isinstance(value, int) else "a finite number"
        raise SnnCliError(
            f"config key {key!r} must be {kind} {_interval(low, high, low_in, high_in)}, got {show(value)}"
        )


def _unknown_key(key: str, where: str) -> SnnCliError:
    close = difflib.get_close_matches(key, list(_FIELDS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "; `snncli train --help` lists the keys"
    return SnnCliError(f"unknown config key {show(key)} in {where}{hint}")


_FLOAT = re.compile(r"[-+]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)", re.IGNORECASE)


def _as_float(text: str) -> float | None:
    """A float as users type it (1e-3, 1E-3, .5, 5., 1_000.5, +1e-3); None if ``text`` is not one."""
    text = text.strip()
    if not _FLOAT.fullmatch(text) or "__" in text or text.endswith("_") or "_." in text or "._" in text:
        return None
    return float(text.replace("_", ""))


def _coerce(key: str, value: Any) -> Any:
    """Check ``value`` against the annotated type of ``key`` (ints, and numbers written as text, are accepted for floats)."""
    ann = str(_FIELDS[key].type)
    optional = "None" in ann
    if value is None:
        if optional:
            return None
        raise SnnCliError(f"config key {key!r} needs a value (it has no empty setting)")
    if ann.startswith("list["):
        return _coerce_list(key, value, ann[5:].split("]")[0])
    base = ann.split(" |")[0]
    if base == "float" and isinstance(value, str) and _as_float(value) is not None:
        value = _as_float(value)
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }[base]
    if not ok(value):
        what = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}[base]
        raise SnnCliError(f"config key {key!r} must be {what}, got {show(value)} ({type(value).__name__})")
    return float(value) if base == "float" else value


def _coerce_list(key: str, value: Any, item: str) -> list:
    if item == "str" and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if item == "int" and isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    kind = {"int": int, "str": str}[item]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise SnnCliError(
            f"config key {key!r} must be a list of {'integers' if item == 'int' else 'names'}, got {show(value)}"
        )
    if len(value) > _MAX_LIST:
        raise SnnCliError(f"config key {key!r} holds {len(value)} entries; at most {_MAX_LIST}")
    if key in _LIST_RANGES:
        low, high = _LIST_RANGES[key]
        if any(not low <= v <= high for v in value):
            raise SnnCliError(f"config key {key!r} must hold sizes in [{low}, {high}], got {show(value)}")
    return list(value)


def _validate(cfg: TrainConfig) -> None:
    for key, choices in _CHOICES.items():
        if getattr(cfg, key) not in choices:
            raise SnnCliError(f"config key {key!r} is {show(getattr(cfg, key))}; choose one of: {', '.join(choices)}")
    if cfg.dataset not in list_datasets():
        raise SnnCliError(f"config key 'dataset' is {show(cfg.dataset)}; choose one of: {', '.join(list_datasets())}")
    for key in _RANGES:
        if key in _FIELDS and getattr(cfg, key) is not None:
            _in_range(key, getattr(cfg, key))
    if cfg.device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d{1,3})?", cfg.device):
        raise SnnCliError(f"config key 'device' is {show(cfg.device)}; use auto, cpu, cuda or cuda:N")
    if cfg.kernel_size % 2 == 0:
        raise SnnCliError(f"config key 'kernel_size' must be odd (padding k//2 keeps the size), got {cfg.kernel_size}")
    if cfg.epochs + cfg.stdp_epochs < 1:
        raise SnnCliError("config keys 'epochs' and 'stdp_epochs' are both 0: nothing to train; set epochs >= 1")
    if cfg.epochs == 0 and not cfg.init_from:
        raise SnnCliError(
            "config key 'epochs' is 0 (STDP only) without 'init_from': STDP needs a trained run to fine-tune"
        )
    if cfg.stdp_epochs and cfg.qat_bits:
        raise SnnCliError(
            "config keys 'stdp_epochs' and 'qat_bits' together: STDP updates plain weights; "
            "fine-tune with QAT afterwards (--init-from the STDP run)"
        )
    if (cfg.dataset in EVENT_DATASETS) != (cfg.encoder == "frames"):
        raise SnnCliError(
            f"encoder {cfg.encoder!r} does not fit dataset {cfg.dataset!r}: "
            "event datasets (nmnist, dvs-gesture, shd) use encoder 'frames', image datasets direct/poisson/latency"
        )
    _validate_model_zoo(cfg)


def ann2snn_mode(cfg: TrainConfig) -> str | float:
    """The ``mode`` argument of SpikingJelly's ``RateCodingRecipe`` from ``ann2snn_mode`` and ``ann2snn_value``:
    ``"max"``, ``"99.9%"`` (percentile) or ``0.5`` (fraction of the max)."""
    value = cfg.ann2snn_value
    if cfg.ann2snn_mode == "percentile":
        if not 0.0 < value <= 100.0:
            raise SnnCliError(
                f"config key 'ann2snn_value' is {show(value)}; ann2snn_mode percentile takes a "
                "percentile in (0, 100], e.g. 99.9"
            )
        return f"{value:g}%"
    if cfg.ann2snn_mode == "fraction":
        if not 0.0 < value <= 1.0:
            raise SnnCliError(
                f"config key 'ann2snn_value' is {show(value)}; ann2snn_mode fraction takes a "
                "fraction of the max in (0, 1], e.g. 0.5"
            )
        return float(value)
    return "max"


def _validate_model_zoo(cfg: TrainConfig) -> None:
    """Combinations the parallel spiking neurons and the Spikformer do not support."""
    ann2snn_mode(cfg)
    if cfg.patch_size not in PATCH_SIZES:
        raise SnnCliError(f"config key 'patch_size' is {show(cfg.patch_size)}; choose one of: 4, 16")
    if cfg.neuron in PSN_NEURONS and cfg.stdp_epochs:
        raise SnnCliError(
            f"neuron {cfg.neuron!r} with stdp_epochs: STDP pairs a layer with the IF/LIF neuron after it; "
            "use neuron lif, if or plif"
        )
    if cfg.model != "spikformer":
        return
    if cfg.neuron != "lif" or cfg.reset != "zero" or cfg.v_threshold != 1.0:
        raise SnnCliError(
            "model spikformer uses the paper's LIF neurons (v += (x - v)(1 - beta), hard reset, threshold 1, "
            "0.5 in attention): set neuron lif, reset zero, v_threshold 1 (only beta and surrogate apply)"
        )
    if cfg.embed_dim % 8 or cfg.embed_dim % cfg.num_heads:
        raise SnnCliError(
            f"config key 'embed_dim' ({cfg.embed_dim}) must be divisible by 8 (patch splitting uses "
            f"embed_dim/8, /4, /2 channels) and by num_heads ({cfg.num_heads})"
        )
    if cfg.qat_bits or cfg.stdp_epochs:
        raise SnnCliError(
            "model spikformer with qat_bits or stdp_epochs: both are for chip export, which a Spikformer "
            "cannot take (its attention multiplies spike tensors); use model mlp or cnn"
        )


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load`` with two changes for config files.

    * Floats as users write them: YAML 1.1 reads ``1e-3`` (no dot) as a string;
      this loader reads it, and ``1E-3``, ``+1e-3``, ``5.``, ``.5``, as numbers
      (YAML 1.2's rule).
    * No aliases (``*name``): a config never needs them, and a few hundred bytes
      of nested aliases expand to gigabytes (the "billion laughs").
    Tags beyond plain values (``!!python/object``...) fail as in ``safe_load``.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a config", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)|\.[0-9_]+(?:[eE][-+]?[0-9]+))$"),
    list("-+0123456789."),
)


def _yaml_error(e: yaml.YAMLError) -> str:
    """One line out of PyYAML's multi-line message: the problem and where."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    problem = " ".join(str(problem).split())
    return (problem if len(problem) <= 160 else problem[:157] + "...") + where


def parse_yaml(text: str, where: str) -> Any:
    """One YAML document of plain values (no tags, no aliases, at most ``MAX_CONFIG_BYTES``), or one clean error."""
    if len(text) > MAX_CONFIG_BYTES:
        raise SnnCliError(f"{where} is {len(text)} bytes; a config is at most {MAX_CONFIG_BYTES} bytes")
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError as e:
        raise SnnCliError(f"{where} is not a plain YAML value: {_yaml_error(e)}") from None
    except RecursionError:
        raise SnnCliError(f"{where} nests too deeply to be a config") from None


def _read_config_file(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise SnnCliError(f"cannot read config {show(str(path), 200)}: {e.strerror or e}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise SnnCliError(
            f"config {path} is larger than {MAX_CONFIG_BYTES} bytes; a config file is a short YAML mapping"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SnnCliError(
            f"config {path} is not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start}); pass a YAML file"
        ) from None
    loaded = parse_yaml(text, f"config {path}")
    if loaded is not None and not isinstance(loaded, dict):
        raise SnnCliError(f"config {path} must be a mapping of key: value, got {type(loaded).__name__}")
    return loaded or {}


def load_config(
    path: str | os.PathLike | None = None, overrides: dict | None = None, *, base: TrainConfig | None = None
) -> TrainConfig:
    """``base`` (or the defaults), then the YAML mapping at ``path``, then ``overrides``.

    ``None`` values in ``overrides`` are ignored (the flag was not given); :data:`EXPLICIT_NONE`
    sets an optional key back to ``None``.  Event datasets select the ``frames``
    encoder unless one is set explicitly.
    """
    values: dict[str, Any] = base.to_dict() if base is not None else {}
    given: set[str] = set()
    if path is not None:
        for key, value in _read_config_file(path).items():
            if key not in _FIELDS:
                raise _unknown_key(str(key), str(path))
            values[key] = _coerce(key, value)
            given.add(key)
    for key, value in (overrides or {}).items():
        if key not in _FIELDS:
            raise _unknown_key(key, "the command-line options")
        if value is EXPLICIT_NONE:
            values[key] = _coerce(key, None)
        elif value is not None:
            values[key] = _coerce(key, value)
        given.add(key)
    if values.get("dataset") in EVENT_DATASETS and "encoder" not in given and base is None:
        values["encoder"] = "frames"
    cfg = TrainConfig(**values)
    _validate(cfg)
    return cfg


class _ExplicitNone:
    """``--set key=null``: set an optional key to None (a plain None means "not given")."""

    def __repr__(self) -> str:
        return "null"


EXPLICIT_NONE = _ExplicitNone()


def parse_set_items(items: list[str]) -> dict:
    """``--set KEY=VALUE`` items -> ``{key: value}``, checked like a config file.

    Values are YAML (``[64, 32]``, ``true``, ``1e-3``) read without tags or
    aliases; a key with no value (``--set model=``) is an error naming it;
    ``null`` resets an optional key (:data:`EXPLICIT_NONE`).  Dashes in keys
    become underscores.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SnnCliError(f"--set expects KEY=VALUE, got {show(item)}")
        key, text = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in _FIELDS:
            raise _unknown_key(key, "--set")
        if not text.strip():
            raise SnnCliError(f"--set {key}= has no value; write --set {key}=VALUE")
        value = parse_yaml(text, f"--set {key}")
        if value is None:
            if "None" not in str(_FIELDS[key].type):
                raise SnnCliError(f"--set {key}={text.strip()[:30]}: config key {key!r} needs a value")
            value = EXPLICIT_NONE
        else:
            value = _coerce(key, value)
        out[key] = value
    return out


def resolve_config(
    run_dir: str | os.PathLike,
    path: str | os.PathLike | None = None,
    overrides: dict | None = None,
    resume: bool = False,
) -> TrainConfig:
    """The config ``snncli train`` runs, from what the user typed (``overrides``: only the flags given).

    * ``resume`` and ``run_dir/config.yaml`` exists: the run's own settings are the
      base, then ``path`` and ``overrides``; :func:`snncli.trainer.train.train` refuses
      any that differ (flags not given never differ).
    * ``init_from`` given and no ``path``: the source run's settings are the base.
    * otherwise: the defaults.
    """
    overrides = dict(overrides or {})
    saved = Path(run_dir) / "config.yaml"
    if resume and saved.is_file():
        return load_config(path, overrides, base=load_config(saved))
    source = overrides.get("init_from")
    if path is None and source not in (None, EXPLICIT_NONE):
        source_cfg = Path(source) / "config.yaml"
        if not source_cfg.is_file():
            raise SnnCliError(
                f"init_from {show(str(source), 200)} is not a training run (no config.yaml); "
                "pass a directory `snncli train` wrote"
            )
        base = load_config(source_cfg)
        return load_config(None, overrides, base=replace(base, init_from=None))
    return load_config(path, overrides)


def _help_line(f) -> str:
    default = f.default_factory() if f.default_factory is not MISSING else f.default
    default = "null" if default is None else default
    choices = f.metadata.get("choices")
    tail = f" ({'|'.join(map(str, choices))})" if choices and len(choices) <= 12 else ""
    return f"  {f.name} = {default}: {f.metadata.get('help', '')}{tail}"


def config_keys_help() -> str:
    """Every config key with its default and help, one per line (for ``snncli train --help``)."""
    return "\n".join(_help_line(f) for f in fields(TrainConfig))


CONFIG_KEYS_HELP = config_keys_help()


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
