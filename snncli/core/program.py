"""The Program: a network lowered for one target, as plain typed data.

A Program is what a target's ``lower`` returns and the only thing hwsim reads.  Its
``layers`` run in execution order; each holds one op record (below) with its
parameters in the target's own units (float64 for ``float``, integers for a chip).
The Program also records the physics it was lowered with (``dt``, ``reading``),
how a dataset drives it (``source``), its pipeline latency in steps, the scales that
map integers back to float, and a resource table.  ``save``/``load`` round-trip it
bit for bit through one ``.npz`` file; ``load`` turns an unknown op, neuron model or
key into a one-line error.

Edges: ``inputs`` are read in the same step (already computed this step: the layers
are in execution order); ``delayed_inputs`` carry the previous step's output (zero
at step 0), one step of delay, as recurrent edges and a chip's pipelined synapses
need.  Several inputs into one layer are summed.

Neuron models (the parameter record of a :class:`Neuron` op, with its state and
step function) are registered by the targets that bring them
(:func:`register_neuron_model`); hwsim looks them up by name.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, ClassVar

import numpy as np

from snncli.core.files import atomic_write, one_line, to_jsonable
from snncli.errors import SnnCliError

Shape = tuple[int, ...]
FORMAT = "snncli-program"
FORMAT_VERSION = 2
MAX_PROGRAM_BYTES = 8 << 30  # refuse to inflate Program files beyond this (declared sizes are checked first)


# ---------------------------------------------------------------- checks
def array(value, what: str, ndim: int | None = None, dtype=None) -> np.ndarray:
    """``value`` as a numeric array with finite entries (and ``ndim`` dimensions), or a one-line error."""
    arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    if arr.dtype.kind not in "biuf":
        raise SnnCliError(f"{what} must be numeric, got {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise SnnCliError(f"{what} must have {ndim} dimensions, got shape {list(arr.shape)}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise SnnCliError(f"{what} contains NaN or infinite values")
    return arr


def pair(value, what: str, minimum: int) -> tuple[int, int]:
    """One or two integers ``>= minimum`` as a pair."""
    arr = np.atleast_1d(np.asarray(value)).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or arr.dtype.kind not in "biuf" or not np.all(arr == np.round(arr)) or np.any(arr < minimum):
        raise SnnCliError(f"{what} must be one or two integers >= {minimum}, got {one_line(repr(value), 60)}")
    return int(arr[0]), int(arr[1])


# ---------------------------------------------------------------- ops
OPS: dict[str, type] = {}


def _op(cls):
    OPS[cls.kind] = cls
    return cls


@_op
@dataclass(frozen=True, eq=False)
class Input:
    """External data enters here.

    ``scale`` None: the data as given (spikes or currents).  Otherwise unsigned graded
    spikes, as a chip's multi-bit input messages carry them:
    ``x_q = clip(round(x * scale), 0, 2**bits - 1)``.
    """

    kind: ClassVar[str] = "input"
    scale: float | None = None
    bits: int | None = None

    def __post_init__(self):
        if (self.scale is None) != (self.bits is None):
            raise SnnCliError("input layer: scale and bits go together")
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0 and int(self.bits) >= 1):
            raise SnnCliError(f"input layer: scale must be > 0 and bits >= 1, got {self.scale}, {self.bits}")


@_op
@dataclass(frozen=True, eq=False)
class Output:
    """The network's result: the sum of its inputs, passed through."""

    kind: ClassVar[str] = "output"


@_op
@dataclass(frozen=True, eq=False)
class Dense:
    """``y = W x (+ b)``.  ``weight [out, in]``; ``bias [out]`` or None."""

    kind: ClassVar[str] = "dense"
    weight: np.ndarray
    bias: np.ndarray | None = None

    def __post_init__(self):
        w = array(self.weight, "dense weight", ndim=2)
        object.__setattr__(self, "weight", w)
        if self.bias is not None:
            object.__setattr__(self, "bias", array(self.bias, "dense bias"))
            if self.bias.shape != (w.shape[0],):
                raise SnnCliError(f"dense bias has shape {list(self.bias.shape)}, expected [{w.shape[0]}]")


