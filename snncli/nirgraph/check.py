"""One check for every NIR graph, whoever wrote it: structure, parameters, order, shapes.

:func:`check_graph` returns a :class:`CheckedGraph`, computed once with one set of
rules, and lowering accepts only that:

* **Structure**: supported node types only (:data:`SUPPORTED_NODES`; nested graphs
  refused), edges naming existing nodes, no duplicate edges, none into an Input or
  out of an Output, at least one Input and one Output, every node reachable from an
  Input (a node leading to no Output is a warning).
* **Parameters**: numeric and finite, time constants > 0, weight and kernel ranks,
  bias shapes, valid ``metadata["reset_mode"]`` (:data:`RESET_MODE_KEY`).  Neuron and
  elementwise parameters may be 0-d (one value for the whole layer, Norse's and
  snnTorch's scalar defaults) or any shape that broadcasts to the layer's shape.
* **Order**: edges that close a cycle (depth-first from the Inputs) are recurrent and
  carry the previous step's output (one step of delay); the others form a DAG run in
  topological order (ties: the file's order).
* **Shapes**: per-sample shapes propagate from the Input along the forward edges
  through each op; parameters are checked against them and a mismatch names both
  nodes.  One producer quirk is tolerated, with a warning: leading singleton (batch)
  dimensions on a declared Input or Output shape (Norse, Rockpool), squeezed.  The
  inferred shapes are written back into the nodes' ``input_type``/``output_type``
  (and a missing ``Conv2d.input_shape``), as nir's own type inference would, so that
  the graph can be written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from snncli.core.files import one_line
from snncli.core.program import conv_output_hw, pair
from snncli.errors import SnnCliError

Shape = tuple[int, ...]

RESET_MODE_KEY = "reset_mode"
"""Node-metadata key for the reset of a spiking node: ``"zero"`` (the default when
absent: ``v <- v_reset``) or ``"subtract"`` (``v <- v - v_threshold``).  NIR 1.0.8 has
no field for reset by subtraction (DESIGN.md, "Semantics")."""
RESET_MODES = ("zero", "subtract")

SUPPORTED_NODES = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d",
    "AvgPool2d", "Flatten", "IF", "LIF", "LI", "CubaLIF", "CubaLI", "Threshold",
)  # fmt: skip
NEURON_NODES = ("IF", "LIF", "LI", "CubaLIF", "CubaLI")
SPIKING_NODES = ("IF", "LIF", "CubaLIF")
_TAU_FIELDS = ("tau", "tau_mem", "tau_syn")
ELEMENTWISE_FIELDS = {
    "IF": ("r", "v_threshold", "v_reset"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "Scale": ("scale",),
    "Threshold": ("threshold",),
}
"""Per-neuron parameter fields: each 0-d or broadcastable to the node's shape."""
BATCH_DIM_NOTE = "leading singleton (batch) dimension"
"""Words of the warning for a declared Input/Output shape with a batch dimension (a producer fingerprint)."""


@dataclass(frozen=True)
class GraphNode:
    """One node in execution order, with its same-step and delayed (recurrent) sources and per-sample shapes."""

    name: str
    node: nir.NIRNode
    inputs: tuple[str, ...]
    delayed_inputs: tuple[str, ...]
    in_shape: Shape
    out_shape: Shape

    @property
    def kind(self) -> str:
        return type(self.node).__name__

    def param(self, key: str) -> np.ndarray:
        """A neuron/elementwise parameter as float64 broadcast to the node's shape."""
        return np.broadcast_to(np.asarray(getattr(self.node, key), dtype=np.float64), self.out_shape).copy()

    def reset_mode(self) -> str:
        return reset_mode(self.node, self.name)


