"""The Program: a network lowered for one target, as plain data.

A Program is what a target's ``lower(nir_graph)`` returns and the only thing
hwsim reads.  It holds the layers in execution order, their parameters in the
target's own units (float64 for ``float``, integers for quantized chips), the
scales that map them back to float, and a resource table.  It saves to a single
``.npz`` file and loads back bit for bit.

Layer ops (``Layer.op``) and their parameters:

========== ==================================================================
input      external data enters here; ``shape`` is the per-sample input shape
output     passes its (summed) inputs through; the network's result
dense      ``y = W x (+ b)``; params ``weight [out, in]``, optional ``bias [out]``
conv2d     ``y = W * x (+ b)``; params ``weight [co, ci/g, kh, kw]``, optional
           ``bias``, ``stride``, ``padding``, ``dilation`` (2-tuples), ``groups``
sumpool2d  ``y = sum over k x k window``; ``kernel_size``, ``stride``, ``padding``
avgpool2d  ``y = mean over k x k window`` (zero padding counted)
flatten    reshape to ``out_shape``
scale      ``y = s * x`` elementwise; param ``scale``
threshold  ``y = H(x - theta)``; param ``threshold``
neuron     stateful; ``neuron`` names the model, params are its discrete-time
           coefficients (see ``snncli.hwsim.neurons``)
========== ==================================================================

Edges: ``inputs`` are read in the same step (already computed this step, the
layers being in execution order); ``delayed_inputs`` are recurrent edges, read
from the previous step's output (zero at step 0): one step of delay, as DESIGN.md
requires.  Several inputs into one layer are summed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snncli.errors import SnnCliError

OPS = ("input", "output", "dense", "conv2d", "sumpool2d", "avgpool2d", "flatten", "scale", "threshold", "neuron")
SYNAPTIC_OPS = ("dense", "conv2d")
FORMAT_VERSION = 1


@dataclass
class Layer:
    """One lowered node; ``name`` is the NIR node it came from."""

    name: str
    op: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    inputs: list[str] = field(default_factory=list)
    delayed_inputs: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    neuron: str | None = None  # neuron model name when op == "neuron"

    @property
    def size(self) -> int:
        return int(np.prod(self.out_shape))


@dataclass
class Program:
    """A lowered network: ``layers`` in execution order plus what a report needs."""

    target: str
    dt: float
    layers: list[Layer]
    scales: dict[str, float] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise SnnCliError("program has duplicate layer names")
        self._index = {layer.name: layer for layer in self.layers}

    def layer(self, name: str) -> Layer:
        return self._index[name]

    @property
    def input_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.op == "input"]

    @property
    def output_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.op == "output"]

    @property
    def neuron_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.op == "neuron"]

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike) -> None:
        """Write the Program atomically as one ``.npz`` (arrays + a JSON header)."""
        arrays: dict[str, np.ndarray] = {}
        header_layers = []
        for i, layer in enumerate(self.layers):
            plain = {}
            for key, value in layer.params.items():
                if isinstance(value, np.ndarray):
                    arrays[f"{i}/{key}"] = value
                    plain[key] = {"__array__": f"{i}/{key}"}
                else:
                    plain[key] = to_jsonable(value)
            header_layers.append(
                {
                    "name": layer.name,
                    "op": layer.op,
                    "in_shape": list(layer.in_shape),
                    "out_shape": list(layer.out_shape),
                    "inputs": layer.inputs,
                    "delayed_inputs": layer.delayed_inputs,
                    "neuron": layer.neuron,
                    "params": plain,
                }
            )
        header = {
            "format": "snncli-program",
            "version": FORMAT_VERSION,
            "target": self.target,
            "dt": self.dt,
            "scales": to_jsonable(self.scales),
            "resources": to_jsonable(self.resources),
            "metadata": to_jsonable(self.metadata),
            "layers": header_layers,
        }
        arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Program":
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["__header__"]).decode())
                arrays = {key: data[key] for key in data.files if key != "__header__"}
        except FileNotFoundError:
            raise SnnCliError(f"program file not found: {path}") from None
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise SnnCliError(f"{path} is not a readable snncli program ({exc}); re-create it with `snncli export`") from None
        if header.get("format") != "snncli-program" or header.get("version") != FORMAT_VERSION:
            raise SnnCliError(f"{path} is not an snncli program of format version {FORMAT_VERSION}")
        layers = []
        for entry in header["layers"]:
            params = {
                key: arrays[value["__array__"]] if isinstance(value, dict) and "__array__" in value else _tupled(value)
                for key, value in entry["params"].items()
            }
            layers.append(
                Layer(
                    name=entry["name"],
                    op=entry["op"],
                    in_shape=tuple(entry["in_shape"]),
                    out_shape=tuple(entry["out_shape"]),
                    inputs=list(entry["inputs"]),
                    delayed_inputs=list(entry["delayed_inputs"]),
                    params=params,
                    neuron=entry["neuron"],
                )
            )
        return cls(
            target=header["target"],
            dt=header["dt"],
            layers=layers,
            scales=header["scales"],
            resources=header["resources"],
            metadata=header["metadata"],
        )


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it
    into place: a crash or an error never leaves a half-written ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SnnCliError(f"output folder does not exist: {directory}")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _tupled(value):
    return tuple(value) if isinstance(value, list) else value
