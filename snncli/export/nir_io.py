"""NIR file I/O and graph validation.

Everything downstream of ``export`` reads NIR only, so this module is the one
gate every graph goes through, whoever wrote it (snncli, snnTorch, Sinabs,
Norse, Rockpool, SpikingJelly):

* :func:`read_nir` reads a ``.nir`` file without nir's own type check (nir >=
  1.0.7 rejects graphs that carry a batch dimension, such as Rockpool's
  ``Output [1, 1, 1]``), then validates it with :func:`validate_graph`.
* :func:`validate_graph` checks structure, parameters and shapes, infers the
  shape of every node, and tolerates exactly one producer quirk: leading
  singleton (batch) dimensions on declared Input/Output shapes, which it
  squeezes with a warning.  Any other problem raises :class:`SnnCliError`
  naming the node(s), the field or shapes, and what to do.
* :func:`write_nir` validates, then writes atomically: a failure never leaves a
  partial file and never clobbers an existing one.
* :func:`reset_mode` reads the one node-metadata key of this project,
  ``metadata["reset_mode"]`` (``"zero"``, the default, or ``"subtract"``):
  NIR 1.0.8 has no field for reset by subtraction (DESIGN.md, "Semantics").
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from typing import Any, NamedTuple

import h5py
import nir
import numpy as np
from nir.ir.utils import calc_flatten_output
from nir.serialization import hdf2dict

from snncli.errors import SnnCliError
from snncli.targets.program import atomic_write

RESET_MODE_KEY = "reset_mode"
"""Node-metadata key for the reset of a spiking node: ``"zero"`` (the default
when absent: ``v <- v_reset``) or ``"subtract"`` (``v <- v - v_threshold``)."""
RESET_MODES = ("zero", "subtract")

SUPPORTED_NODES = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv2d", "SumPool2d",
    "AvgPool2d", "Flatten", "IF", "LIF", "LI", "CubaLIF", "CubaLI", "Threshold",
)  # fmt: skip
SPIKING_NODES = ("IF", "LIF", "CubaLIF")
_TAU_FIELDS = ("tau", "tau_mem", "tau_syn")
# Per-neuron parameter fields, which must all have the node's shape.
_NEURON_FIELDS = {
    "IF": ("r", "v_threshold", "v_reset"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "Scale": ("scale",),
    "Threshold": ("threshold",),
}


class ReadResult(NamedTuple):
    """What :func:`read_nir` returns; unpacks as ``graph, warnings = read_nir(p)``."""

    graph: nir.NIRGraph
    warnings: list[str]


# --------------------------------------------------------------------- reset
def reset_mode(node: nir.NIRNode, name: str | None = None) -> str:
    """``"zero"`` or ``"subtract"``, from ``node.metadata[RESET_MODE_KEY]``
    (``"zero"`` when absent).  An unknown value raises :class:`SnnCliError`."""
    value = (getattr(node, "metadata", None) or {}).get(RESET_MODE_KEY, "zero")
    if isinstance(value, bytes):
        value = value.decode("utf8", "replace")
    if value not in RESET_MODES:
        where = f"node {name!r}" if name is not None else f"a {type(node).__name__} node"
        raise SnnCliError(
            f"{where} has metadata {RESET_MODE_KEY}={value!r}; expected one of "
            f"{', '.join(RESET_MODES)}: fix the producer or the file"
        )
    return value


# ---------------------------------------------------------------------- read
def read_nir(path: str | os.PathLike) -> ReadResult:
    """Read and validate a ``.nir`` file; returns ``(graph, warnings)``.

    Raises :class:`SnnCliError` (never a raw h5py/nir exception) for a missing,
    non-HDF5, truncated or corrupt file, an HDF5 file that is no NIR graph, a
    node type snncli does not support (nested graphs included), and every
    problem :func:`validate_graph` finds.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SnnCliError(f"NIR file not found: {path}")
    if os.path.isdir(path):
        raise SnnCliError(f"{path} is a folder, not a NIR file")
    try:
        with h5py.File(path, "r") as f:
            graph = _graph_from_hdf5(f, path)
    except SnnCliError:
        raise
    except Exception as exc:  # h5py/nir raise OSError, KeyError, TypeError, ...
        raise SnnCliError(
            f"cannot read {path}: not an HDF5 file, or truncated or corrupt "
            f"({_one_line(exc)}); re-export or re-download it"
        ) from None
    return ReadResult(graph, validate_graph(graph))