@_op
@dataclass(frozen=True, eq=False)
class Conv2d:
    """``y[co] = sum_ci W[co, ci] * x[ci] (+ b[co])``, cross-correlation with zero padding, as torch.

    ``weight [co, ci/groups, kh, kw]``; ``stride``, ``padding``, ``dilation`` pairs (y, x).
    """

    kind: ClassVar[str] = "conv2d"
    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self):
        w = array(self.weight, "conv2d weight", ndim=4)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "stride", pair(self.stride, "conv2d stride", 1))
        object.__setattr__(self, "padding", pair(self.padding, "conv2d padding", 0))
        object.__setattr__(self, "dilation", pair(self.dilation, "conv2d dilation", 1))
        object.__setattr__(self, "groups", int(self.groups))
        if self.groups < 1 or w.shape[0] % self.groups:
            raise SnnCliError(f"conv2d groups={self.groups} does not divide its {w.shape[0]} output channels")
        if self.bias is not None:
            object.__setattr__(self, "bias", array(self.bias, "conv2d bias"))
            if self.bias.shape != (w.shape[0],):
                raise SnnCliError(f"conv2d bias has shape {list(self.bias.shape)}, expected [{w.shape[0]}]")


@dataclass(frozen=True, eq=False)
class _Pool:
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self):
        object.__setattr__(self, "kernel_size", pair(self.kernel_size, f"{self.kind} kernel_size", 1))
        object.__setattr__(self, "stride", pair(self.stride, f"{self.kind} stride", 1))
        object.__setattr__(self, "padding", pair(self.padding, f"{self.kind} padding", 0))


@_op
@dataclass(frozen=True, eq=False)
class SumPool2d(_Pool):
    """``y[c, i, j] = sum over the k x k window of x[c]`` (zero padding)."""

    kind: ClassVar[str] = "sumpool2d"


@_op
@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool):
    """``y[c, i, j] = mean over the k x k window of x[c]`` (zero padding counted)."""

    kind: ClassVar[str] = "avgpool2d"


@_op
@dataclass(frozen=True, eq=False)
class Flatten:
    """Reshape to the layer's ``out_shape`` (C, H, W order, as torch)."""

    kind: ClassVar[str] = "flatten"


@_op
@dataclass(frozen=True, eq=False)
class Scale:
    """``y = s * x`` elementwise."""

    kind: ClassVar[str] = "scale"
    scale: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "scale", array(self.scale, "scale"))


@_op
@dataclass(frozen=True, eq=False)
class Threshold:
    """``y = H(x - theta)``: 1 where ``x > theta``, else 0."""

    kind: ClassVar[str] = "threshold"
    threshold: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "threshold", array(self.threshold, "threshold"))


@_op
@dataclass(frozen=True, eq=False)
class Neuron:
    """A stateful layer; ``params`` is the record of a registered neuron model, whose
    docstring holds its discrete-time equations."""

    kind: ClassVar[str] = "neuron"
    params: Any

    def __post_init__(self):
        model = getattr(type(self.params), "model", None)
        if model not in NEURON_MODELS:
            raise SnnCliError(f"neuron layer: {type(self.params).__name__} is not a registered neuron model")


SYNAPTIC = ("dense", "conv2d")