@dataclass(frozen=True)
class CheckedGraph:
    """A NIR graph that passed :func:`check_graph`: nodes in execution order, shapes, warnings."""

    graph: nir.NIRGraph
    nodes: tuple[GraphNode, ...]
    warnings: tuple[str, ...] = ()

    def node(self, name: str) -> GraphNode:
        return next(g for g in self.nodes if g.name == name)

    def of_kind(self, *kinds: str) -> list[GraphNode]:
        return [g for g in self.nodes if g.kind in kinds]

    @property
    def metadata(self) -> dict:
        """The graph's ``metadata["snncli"]`` record (empty when another producer wrote it)."""
        meta = self.graph.metadata.get("snncli", {}) if isinstance(self.graph.metadata, dict) else {}
        return meta if isinstance(meta, dict) else {}


# --------------------------------------------------------------------- reset
def reset_mode(node: nir.NIRNode, name: str | None = None) -> str:
    """``"zero"`` or ``"subtract"``, from ``node.metadata[RESET_MODE_KEY]`` (``"zero"``
    when absent).  An unknown value raises :class:`SnnCliError`."""
    value = (getattr(node, "metadata", None) or {}).get(RESET_MODE_KEY, "zero")
    if isinstance(value, bytes):
        value = value.decode("utf8", "replace")
    if value not in RESET_MODES:
        where = f"node {name!r}" if name is not None else f"a {type(node).__name__} node"
        raise SnnCliError(
            f"{where} has metadata {RESET_MODE_KEY}={one_line(repr(value), 40)}; expected one of "
            f"{', '.join(RESET_MODES)}: fix the producer or the file"
        )
    return value


def check_node_type(name: str, kind: str | None) -> None:
    if kind == "NIRGraph":
        raise SnnCliError(
            f"node {name!r} is a nested NIRGraph (subgraph), which snncli does not read: flatten the subgraph "
            "into the top-level graph and re-export"
        )
    if kind not in SUPPORTED_NODES:
        raise SnnCliError(
            f"node {name!r} has type {one_line(repr(kind), 40)}, which snncli does not support; "
            f"supported node types: {', '.join(SUPPORTED_NODES)}"
        )


def conv1d_as_2d(node: nir.Conv1d) -> tuple[tuple[int, int], ...]:
    """A Conv1d over ``[C, L]`` as a Conv2d over ``[C, 1, L]``: (kernel, stride, padding, dilation) pairs."""
    k, s, d = (
        int(np.shape(node.weight)[2]),
        int(np.asarray(node.stride).reshape(-1)[0]),
        int(np.asarray(node.dilation).reshape(-1)[0]),
    )
    if isinstance(node.padding, str):
        if node.padding not in ("same", "valid"):
            raise SnnCliError(f"unknown Conv1d padding {node.padding!r}; NIR allows an integer, 'same' or 'valid'")
        p = d * (k - 1) // 2 if node.padding == "same" else 0
    else:
        p = int(np.asarray(node.padding).reshape(-1)[0])
    if min(k, s, d) < 1 or p < 0:
        raise SnnCliError(
            f"Conv1d kernel {k}, stride {s}, dilation {d}, padding {p}: kernel, stride and dilation "
            "must be >= 1, padding >= 0"
        )
    return (1, k), (1, s), (0, p), (1, d)