def _graph_from_hdf5(f: h5py.File, path: str) -> nir.NIRGraph:
    root = f.get("node")
    if not isinstance(root, h5py.Group) or _h5_str(root.get("type")) != "NIRGraph":
        raise SnnCliError(f"{path} is an HDF5 file but not a NIR graph (no top-level 'node' NIRGraph group)")
    if not isinstance(root.get("nodes"), h5py.Group) or "edges" not in root:
        raise SnnCliError(f"{path} is not a valid NIR graph: its 'node' group lacks 'nodes' or 'edges'")
    for name, group in root["nodes"].items():  # check types before nir sees them
        kind = _h5_str(group.get("type")) if isinstance(group, h5py.Group) else None
        _check_node_type(name, kind)
    data = hdf2dict(root)
    nodes = {}
    for name, node_dict in data["nodes"].items():
        try:
            nodes[name] = nir.dict2NIRNode(node_dict)
        except Exception as exc:
            raise SnnCliError(
                f"node {name!r} ({node_dict.get('type')}) in {path} is malformed: "
                f"{_one_line(exc)}; re-export the graph"
            ) from None
        nodes[name].metadata = _plain(nodes[name].metadata)
    edges = _edges(data["edges"], path)
    metadata = _plain(data.get("metadata", {}))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def _check_node_type(name: str, kind: str | None) -> None:
    if kind == "NIRGraph":
        raise SnnCliError(
            f"node {name!r} is a nested NIRGraph (subgraph), which snncli does not "
            "read: flatten the subgraph into the top-level graph and re-export"
        )
    if kind not in SUPPORTED_NODES:
        raise SnnCliError(
            f"node {name!r} has type {kind!r}, which snncli does not support; "
            f"supported node types: {', '.join(SUPPORTED_NODES)}"
        )