def conv_output_hw(hw, kernel, stride, padding, dilation=(1, 1)) -> tuple[int, int]:
    """Output height and width of a convolution or pooling window (torch's rule):
    ``out = floor((in + 2 p - d (k - 1) - 1) / s) + 1`` per axis."""
    return tuple(int((hw[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1) for i in range(2))


# ---------------------------------------------------------------- neuron models
@dataclass(frozen=True)
class NeuronModel:
    """A neuron arithmetic: its parameter record and pure functions (Norse's functional style)

    ``init(shape, batch, params) -> state`` (a dict of arrays) and
    ``step(state, x, params) -> (state, out)`` over arrays ``[batch, *shape]``.
    ``params.model`` names it; ``params.event_driven`` (a ClassVar, default False)
    says whether the chip touches a neuron only when an event reaches it.
    ``window(state, x, params, record, out=None, events=None) -> (state, out, records)``,
    optional: ``step`` over every step of ``x [T, batch, *shape]`` in one compiled loop, bit
    for bit the same (fuzzed against ``step`` in tests/test_hwsim_kernels.py), writing into
    ``out`` (float64, ``x``'s shape) when given; ``records`` (with ``record``) holds every
    per-neuron state variable after each step, ``[T, batch, *shape]`` in the width the chip
    stores it; ``events`` (int64 ``[T * batch + 1]``), when given, receives where each row
    ``t * batch + b`` of ``out``'s non-zero values starts (``events[0] = 0``), counted as the
    loop writes them: the next layer's events without a scan.  Without it hwsim calls ``step``
    T times.  ``params.multi_spike``: whether a step may emit several spikes per neuron; when
    False, hwsim takes the layer's spike count from ``events``, else (or when the record does
    not say) it sums the outputs.
    """

    params: type
    init: Callable
    step: Callable
    updates: Callable | None = None  # (x, params) -> neuron updates this step; None: every neuron (clocked)
    window: Callable | None = None  # the compiled run over a time window (above); None: step by step

    @property
    def name(self) -> str:
        return self.params.model


NEURON_MODELS: dict[str, NeuronModel] = {}
TARGETS_GROUP = "snncli.targets"  # entry points of the installed targets (pyproject.toml)


def _load_installed_targets() -> None:
    """Import every installed target package, which registers its neuron models.  Discovery by entry point,
    not an import: the core sits below the targets and names none of them."""
    from importlib.metadata import entry_points

    for point in entry_points(group=TARGETS_GROUP):
        point.load()


def register_neuron_model(model: NeuronModel) -> NeuronModel:
    """Make ``model`` known to Program.load and hwsim (targets call this for the models they bring)."""
    if not is_dataclass(model.params) or not isinstance(getattr(model.params, "model", None), str):
        raise TypeError("a neuron model's params must be a dataclass with a ClassVar 'model' name")
    NEURON_MODELS[model.name] = model
    return model


def neuron_model(name: str) -> NeuronModel:
    """The registered model ``name``; if none is, the installed targets (entry points ``snncli.targets``)
    are imported first, so a Program loaded in a fresh process finds the models its target brings."""
    if name not in NEURON_MODELS:
        _load_installed_targets()
    try:
        return NEURON_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(NEURON_MODELS)) or "none registered"
        raise SnnCliError(f"no neuron model {name!r} in hwsim (known: {known})") from None


# ---------------------------------------------------------------- layers and programs
@dataclass(frozen=True, eq=False)
class Layer:
    """One lowered node: ``name`` (the NIR node it came from), its op record, shapes per sample, sources."""

    name: str
    op: Any
    in_shape: Shape
    out_shape: Shape
    inputs: tuple[str, ...] = ()
    delayed_inputs: tuple[str, ...] = ()

    def __post_init__(self):
        if type(self.op) not in OPS.values():
            raise SnnCliError(f"layer {self.name!r}: {type(self.op).__name__} is not a Program op")
        for key in ("in_shape", "out_shape"):
            shape = tuple(int(s) for s in getattr(self, key))
            if any(s < 1 for s in shape):
                raise SnnCliError(f"layer {self.name!r}: invalid {key} {list(shape)}")
            object.__setattr__(self, key, shape)
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "delayed_inputs", tuple(self.delayed_inputs))

    @property
    def kind(self) -> str:
        return self.op.kind

    @property
    def size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def neuron(self):
        """The neuron parameter record (neuron layers), else None."""
        return self.op.params if self.kind == "neuron" else None


@dataclass(frozen=True)
class Source:
    """Where a network came from and how a dataset drives it (what its training run recorded)."""

    producer: str | None = None
    dataset: str | None = None
    encoder: str | None = None
    encoder_options: dict = field(default_factory=dict)
    time_steps: int | None = None
    split_seed: int = 0
    num_classes: int | None = None
    model: str | None = None


@dataclass(frozen=True)
class TwinLayer:
    """One synaptic node of the network run once as an ANN: ``macs`` multiply-accumulates per inference."""

    name: str  # the NIR node
    op: str  # "dense" or "conv2d"
    macs: int
    weights: int  # non-zero weights of the node

    def __post_init__(self):
        if self.op not in SYNAPTIC or int(self.macs) < 0 or int(self.weights) < 0:
            raise SnnCliError(
                f"ANN twin layer {self.name!r}: op must be one of {', '.join(SYNAPTIC)} and the "
                f"counts >= 0, got {self.op!r}, {self.macs}, {self.weights}"
            )
        object.__setattr__(self, "macs", int(self.macs))
        object.__setattr__(self, "weights", int(self.weights))