def conv_padding(node: nir.Conv2d, kernel: tuple[int, int]) -> tuple[int, int]:
    """NIR padding: ints or 'same'/'valid' (torch semantics; 'same' keeps the size at stride 1)."""
    if isinstance(node.padding, str):
        if node.padding == "valid":
            return (0, 0)
        if node.padding == "same":
            dil = pair(node.dilation, "dilation", 1)
            return tuple(d * (k - 1) // 2 for d, k in zip(dil, kernel))
        raise SnnCliError(f"unknown Conv2d padding {node.padding!r}; NIR allows integers, 'same' or 'valid'")
    return pair(node.padding, "padding", 0)


# ------------------------------------------------------------------- check
def check_graph(graph: nir.NIRGraph) -> CheckedGraph:
    """Check ``graph`` (see the module docstring); raise :class:`SnnCliError` on errors."""
    if not isinstance(graph, nir.NIRGraph):
        raise SnnCliError(f"expected a NIR graph, got {type(graph).__name__}")
    nodes, warnings = graph.nodes, []
    if not nodes:
        raise SnnCliError("the NIR graph has no nodes")
    for name, node in nodes.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise SnnCliError(f"node name {one_line(repr(name), 40)} is invalid: use a non-empty string without '/'")
        check_node_type(name, type(node).__name__ if isinstance(node, nir.NIRNode) else repr(node))
        _check_params(name, node)
        if _kind(node) in SPIKING_NODES:
            reset_mode(node, name)
        elif RESET_MODE_KEY in (node.metadata or {}):
            warnings.append(f"node {name!r} ({_kind(node)}) does not spike; its {RESET_MODE_KEY} metadata is ignored")
    edges = _check_structure(graph, warnings)
    order, delayed = _order(nodes, edges)
    shapes = _Shapes(graph, edges, delayed, warnings)
    result = []
    for name in order:
        in_shape, out_shape = shapes.infer(name)
        result.append(GraphNode(
            name, nodes[name],
            tuple(s for s, d in edges if d == name and (s, d) not in delayed),
            tuple(s for s, d in edges if d == name and (s, d) in delayed),
            in_shape, out_shape,
        ))  # fmt: skip
    shapes.check_delayed()
    _record_types(graph, result)
    return CheckedGraph(graph, tuple(result), tuple(dict.fromkeys(warnings)))


def _kind(node: nir.NIRNode) -> str:
    return type(node).__name__


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
                f"node {name!r} ({kind}) field {fld.name!r} contains NaN or inf; the model's parameters are broken "
                "(did training diverge?)"
            )
        if fld.name in _TAU_FIELDS and np.any(arr <= 0):
            raise SnnCliError(
                f"node {name!r} ({kind}) field {fld.name!r} has values <= 0; time constants must be positive"
            )
    fields = ELEMENTWISE_FIELDS.get(kind, ())
    shapes = {f: np.shape(getattr(node, f)) for f in fields if getattr(node, f) is not None}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        listing = ", ".join(f"{f} {list(s)}" for f, s in shapes.items())
        raise SnnCliError(f"node {name!r} ({kind}) has parameters of shapes that do not broadcast: {listing}") from None
    if kind in ("Affine", "Linear"):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise SnnCliError(f"node {name!r} ({kind}) weight must be 2-D [out, in], got shape {list(w.shape)}")
        if kind == "Affine" and np.shape(node.bias) != (w.shape[0],):
            raise SnnCliError(
                f"node {name!r} (Affine) bias has shape {list(np.shape(node.bias))}, expected [{w.shape[0]}]"
            )
    if kind in ("Conv1d", "Conv2d"):
        w = np.asarray(node.weight)
        groups = int(node.groups)
        rank = 3 if kind == "Conv1d" else 4
        if w.ndim != rank:
            layout = "[out, in, k]" if kind == "Conv1d" else "[out, in, kh, kw]"
            raise SnnCliError(f"node {name!r} ({kind}) weight must be {rank}-D {layout}, got shape {list(w.shape)}")
        if groups < 1 or w.shape[0] % groups:
            raise SnnCliError(
                f"node {name!r} ({kind}) groups={groups} does not divide its {w.shape[0]} output channels"
            )
        if node.bias is not None and np.shape(node.bias) not in ((w.shape[0],), ()):
            raise SnnCliError(
                f"node {name!r} ({kind}) bias has shape {list(np.shape(node.bias))}, expected [{w.shape[0]}]"
            )