def _edges(raw: Any, path: str) -> list[tuple[str, str]]:
    arr = np.asarray(raw, dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise SnnCliError(f"{path}: the graph's edges are not a list of (source, target) pairs")
    return [(_to_str(a), _to_str(b)) for a, b in arr]


def _h5_str(dataset: Any) -> str | None:
    if not isinstance(dataset, h5py.Dataset):
        return None
    return _to_str(dataset[()])


def _to_str(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _plain(value: Any) -> Any:
    """Metadata as read from HDF5 -> plain Python: numpy scalars -> int/float/
    bool, byte strings -> str, arrays of strings -> lists of str."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [_plain(v) for v in value.tolist()]
    return value


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------- write
def write_nir(graph: nir.NIRGraph, path: str | os.PathLike) -> list[str]:
    """Validate ``graph`` (see :func:`validate_graph`, which also fills in the
    inferred shapes nir needs to serialize it), then write it atomically.

    Serialization happens in memory with ``compression=None`` (nir's default
    gzip fails on 0-d arrays: "Scalar datasets don't support chunk/filter
    options"), and the bytes go to a temporary file renamed into place, so an
    error never leaves a partial file.  Returns the validation warnings.
    """
    warnings = validate_graph(graph)
    _check_storable(graph.metadata, "graph metadata")
    for name, node in graph.nodes.items():
        _check_storable(node.metadata, f"metadata of node {name!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SnnCliError(f"{path} is a folder; give a file name such as model.nir")
    try:
        atomic_write(path, lambda f: _dump(graph, f))
    except OSError as exc:
        raise SnnCliError(f"cannot write {path}: {exc.strerror or exc}") from None
    return warnings


def _dump(graph: nir.NIRGraph, fileobj) -> None:
    buf = io.BytesIO()
    try:
        nir.write(buf, graph, compression=None)
    except (TypeError, ValueError) as exc:
        raise SnnCliError(f"nir could not serialize the graph: {_one_line(exc)}") from None
    fileobj.write(buf.getbuffer())


def _check_storable(value: Any, where: str) -> None:
    """Only what nir.write stores and nir.read gives back: str, bool, int,
    float, numeric arrays, lists of numbers or of strings, dicts of these."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or "/" in key:
                raise SnnCliError(f"{where}: key {key!r} must be a non-empty string without '/'")
            _check_storable(item, f"{where} {key!r}")
        return
    if isinstance(value, (str, bytes, bool, int, float, np.number, np.bool_)):
        return
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return
    if isinstance(value, (list, tuple)) and (
        all(isinstance(v, str) for v in value)
        or all(isinstance(v, (bool, int, float, np.number)) for v in value)
    ):
        return
    raise SnnCliError(
        f"{where} holds a {type(value).__name__} ({value!r:.60}), which a NIR file cannot store; "
        "use str, numbers, lists of numbers or strings, or dicts of these"
    )


# ------------------------------------------------------------------ validate
def validate_graph(graph: nir.NIRGraph) -> list[str]:
    """Check ``graph`` and return warnings; raise :class:`SnnCliError` on errors.

    Covers: supported node types only (:data:`SUPPORTED_NODES`; nested graphs
    rejected), edges naming existing nodes and no duplicates, at least one
    Input and one Output, every node reachable from an Input, finite numeric
    parameters (time constants > 0), per-neuron parameter shapes, weight and
    kernel ranks, valid :data:`RESET_MODE_KEY` values, and shapes along every
    edge (Affine/Linear columns, Conv2d channels, pooling/conv output sizes,
    Flatten sizes, declared Input/Output shapes).  Recurrent edges are fine.

    Side effects, on purpose: declared Input/Output shapes with extra leading
    singleton (batch) dimensions are squeezed (with a warning), and every
    node's ``input_type``/``output_type`` (and a missing ``Conv2d.input_shape``
    or ``Flatten`` input type) is set to the inferred shape, as nir's own type
    inference would, so that lowering and writing find them.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise SnnCliError(f"expected a NIR graph, got {type(graph).__name__}")
    nodes, warnings = graph.nodes, []
    if not nodes:
        raise SnnCliError("the NIR graph has no nodes")
    for name, node in nodes.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise SnnCliError(f"node name {name!r} is invalid: use a non-empty string without '/'")
        _check_node_type(name, type(node).__name__ if isinstance(node, nir.NIRNode) else repr(node))
        _check_params(name, node)
        if type(node).__name__ in SPIKING_NODES:
            reset_mode(node, name)
        elif RESET_MODE_KEY in (node.metadata or {}):
            warnings.append(f"node {name!r} ({type(node).__name__}) does not spike; its {RESET_MODE_KEY} metadata is ignored")
    edges = _check_structure(graph, warnings)
    _infer_shapes(graph, edges, warnings)
    return warnings


def _kind(node: nir.NIRNode) -> str:
    return type(node).__name__


def _check_structure(graph: nir.NIRGraph, warnings: list[str]) -> list[tuple[str, str]]:
    nodes = graph.nodes
    edges, seen = [], set()
    for edge in graph.edges:
        if len(edge) != 2:
            raise SnnCliError(f"edge {edge!r} is not a (source, target) pair")
        src, dst = edge
        for end in (src, dst):
            if end not in nodes:
                raise SnnCliError(
                    f"edge ({src!r}, {dst!r}) names node {end!r}, which is not in the graph "
                    f"(nodes: {', '.join(sorted(map(str, nodes)))}); fix the producer or the file"
                )
        if (src, dst) in seen:
            raise SnnCliError(f"edge ({src!r}, {dst!r}) appears twice; an edge may appear once")
        if _kind(nodes[dst]) == "Input":
            raise SnnCliError(f"edge ({src!r}, {dst!r}) leads into Input node {dst!r}; Input nodes take no edges")
        if _kind(nodes[src]) == "Output":
            raise SnnCliError(f"edge ({src!r}, {dst!r}) leaves Output node {src!r}; Output nodes have no successors")
        edges.append((src, dst))
        seen.add((src, dst))
    for kind in ("Input", "Output"):
        if not any(_kind(n) == kind for n in nodes.values()):
            raise SnnCliError(f"the NIR graph has no {kind} node; every graph needs at least one Input and one Output")
    succ = {name: [] for name in nodes}
    pred = {name: [] for name in nodes}
    for src, dst in edges:
        succ[src].append(dst)
        pred[dst].append(src)
    forward = _reach([n for n in nodes if _kind(nodes[n]) == "Input"], succ)
    for name in nodes:
        if name not in forward:
            raise SnnCliError(
                f"node {name!r} ({_kind(nodes[name])}) is not reachable from any Input node; connect or remove it"
            )
    backward = _reach([n for n in nodes if _kind(nodes[n]) == "Output"], pred)
    for name in nodes:
        if name not in backward:
            warnings.append(f"node {name!r} ({_kind(nodes[name])}) leads to no Output node; its result is unused")
    return edges


def _reach(starts: list[str], neighbours: dict[str, list[str]]) -> set[str]:
    seen, todo = set(starts), list(starts)
    while todo:
        for nxt in neighbours[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _check_params(name: str, node: nir.NIRNode) -> None:
    kind = _kind(node)
    for fld in dataclasses.fields(node):
        if fld.name in ("input_type", "output_type", "metadata"):
            continue
        value = getattr(node, fld.name)
        if value is None or isinstance(value, str):
            continue  # optional shape fields; Conv2d padding "same"/"valid"
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise SnnCliError(f"node {name!r} ({kind}) field {fld.name!r} is not numeric ({arr.dtype})")
        if not np.all(np.isfinite(arr)):
            raise SnnCliError(
                f"node {name!r} ({kind}) field {fld.name!r} contains NaN or inf; "
                "the model's parameters are broken (did training diverge?)"
            )
        if fld.name in _TAU_FIELDS and np.any(arr <= 0):
            raise SnnCliError(f"node {name!r} ({kind}) field {fld.name!r} has values <= 0; time constants must be positive")
    fields = _NEURON_FIELDS.get(kind)
    if fields:
        shapes = {f: np.shape(getattr(node, f)) for f in fields}
        if len(set(shapes.values())) != 1:
            listing = ", ".join(f"{f} {list(s)}" for f, s in shapes.items())
            raise SnnCliError(f"node {name!r} ({kind}) has parameters of different shapes: {listing}")
    if kind in ("Affine", "Linear"):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise SnnCliError(f"node {name!r} ({kind}) weight must be 2-D [out, in], got shape {list(w.shape)}")
        if kind == "Affine" and np.shape(node.bias) != (w.shape[0],):
            raise SnnCliError(f"node {name!r} (Affine) bias has shape {list(np.shape(node.bias))}, expected [{w.shape[0]}]")
    if kind == "Conv2d":
        w = np.asarray(node.weight)
        groups = int(node.groups)
        if w.ndim != 4:
            raise SnnCliError(f"node {name!r} (Conv2d) weight must be 4-D [out, in, kh, kw], got shape {list(w.shape)}")
        if groups < 1 or w.shape[0] % groups:
            raise SnnCliError(f"node {name!r} (Conv2d) groups={groups} does not divide its {w.shape[0]} output channels")
        if np.shape(node.bias) != (w.shape[0],):
            raise SnnCliError(f"node {name!r} (Conv2d) bias has shape {list(np.shape(node.bias))}, expected [{w.shape[0]}]")


# -------------------------------------------------------------------- shapes
Shape = tuple[int, ...]


def _shape(value: Any) -> Shape | None:
    if value is None:
        return None
    arr = np.asarray(value).reshape(-1)
    return tuple(int(v) for v in arr)


def _pair(name: str, kind: str, field: str, value: Any, minimum: int) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or np.any(arr < minimum):
        raise SnnCliError(f"node {name!r} ({kind}) {field}={value!r} must be one or two integers >= {minimum}")
    return int(arr[0]), int(arr[1])


def _spatial_out(name, node, hw: Shape, kernel, stride, padding, dilation) -> Shape:
    kind = _kind(node)
    k = _pair(name, kind, "kernel_size", kernel, 1)
    s = _pair(name, kind, "stride", stride, 1)
    d = _pair(name, kind, "dilation", dilation, 1)
    if isinstance(padding, str):
        if padding == "same":
            return tuple(hw)
        padding = 0
    p = _pair(name, kind, "padding", padding, 0)
    out = tuple(math.floor((hw[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1) for i in range(2))
    if min(out) < 1:
        raise SnnCliError(f"node {name!r} ({kind}) turns a {list(hw)} input into an empty output {list(out)}")
    return out


def _intrinsic(node: nir.NIRNode) -> tuple[Shape | None, Shape | None]:
    """(input, output) shape fixed by the node's own parameters, or None."""
    kind = _kind(node)
    if kind == "Input":
        declared = _shape(node.input_type.get("input"))
        return declared, declared
    if kind in ("Affine", "Linear"):
        w = np.shape(node.weight)
        return (w[1],), (w[0],)
    if kind in _NEURON_FIELDS:
        shape = tuple(np.shape(getattr(node, _NEURON_FIELDS[kind][0])))
        return shape, shape
    if kind == "Flatten":
        declared = _shape(node.input_type.get("input"))
        return declared, None
    if kind == "Conv2d" and node.input_shape is not None:
        return (np.shape(node.weight)[1] * int(node.groups), *_shape(node.input_shape)), None
    return None, None  # Output, pools, Conv2d without input_shape


def _derive_output(name: str, node: nir.NIRNode, shape: Shape, src: str, src_node) -> Shape:
    """Output shape of ``node`` given its input ``shape`` (from node ``src``)."""
    kind = _kind(node)
    if kind in ("Conv2d", "SumPool2d", "AvgPool2d"):
        if len(shape) != 3:
            raise SnnCliError(
                f"node {name!r} ({kind}) needs a [channels, height, width] input but node "
                f"{src!r} ({_kind(src_node)}) gives it {list(shape)}"
            )
        if kind == "Conv2d":
            w = np.shape(node.weight)
            if shape[0] != w[1] * int(node.groups):
                raise SnnCliError(
                    f"shape mismatch: node {src!r} ({_kind(src_node)}) outputs {list(shape)} with {shape[0]} "
                    f"channels but node {name!r} (Conv2d) takes {w[1] * int(node.groups)} input channels"
                )
            hw = _spatial_out(name, node, shape[1:], w[2:], node.stride, node.padding, node.dilation)
            return (w[0], *hw)
        hw = _spatial_out(name, node, shape[1:], node.kernel_size, node.stride, node.padding, 1)
        return (shape[0], *hw)
    if kind == "Flatten":
        start, end = int(node.start_dim), int(node.end_dim)
        if not (-len(shape) <= start < len(shape) and -len(shape) <= end < len(shape)):
            raise SnnCliError(f"node {name!r} (Flatten) start_dim={start}/end_dim={end} do not fit its input {list(shape)}")
        start, end = start % len(shape), end % len(shape)
        return _shape(calc_flatten_output(list(shape), start, -1 if end == len(shape) - 1 else end))
    return shape  # Output


def _squeezed(declared: Shape, target: Shape | None, rank: int | None = None) -> Shape | None:
    """``declared`` without leading singleton dims, if that makes it ``target``
    (or, with no target, of rank ``rank``); else None."""
    n = len(target) if target is not None else rank
    if n is None or len(declared) <= n or any(d != 1 for d in declared[: len(declared) - n]):
        return None
    rest = declared[len(declared) - n :]
    return rest if target is None or rest == tuple(target) else None


def _infer_shapes(graph: nir.NIRGraph, edges: list[tuple[str, str]], warnings: list[str]) -> None:
    nodes = graph.nodes
    ins, outs = {}, {}
    for name, node in nodes.items():
        ins[name], outs[name] = _intrinsic(node)
        if _kind(node) in ("Input", "Output"):
            declared = _shape(node.input_type.get("input") if _kind(node) == "Input" else node.output_type.get("output"))
            if _kind(node) == "Input" and not declared:
                raise SnnCliError(f"Input node {name!r} declares no shape; re-export the graph with an input shape")
            if declared is not None and any(d < 1 for d in declared):
                raise SnnCliError(f"{_kind(node)} node {name!r} declares an invalid shape {list(declared)}")
        if ins[name] is not None and outs[name] is None and _kind(node) in ("Flatten", "Conv2d"):
            outs[name] = _derive_output(name, node, ins[name], name, node)

    # Leading singleton (batch) dims on Input: squeeze to what the consumers take.
    for name, node in nodes.items():
        if _kind(node) != "Input":
            continue
        for dst in [d for s, d in edges if s == name]:
            rank = 3 if _kind(nodes[dst]) in ("Conv2d", "SumPool2d", "AvgPool2d") else None
            squeezed = _squeezed(outs[name], ins[dst], rank)
            if squeezed is not None and outs[name] != ins[dst]:
                warnings.append(
                    f"Input node {name!r} declares shape {list(outs[name])}, with leading singleton "
                    f"(batch) dimension(s); using {list(squeezed)}"
                )
                ins[name] = outs[name] = squeezed
                break

    changed = True
    while changed:  # propagate along edges until nothing new is learnt
        changed = False
        for src, dst in edges:
            if outs[src] is not None and ins[dst] is None:
                ins[dst] = outs[src]
                outs[dst] = _derive_output(dst, nodes[dst], ins[dst], src, nodes[src])
                changed = True
    for name in nodes:
        if ins[name] is None or outs[name] is None:
            raise SnnCliError(f"cannot infer the shape of node {name!r} ({_kind(nodes[name])}); give its producer an input shape")

    for src, dst in edges:
        if outs[src] != ins[dst]:
            raise SnnCliError(
                f"shape mismatch on edge {src!r} -> {dst!r}: node {src!r} ({_kind(nodes[src])}) outputs "
                f"{list(outs[src])} but node {dst!r} ({_kind(nodes[dst])}) takes {list(ins[dst])}"
                f"{_hint(nodes[dst])}"
            )
    for name, node in nodes.items():
        if _kind(node) == "Output":
            _check_output(name, node, ins[name], edges, nodes, warnings)
    _record_types(graph, ins, outs)


def _hint(node: nir.NIRNode) -> str:
    if _kind(node) in ("Affine", "Linear"):
        return f" (its weight has {np.shape(node.weight)[1]} columns)"
    return ""


def _check_output(name, node, shape, edges, nodes, warnings) -> None:
    declared = _shape(node.output_type.get("output"))
    if not declared or declared == shape:
        return
    if _squeezed(declared, shape) is not None:
        warnings.append(
            f"Output node {name!r} declares shape {list(declared)}, with leading singleton "
            f"(batch) dimension(s); using {list(shape)}"
        )
        return
    src = next(s for s, d in edges if d == name)
    raise SnnCliError(
        f"Output node {name!r} declares shape {list(declared)} but node {src!r} "
        f"({_kind(nodes[src])}) gives it {list(shape)}; fix the producer or the file"
    )


def _record_types(graph: nir.NIRGraph, ins: dict, outs: dict) -> None:
    for name, node in graph.nodes.items():
        node.input_type = {"input": np.array(ins[name])}
        node.output_type = {"output": np.array(outs[name])}
        if _kind(node) == "Conv2d" and node.input_shape is None:
            node.input_shape = tuple(ins[name][1:])
    graph.input_type = {n: v.input_type["input"] for n, v in graph.nodes.items() if _kind(v) == "Input"}
    graph.output_type = {n: v.output_type["output"] for n, v in graph.nodes.items() if _kind(v) == "Output"}