@dataclass(frozen=True)
class AnnTwin:
    """The same network run once as an ANN, counted on the NIR graph the Program came from
    (:mod:`snncli.nirgraph.twin`), never on a target's lowered layers: one network, one twin.

    ``E_ann = sum(layer.macs) * e_mac`` per inference (bias and pooling not charged)."""

    layers: tuple[TwinLayer, ...] = ()
    source: str = "the NIR graph"

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def to_json(self) -> dict:
        return {"source": self.source, "macs": self.macs, "layers": [vars(layer) for layer in self.layers]}

    @classmethod
    def from_json(cls, data: dict, where: str) -> AnnTwin:
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise SnnCliError(f"{where}: the ANN twin must be a record with a list of layers")
        if not all(isinstance(row, dict) for row in data["layers"]):
            raise SnnCliError(f"{where}: every ANN twin layer must be a record (name, op, macs, weights)")
        return cls(
            tuple(_decode_fields(TwinLayer, row, {}, f"{where}: ANN twin layer") for row in data["layers"]),
            str(data.get("source", "the NIR graph")),
        )


@dataclass(eq=False)
class Program:
    """A lowered network: ``layers`` in execution order and the physics it was lowered with.

    ``latency_steps``: steps a pipelined chip needs to bring an input to the output
    (append that many zero steps; the output of steps ``[latency, latency + T)`` is
    the float model's ``[0, T)``).  ``notes``: the target's own record (JSON-able).
    ``twin``: the network's ANN twin (set by ``targets.lower`` from the graph; None in a
    Program written before snncli recorded it).
    """

    target: str
    dt: float
    layers: list[Layer]
    reading: str = "nir"
    latency_steps: int = 0
    source: Source = field(default_factory=Source)
    scales: dict[str, float] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    twin: AnnTwin | None = None

    def __post_init__(self):
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise SnnCliError(f"program dt must be positive, got {self.dt}")
        if int(self.latency_steps) < 0:
            raise SnnCliError(f"program latency_steps must be >= 0, got {self.latency_steps}")
        self.latency_steps = int(self.latency_steps)
        self._index = {}
        for layer in self.layers:
            if layer.name in self._index:
                raise SnnCliError(f"program has two layers named {layer.name!r}")
            self._index[layer.name] = layer
        for layer in self.layers:
            for src in (*layer.inputs, *layer.delayed_inputs):
                if src not in self._index:
                    raise SnnCliError(f"layer {layer.name!r} reads {src!r}, which the program does not have")

    def layer(self, name: str) -> Layer:
        return self._index[name]

    def of_kind(self, kind: str) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind == kind]

    @property
    def input_layers(self) -> list[Layer]:
        return self.of_kind("input")

    @property
    def output_layers(self) -> list[Layer]:
        return self.of_kind("output")

    @property
    def neuron_layers(self) -> list[Layer]:
        return self.of_kind("neuron")

    def with_layers(self, layers: list[Layer]) -> Program:
        return replace(self, layers=layers)

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike) -> None:
        """Write the Program atomically as one ``.npz``: arrays plus a JSON header."""
        arrays: dict[str, np.ndarray] = {}
        layers = [
            {
                "name": layer.name,
                "op": layer.kind,
                "in_shape": list(layer.in_shape),
                "out_shape": list(layer.out_shape),
                "inputs": list(layer.inputs),
                "delayed_inputs": list(layer.delayed_inputs),
                "params": _encode(layer.op, str(i), arrays),
            }
            for i, layer in enumerate(self.layers)
        ]
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "target": self.target,
            "dt": self.dt,
            "reading": self.reading,
            "latency_steps": self.latency_steps,
            "source": to_jsonable(vars(self.source)),
            "scales": to_jsonable(self.scales),
            "resources": to_jsonable(self.resources),
            "notes": to_jsonable(self.notes),
            "warnings": list(self.warnings),
            "twin": self.twin.to_json() if self.twin is not None else None,
            "layers": layers,
        }
        arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Program:
        """Read a Program file; anything malformed is a one-line :class:`SnnCliError`."""
        path = os.fspath(path)
        header, arrays = _read_npz(path)
        where = f"{path}"
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise SnnCliError(f"{where} is not an snncli Program; re-create it with `snncli export`")
        if header.get("version") != FORMAT_VERSION:
            raise SnnCliError(
                f"{where} is an snncli Program of format version {header.get('version')}, this snncli "
                f"reads version {FORMAT_VERSION}; re-create it with `snncli export`"
            )
        try:
            layers = [_decode_layer(entry, arrays, where) for entry in header["layers"]]
            source = _decode_fields(Source, header.get("source") or {}, {}, f"{where}: source")
            return cls(
                target=str(header["target"]),
                dt=float(header["dt"]),
                layers=layers,
                reading=str(header.get("reading", "nir")),
                latency_steps=int(header.get("latency_steps", 0)),
                source=source,
                scales=dict(header.get("scales") or {}),
                resources=dict(header.get("resources") or {}),
                notes=dict(header.get("notes") or {}),
                warnings=[str(w) for w in header.get("warnings") or []],
                twin=AnnTwin.from_json(header["twin"], where) if header.get("twin") is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnnCliError(
                f"{where} is a malformed snncli Program ({one_line(exc, 120)}); re-create it with `snncli export`"
            ) from None


def _read_npz(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    if not os.path.exists(path):
        raise SnnCliError(f"program file not found: {path}")
    if os.path.isdir(path):
        raise SnnCliError(f"{path} is a folder, not a Program file")
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
        if declared > MAX_PROGRAM_BYTES:
            raise SnnCliError(
                f"{path} declares {declared / 2**30:.1f} GiB of arrays, more than snncli reads "
                f"({MAX_PROGRAM_BYTES >> 30} GiB); it is not a Program snncli wrote"
            )
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["__header__"]).decode())
            arrays = {key: data[key] for key in data.files if key != "__header__"}
    except SnnCliError:
        raise
    except Exception as exc:  # zipfile, numpy and json raise many kinds for a truncated or foreign file
        raise SnnCliError(
            f"{path} is not a readable snncli Program ({one_line(exc, 120)}); re-create it with `snncli export`"
        ) from None
    return header, arrays