def _check_structure(graph: nir.NIRGraph, warnings: list[str]) -> list[tuple[str, str]]:
    nodes = graph.nodes
    edges, seen = [], set()
    for edge in graph.edges:
        if len(edge) != 2:
            raise SnnCliError(f"edge {one_line(repr(edge), 60)} is not a (source, target) pair")
        src, dst = edge
        for end in (src, dst):
            if end not in nodes:
                raise SnnCliError(
                    f"edge ({src!r}, {dst!r}) names node {end!r}, which is not in the graph "
                    f"(nodes: {one_line(', '.join(sorted(map(str, nodes))), 120)}); fix the producer or the file"
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
    succ = {name: [d for s, d in edges if s == name] for name in nodes}
    pred = {name: [s for s, d in edges if d == name] for name in nodes}
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


def _order(nodes: dict, edges: list[tuple[str, str]]) -> tuple[list[str], set[tuple[str, str]]]:
    """Execution order and the recurrent (delayed) edges: those closing a cycle in a depth-first walk."""
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for src, dst in edges:
        succ[src].append(dst)
    back: set[tuple[str, str]] = set()
    colour = dict.fromkeys(nodes, 0)  # 0 new, 1 on the stack, 2 done
    for start in (n for n in nodes if _kind(nodes[n]) == "Input"):
        stack = [(start, iter(succ[start]))]
        colour[start] = 1
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[name] = 2
                stack.pop()
            elif colour[child] == 1:
                back.add((name, child))
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(succ[child])))
    pending = {name: sum(1 for s, d in edges if d == name and (s, d) not in back) for name in nodes}
    ready = [name for name in nodes if pending[name] == 0]
    order = []
    while ready:  # Kahn's algorithm over the forward edges; ties broken by the file's order
        name = ready.pop(0)
        order.append(name)
        for dst in succ[name]:
            if (name, dst) not in back:
                pending[dst] -= 1
                if pending[dst] == 0:
                    ready.append(dst)
    return order, back


def _declared(node, key: str) -> Shape | None:
    types = node.input_type if key == "input" else node.output_type
    value = types.get(key) if isinstance(types, dict) else None
    if value is None:
        return None
    shape = tuple(int(s) for s in np.asarray(value).reshape(-1))
    return shape or None


