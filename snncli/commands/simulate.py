"""``snncli simulate``: a graph or Program through hwsim, driven by a dataset or an array.

The pieces stay apart: datasets and encoders (:mod:`snncli.data`) make the input, a
target lowers the graph (:mod:`snncli.commands.network`), hwsim runs the Program.
A dataset drives the network as its training run did: the encoder and number of
steps the graph records, unless flags say otherwise (and contradicting ones are
refused unless forced, as for ``dt``).
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field, replace

import numpy as np

from snncli.commands.console import Console
from snncli.commands.network import Network, open_network
from snncli.core.files import atomic_write, check_output_path
from snncli.core.physics import resolve
from snncli.errors import SnnCliError

MAX_INPUT_BYTES = 4 << 30


@dataclass(frozen=True)
class SimulateRequest:
    network: str  # .nir graph or .npz Program
    target: str | None = None  # None: the Program's own, or float for a graph
    options: dict = field(default_factory=dict)  # the target's options, by field name
    dataset: str | None = None
    input: str | None = None  # .npy [T, N, *shape]
    data_root: str | None = None
    encoder: str | None = None
    time_steps: int | None = None
    limit: int | None = None
    dt: float | None = None
    reading: str | None = None
    override: frozenset = frozenset()
    record: str | None = None  # .npz for every layer's output and states per step
    batch_size: int = 256
    seed: int = 0


@dataclass
class SimulateResult:
    source: str
    target: str
    reading: str
    dt: float
    settings: dict
    samples: int
    steps: int
    accuracy: float | None
    seconds: float
    layers: list[dict]
    totals: dict
    warnings: list[str]
    notes: list[str]
    record: str | None = None
    twin: dict | None = None  # the network's ANN twin (Program.twin), what `snncli report` compares with
    latency: dict | None = None  # per inference and per step, from the target's timing model or measured

    def to_json(self) -> dict:
        return {"command": "simulate", **vars(self)}


def simulate(req: SimulateRequest, console: Console | None = None) -> SimulateResult:
    from snncli.hwsim.latency import latency
    from snncli.hwsim.simulate import Simulator, check_input, output_window, pad_for_latency

    console = console or Console()
    if req.record:
        check_output_path(req.record, "--record file")
    if req.input and req.dataset:
        raise SnnCliError("give --dataset or --input, not both")
    net = open_network(req.network, console, req.target, req.options, req.dt, req.reading, req.override)
    program = net.program
    labels = None
    if req.input:
        x = check_input(program, _load_input(req.input, req.limit))
        batches = (x[:, start : start + req.batch_size] for start in range(0, x.shape[1], req.batch_size))
        samples = x.shape[1]
    else:  # encoded batch by batch as the simulation goes (encode_batches)
        batches, labels = _dataset_input(net, req, console)
        samples = len(labels)
    simulator = Simulator(program)
    start = time.perf_counter()
    with console.progress("hwsim", total=samples) as update, RecordFile(req.record, samples) as sink:
        padded = (pad_for_latency(program, b) for b in batches)
        result = simulator.stream(padded, progress=update, sink=sink if req.record else None)
    seconds = time.perf_counter() - start
    window = output_window(program, result.steps - program.latency_steps)
    warn_clipped(result, program, console)
    accuracy = float(np.mean(result.predictions(window) == labels)) if labels is not None else None
    if program.twin is None:
        console.warn(
            f"{os.path.basename(req.network)} records no ANN twin (a Program written by an older snncli): "
            "`snncli report` will count the twin on the lowered layers; export it again to record it"
        )
    layers = result.layers()
    return SimulateResult(
        source=os.path.basename(req.network), target=program.target, reading=program.reading, dt=program.dt,
        settings=net.settings, samples=result.samples, steps=result.steps, accuracy=accuracy, seconds=seconds,
        layers=layers, totals=result.totals(), warnings=console.warnings, notes=console.notes, record=req.record,
        twin=program.twin.to_json() if program.twin is not None else None,
        latency=latency(program, layers, result.steps, seconds, result.samples),
    )  # fmt: skip


def warn_clipped(result, program, console: Console) -> None:
    """Say how many input values a graded input layer clipped (they no longer mean what they did)."""
    if result.clipped_inputs:
        op = program.input_layers[0].op
        total = result.samples * result.steps * program.input_layers[0].size
        console.warn(
            f"{result.clipped_inputs} of {total} input values ({100 * result.clipped_inputs / total:.2g} %) "
            f"fall outside the 0..{2**op.bits - 1} the input layer carries after scaling by {op.scale:g}; "
            "they were clipped (the chip would clip them too)"
        )


def _load_input(path: str, limit: int | None) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False, mmap_mode="r")
    except FileNotFoundError:
        raise SnnCliError(f"input file not found: {path}") from None
    except IsADirectoryError:
        raise SnnCliError(f"--input {path} is a folder; give a .npy array [time, batch, *input_shape]") from None
    except (ValueError, OSError, EOFError) as exc:
        raise SnnCliError(f"{path} is not a readable .npy array ({str(exc)[:120]}); save one with numpy.save") from None
    if not isinstance(x, np.ndarray):
        raise SnnCliError(f"{path} is an .npz archive; --input takes one .npy array [time, batch, *input_shape]")
    if x.nbytes > MAX_INPUT_BYTES:
        raise SnnCliError(
            f"{path} holds {x.nbytes / 2**30:.1f} GiB; split it into files below {MAX_INPUT_BYTES >> 30} GiB"
        )
    if limit is not None:
        x = x[:, :limit]
    return np.asarray(x)


def _dataset_input(net: Network, req: SimulateRequest, console: Console):
    """``(batches, labels)``: the test split encoded as at training time, batch by batch (arrays ``[T, b, *shape]``,
    :func:`snncli.data.encode_batches`: the values encode_split gives, never the whole split in float64)."""
    from snncli.data import encode_batches, load_dataset

    source = net.program.source
    name = req.dataset or source.dataset
    if not name:
        raise SnnCliError("this graph does not say which dataset it was trained on: pass --dataset or --input X.npy")
    where = "the graph" if net.graph is not None else "the Program"
    encoder = resolve("encoder", req.encoder, source.encoder, None, "encoder" in req.override, where)
    steps = resolve("time_steps", req.time_steps, source.time_steps, None, "time_steps" in req.override, where)
    for setting in (encoder, steps):
        if setting.origin == "override":
            console.warn(setting.note)
        net.settings[setting.name] = {"value": setting.value, "origin": setting.origin}
    data = load_dataset(name, data_root=req.data_root, seed=source.split_seed, time_steps=steps.value)
    if not data.time_steps and (not encoder.value or not steps.value):
        raise SnnCliError("this graph does not say how its input was encoded: pass --encoder and --time-steps")
    expected = tuple(net.program.input_layers[0].out_shape)
    if tuple(data.sample_shape) != expected:
        if int(np.prod(data.sample_shape)) != int(np.prod(expected)):
            raise SnnCliError(
                f"dataset {name!r} has samples of shape {list(data.sample_shape)} but the graph's "
                f"input is {list(expected)}"
            )
        lead = 2 if data.time_steps else 1
        data = replace(data, test_x=data.test_x.reshape(*data.test_x.shape[:lead], *expected), sample_shape=expected)
    options = source.encoder_options if encoder.value == source.encoder else {}
    return encode_batches(data, "test", encoder.value, steps.value, options, req.limit, req.seed, req.batch_size)


class RecordFile:
    """``--record``: every layer's outputs and states written batch by batch into one ``.npz`` (``np.load`` reads
    it; keys ``layer/out``, ``layer/v``, ...; arrays ``[T, N, *shape]``), memory bounded by one batch.

    Each array is a raw ``.npy`` file in a temporary folder beside the output, filled where each batch's samples
    go (``T`` contiguous pieces per batch), then stored (not compressed) into the zip at the end; the result
    replaces ``path`` only once complete (:func:`atomic_write`).  Values take the narrowest type that holds them
    (:func:`_compact`; hwsim gives spikes as bool and chip states in the chip's width); a batch that needs a
    wider type than the ones before it widens that file."""

    def __init__(self, path: str | None, samples: int):
        self.path, self.samples, self.at = path, int(samples), 0
        self.files: dict[str, tuple] = {}  # key -> (file name, dtype, shape, data offset)

    def __enter__(self):
        if self.path:
            parent = os.path.dirname(os.path.abspath(self.path))
            self._tmp = tempfile.TemporaryDirectory(dir=parent, prefix=".tmp-record-")
        return self

    def __exit__(self, kind, *_):
        if self.path:
            try:
                if kind is None:
                    atomic_write(self.path, self._zip)
            finally:
                self._tmp.cleanup()

    def __call__(self, batch: dict) -> None:
        size = 0
        for name, rec in batch.items():
            for key, value in rec.items():
                self._write(f"{name}/{key}", _compact(value))
                size = value.shape[1]
        self.at += size

    def _write(self, key: str, value: np.ndarray) -> None:
        if key not in self.files:
            self._create(key, value.dtype, (value.shape[0], self.samples, *value.shape[2:]))
        name, dtype, shape, offset = self.files[key]
        if np.promote_types(dtype, value.dtype) != dtype:
            self._widen(key, np.promote_types(dtype, value.dtype))
            name, dtype, shape, offset = self.files[key]
        per_step = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        row = per_step // shape[1]
        data = np.ascontiguousarray(value, dtype=dtype)
        with open(name, "r+b") as f:
            for t in range(shape[0]):
                f.seek(offset + t * per_step + self.at * row)
                f.write(data[t].tobytes())

    def _create(self, key: str, dtype, shape: tuple, data: np.ndarray | None = None) -> None:
        name = os.path.join(self._tmp.name, f"{len(self.files)}-{key.replace('/', '_')}.npy")
        dtype = np.dtype(dtype)
        with open(name, "wb") as f:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(f, header)
            offset = f.tell()
            if data is None:
                f.truncate(offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
            else:
                f.write(np.ascontiguousarray(data, dtype=dtype).tobytes())
        self.files[key] = (name, dtype, shape, offset)

    def _widen(self, key: str, dtype) -> None:
        name, old, shape, offset = self.files[key]
        data = np.fromfile(name, dtype=old, offset=offset).reshape(shape)
        os.unlink(name)
        self._create(key, dtype, shape, data)

    def _zip(self, f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, (name, *_) in self.files.items():
                archive.write(name, arcname=f"{key}.npy")


def _compact(value: np.ndarray) -> np.ndarray:
    """Integer-valued records in the smallest integer type that holds them (hwsim's spikes are bool already,
    chip states in the chip's width); a float array is tested on its first 64k values before all of them."""
    if value.dtype.kind == "f" and value.size and _integers(value.reshape(-1)[: 1 << 16]) and _integers(value):
        lo, hi = float(value.min()), float(value.max())
        for dtype in (np.uint8, np.int8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= lo and hi <= info.max:
                return value.astype(dtype)
    if value.dtype == np.int64 and value.size:
        lo, hi = int(value.min()), int(value.max())
        for dtype in (np.int8, np.int16, np.int32):
            if np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max:
                return value.astype(dtype)
    return value


def _integers(value: np.ndarray) -> bool:
    return bool(np.array_equal(value, np.round(value)))