def _encode(obj, prefix: str, arrays: dict) -> dict:
    """A record's fields as JSON, arrays moved into ``arrays`` under ``prefix/field``."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}/{f.name}"
        if isinstance(value, np.ndarray):
            arrays[key] = value
            out[f.name] = {"__array__": key}
        elif is_dataclass(value):
            out[f.name] = {"__neuron__": type(value).model, **_encode(value, key, arrays)}
        else:
            out[f.name] = to_jsonable(value)
    return out


def _decode_value(value, arrays: dict, where: str):
    if isinstance(value, dict) and "__array__" in value:
        if value["__array__"] not in arrays:
            raise SnnCliError(f"{where}: array {value['__array__']!r} is missing from the file")
        return arrays[value["__array__"]]
    if isinstance(value, dict) and "__neuron__" in value:
        model = neuron_model(str(value["__neuron__"]))
        rest = {k: v for k, v in value.items() if k != "__neuron__"}
        return _decode_fields(model.params, rest, arrays, f"{where} ({model.name})")
    if isinstance(value, list):
        return tuple(value)
    return value


def _decode_fields(cls, data: dict, arrays: dict, where: str):
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SnnCliError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values = {k: _decode_value(v, arrays, where) for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise SnnCliError(f"{where}: {one_line(exc, 120)}") from None


def _decode_layer(entry: dict, arrays: dict, where: str) -> Layer:
    name, kind = str(entry["name"]), str(entry["op"])
    if kind not in OPS:
        raise SnnCliError(
            f"{where}: layer {name!r} has op {kind!r}, which hwsim does not know (known: {', '.join(OPS)})"
        )
    op = _decode_fields(OPS[kind], entry.get("params") or {}, arrays, f"{where}: layer {name!r}")
    return Layer(
        name,
        op,
        tuple(entry["in_shape"]),
        tuple(entry["out_shape"]),
        tuple(entry.get("inputs") or ()),
        tuple(entry.get("delayed_inputs") or ()),
    )