class _Shapes:
    """Per-sample shapes, inferred once along the execution order."""

    def __init__(self, graph, edges, delayed, warnings):
        self.nodes, self.edges, self.delayed, self.warnings = graph.nodes, edges, delayed, warnings
        self.ins: dict[str, Shape] = {}
        self.outs: dict[str, Shape] = {}

    def infer(self, name: str) -> tuple[Shape, Shape]:
        node = self.nodes[name]
        kind = _kind(node)
        sources = [s for s, d in self.edges if d == name and (s, d) not in self.delayed]
        if kind == "Input":
            shape = self._input_shape(name, node)
        elif sources:
            shapes = {s: self.outs[s] for s in sources}
            if len(set(shapes.values())) > 1:
                listing = ", ".join(f"{s} {list(v)}" for s, v in shapes.items())
                raise SnnCliError(f"node {name!r} ({kind}) sums inputs of different shapes: {listing}")
            shape = next(iter(shapes.values()))
        else:  # fed by recurrent edges only
            shape = self._intrinsic_in(node) or _declared(node, "input")
            if shape is None:
                raise SnnCliError(f"node {name!r} ({kind}) has only recurrent inputs and declares no input shape")
        self.ins[name] = shape
        self.outs[name] = self._output(name, node, shape, sources[0] if sources else name)
        return self.ins[name], self.outs[name]

    def _input_shape(self, name: str, node) -> Shape:
        shape = _declared(node, "input") or _declared(node, "output")
        if shape is None:
            raise SnnCliError(f"Input node {name!r} declares no shape; re-export the graph with an input shape")
        if any(s < 1 for s in shape):
            raise SnnCliError(f"Input node {name!r} declares an invalid shape {list(shape)}")
        for dst in (d for s, d in self.edges if s == name):
            want = self._intrinsic_in(self.nodes[dst])
            rank = {"Conv1d": 2, "Conv2d": 3, "SumPool2d": 3, "AvgPool2d": 3}.get(_kind(self.nodes[dst]))
            squeezed = _squeezed(shape, want, rank)
            if squeezed is not None and squeezed != shape:
                self.warnings.append(
                    f"Input node {name!r} declares shape {list(shape)}, with {BATCH_DIM_NOTE}(s); "
                    f"using {list(squeezed)}"
                )
                return squeezed
        return shape

    def _intrinsic_in(self, node) -> Shape | None:
        """The input shape a node's own parameters fix, if any."""
        kind = _kind(node)
        if kind in ("Affine", "Linear"):
            return (int(np.shape(node.weight)[1]),)
        if kind in ELEMENTWISE_FIELDS:
            shape = np.broadcast_shapes(*(np.shape(getattr(node, f)) for f in ELEMENTWISE_FIELDS[kind]
                                          if getattr(node, f) is not None))  # fmt: skip
            return tuple(int(s) for s in shape) or None
        return None

    def _output(self, name: str, node, shape: Shape, src: str) -> Shape:
        kind = _kind(node)
        src_desc = f"node {src!r} ({_kind(self.nodes[src])})"
        if kind in ("Affine", "Linear"):
            w = np.shape(node.weight)
            if shape != (w[1],):
                raise SnnCliError(
                    f"shape mismatch on edge {src!r} -> {name!r}: {src_desc} outputs {list(shape)} but node {name!r} "
                    f"({kind}) takes [{w[1]}] (its weight has {w[1]} columns)"
                )
            return (int(w[0]),)
        if kind == "Conv1d":
            return self._conv1d(name, node, shape, src, src_desc)
        if kind in ("Conv2d", "SumPool2d", "AvgPool2d"):
            if len(shape) != 3:
                raise SnnCliError(
                    f"node {name!r} ({kind}) needs a [channels, height, width] input but {src_desc} "
                    f"gives it {list(shape)}"
                )
            if kind == "Conv2d":
                w = np.shape(node.weight)
                channels_in = int(w[1]) * int(node.groups)
                if shape[0] != channels_in:
                    raise SnnCliError(
                        f"shape mismatch on edge {src!r} -> {name!r}: {src_desc} outputs {list(shape)} but node "
                        f"{name!r} (Conv2d) takes {[channels_in, *shape[1:]]} (its weight has {channels_in} input "
                        "channels)"
                    )
                kernel = (int(w[2]), int(w[3]))
                hw = conv_output_hw(
                    shape[1:],
                    kernel,
                    pair(node.stride, f"node {name!r} stride", 1),
                    conv_padding(node, kernel),
                    pair(node.dilation, f"node {name!r} dilation", 1),
                )
                channels = int(w[0])
            else:
                kernel = pair(node.kernel_size, f"node {name!r} kernel_size", 1)
                hw = conv_output_hw(
                    shape[1:],
                    kernel,
                    pair(node.stride, f"node {name!r} stride", 1),
                    pair(node.padding, f"node {name!r} padding", 0),
                )
                channels = shape[0]
            if min(hw) < 1:
                raise SnnCliError(
                    f"node {name!r} ({kind}) turns a {list(shape[1:])} input into an empty output {list(hw)}"
                )
            return (channels, *hw)
        if kind == "Flatten":
            start, end = int(node.start_dim), int(node.end_dim)
            if not (-len(shape) <= start < len(shape) and -len(shape) <= end < len(shape)):
                raise SnnCliError(
                    f"node {name!r} (Flatten) start_dim={start}/end_dim={end} do not fit its input {list(shape)}"
                )
            start, end = start % len(shape), end % len(shape)
            return shape[:start] + (int(np.prod(shape[start : end + 1])),) + shape[end + 1 :]
        if kind in ELEMENTWISE_FIELDS:
            own = self._intrinsic_in(node)
            if own is not None and not _broadcasts(own, shape):
                raise SnnCliError(
                    f"shape mismatch on edge {src!r} -> {name!r}: {src_desc} outputs {list(shape)} but node {name!r} "
                    f"({kind}) takes {list(own)} (the shape of its parameters)"
                )
            return shape
        if kind == "Output":
            return self._output_shape(name, node, shape, src_desc)
        return shape  # Input

    def _conv1d(self, name: str, node, shape: Shape, src: str, src_desc: str) -> Shape:
        w = np.shape(node.weight)
        channels_in = int(w[1]) * int(node.groups)
        if len(shape) != 2 or shape[0] != channels_in:
            raise SnnCliError(
                f"shape mismatch on edge {src!r} -> {name!r}: {src_desc} outputs {list(shape)} but node "
                f"{name!r} (Conv1d) takes [{channels_in}, length]"
            )
        kernel, stride, padding, dilation = conv1d_as_2d(node)
        length = conv_output_hw((1, shape[1]), kernel, stride, padding, dilation)[1]
        if length < 1:
            raise SnnCliError(f"node {name!r} (Conv1d) turns a length-{shape[1]} input into an empty output")
        return (int(w[0]), length)

    def _output_shape(self, name: str, node, shape: Shape, src_desc: str) -> Shape:
        declared = _declared(node, "output")
        if not declared or declared == shape:
            return shape
        if _squeezed(declared, shape) is not None:
            self.warnings.append(
                f"Output node {name!r} declares shape {list(declared)}, with {BATCH_DIM_NOTE}(s); using {list(shape)}"
            )
            return shape
        raise SnnCliError(
            f"Output node {name!r} declares shape {list(declared)} but {src_desc} gives it "
            f"{list(shape)}; fix the producer or the file"
        )

    def check_delayed(self) -> None:
        for src, dst in self.delayed:
            if self.outs[src] != self.ins[dst]:
                raise SnnCliError(
                    f"recurrent edge {src!r} -> {dst!r}: {src!r} outputs shape {list(self.outs[src])} but {dst!r} "
                    f"takes {list(self.ins[dst])}"
                )


def _broadcasts(own: Shape, shape: Shape) -> bool:
    """Whether parameters of shape ``own`` apply elementwise to a layer of ``shape``."""
    try:
        return np.broadcast_shapes(own, shape) == tuple(shape)
    except ValueError:
        return False


def _squeezed(declared: Shape, target: Shape | None, rank: int | None = None) -> Shape | None:
    """``declared`` without leading singleton dims, if that makes it ``target`` (or, with
    no target, of rank ``rank``); else None."""
    n = len(target) if target is not None else rank
    if n is None or len(declared) < n or any(d != 1 for d in declared[: len(declared) - n]):
        return None
    rest = declared[len(declared) - n :]
    return rest if target is None or rest == tuple(target) else None


def _record_types(graph: nir.NIRGraph, order: list[GraphNode]) -> None:
    for g in order:
        g.node.input_type = {"input": np.array(g.in_shape)}
        g.node.output_type = {"output": np.array(g.out_shape)}
        if g.kind == "Conv2d" and g.node.input_shape is None:
            g.node.input_shape = tuple(g.in_shape[1:])
        if g.kind == "Conv1d" and g.node.input_shape is None:
            g.node.input_shape = int(g.in_shape[1])
    graph.input_type = {g.name: g.node.input_type["input"] for g in order if g.kind == "Input"}
    graph.output_type = {g.name: g.node.output_type["output"] for g in order if g.kind == "Output"}


def metadata_value(meta: dict, key: str) -> Any:
    """A value of a graph's snncli metadata as plain Python (bytes -> str)."""
    value = meta.get(key)
    return value.decode() if isinstance(value, bytes) else value


__all__ = [
    "BATCH_DIM_NOTE",
    "CheckedGraph",
    "GraphNode",
    "RESET_MODE_KEY",
    "RESET_MODES",
    "SUPPORTED_NODES",
    "check_graph",
    "conv1d_as_2d",
    "conv_padding",
    "reset_mode",
]
