"""What every target needs from a NIR graph: execution order, recurrent edges, shapes.

* **Order.**  Edges that close a cycle (found by depth-first search from the
  Input nodes) are recurrent: they carry the previous step's output (one step of
  delay).  The other edges form a DAG, executed in topological order.
* **Shapes.**  Per-sample shapes (no batch, no time) are propagated from the
  Input node through each op; declared ``input_type``/``output_type`` are not
  trusted (some producers write a batch dimension there), but parameters are
  checked against the propagated shapes and a mismatch names both nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from snncli.errors import SnnCliError

NEURON_TYPES = (nir.IF, nir.LIF, nir.LI, nir.CubaLIF, nir.CubaLI)


@dataclass
class GraphNode:
    name: str
    node: nir.NIRNode
    inputs: list[str] = field(default_factory=list)
    delayed_inputs: list[str] = field(default_factory=list)
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()


def ordered_nodes(graph: nir.NIRGraph) -> list[GraphNode]:
    """Nodes in execution order, with same-step and delayed (recurrent) sources and shapes."""
    nodes, edges = graph.nodes, list(graph.edges)
    for src, dst in edges:
        for end in (src, dst):
            if end not in nodes:
                raise SnnCliError(f"edge {src} -> {dst} names node {end!r}, which the graph does not have")
    succ: dict[str, list[str]] = {name: [] for name in nodes}
    for src, dst in edges:
        succ[src].append(dst)
    starts = [name for name, node in nodes.items() if isinstance(node, nir.Input)]
    if not starts:
        raise SnnCliError("the graph has no Input node")

    back: set[tuple[str, str]] = set()
    colour = {name: 0 for name in nodes}  # 0 new, 1 on the DFS stack, 2 done
    for start in starts:
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
    unreachable = [name for name, c in colour.items() if c == 0]
    if unreachable:
        raise SnnCliError(f"nodes not reachable from the Input: {', '.join(sorted(unreachable))}")

    result = {name: GraphNode(name, node) for name, node in nodes.items()}
    for src, dst in edges:
        (result[dst].delayed_inputs if (src, dst) in back else result[dst].inputs).append(src)
    # Kahn's algorithm over the forward edges; ties broken by the file's order
    pending = {name: len(result[name].inputs) for name in nodes}
    ready = [name for name in nodes if pending[name] == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(result[name])
        for dst in succ[name]:
            if (name, dst) not in back:
                pending[dst] -= 1
                if pending[dst] == 0:
                    ready.append(dst)
    for gnode in order:
        _infer_shape(gnode, result)
    for gnode in order:
        for src in gnode.delayed_inputs:
            if result[src].out_shape != gnode.in_shape:
                raise SnnCliError(
                    f"recurrent edge {src} -> {gnode.name}: {src!r} outputs shape {list(result[src].out_shape)} "
                    f"but {gnode.name!r} takes {list(gnode.in_shape)}"
                )
    return order


def _declared(node, key) -> tuple[int, ...] | None:
    types = node.input_type if key == "input" else node.output_type
    shape = types.get(key) if isinstance(types, dict) else None
    if shape is None:
        return None
    return tuple(int(s) for s in np.atleast_1d(np.asarray(shape)))


def _squeeze_leading(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _infer_shape(gnode: GraphNode, nodes: dict[str, GraphNode]) -> None:
    node, name = gnode.node, gnode.name
    if isinstance(node, nir.Input):
        shape = _declared(node, "input") or _declared(node, "output")
        if shape is None:
            raise SnnCliError(f"Input node {name!r} declares no shape")
        gnode.in_shape = gnode.out_shape = shape
        return
    shapes = {src: nodes[src].out_shape for src in gnode.inputs}
    if len(set(shapes.values())) > 1:
        raise SnnCliError(f"node {name!r} sums inputs of different shapes: {shapes}")
    if shapes:
        gnode.in_shape = next(iter(shapes.values()))
    else:  # fed by recurrent edges only: trust the declaration
        gnode.in_shape = _declared(node, "input")
        if gnode.in_shape is None:
            raise SnnCliError(f"node {name!r} has only recurrent inputs and declares no input shape")
    gnode.out_shape = _out_shape(gnode, nodes)


def _mismatch(gnode: GraphNode, what: str, expected, got) -> SnnCliError:
    src = ", ".join(gnode.inputs)
    return SnnCliError(
        f"shape mismatch at node {gnode.name!r} ({type(gnode.node).__name__}): {what} expects {expected}, "
        f"but its input from {src!r} has shape {got}"
    )


def _out_shape(gnode: GraphNode, nodes) -> tuple[int, ...]:
    node, in_shape = gnode.node, gnode.in_shape
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight)
        if weight.ndim != 2:
            raise SnnCliError(f"node {gnode.name!r}: weight must be 2-D, got shape {weight.shape}")
        flat = _squeeze_leading(in_shape)
        if len(flat) != 1 or flat[0] != weight.shape[1]:
            raise _mismatch(gnode, f"a weight of shape {weight.shape}", f"[{weight.shape[1]}]", list(in_shape))
        return (weight.shape[0],)
    if isinstance(node, nir.Conv2d):
        weight = np.asarray(node.weight)
        groups = int(node.groups)
        if len(in_shape) != 3 or in_shape[0] != weight.shape[1] * groups:
            raise _mismatch(gnode, f"a weight of shape {weight.shape}", f"[{weight.shape[1] * groups}, H, W]", list(in_shape))
        kh, kw = weight.shape[2:]
        (sy, sx), (py, px), (dy, dx) = (conv_pair(node.stride), conv_padding(node, (kh, kw)), conv_pair(node.dilation))
        h = (in_shape[1] + 2 * py - dy * (kh - 1) - 1) // sy + 1
        w = (in_shape[2] + 2 * px - dx * (kw - 1) - 1) // sx + 1
        return (weight.shape[0], h, w)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        if len(in_shape) != 3:
            raise _mismatch(gnode, "2-D pooling", "[C, H, W]", list(in_shape))
        (kh, kw), (sy, sx), (py, px) = conv_pair(node.kernel_size), conv_pair(node.stride), conv_pair(node.padding)
        return (in_shape[0], (in_shape[1] + 2 * py - kh) // sy + 1, (in_shape[2] + 2 * px - kw) // sx + 1)
    if isinstance(node, nir.Flatten):
        ndim = len(in_shape)
        start, end = int(node.start_dim) % ndim, int(node.end_dim) % ndim
        return in_shape[:start] + (int(np.prod(in_shape[start : end + 1])),) + in_shape[end + 1 :]
    if isinstance(node, NEURON_TYPES + (nir.Scale, nir.Threshold)):
        for key, value in _array_params(node).items():
            try:
                np.broadcast_to(value, in_shape)
            except ValueError:
                squeezed = np.asarray(value).reshape(_squeeze_leading(np.shape(value)))
                try:
                    np.broadcast_to(squeezed, in_shape)
                except ValueError:
                    raise _mismatch(gnode, f"parameter {key} of shape {np.shape(value)}", "the same shape", list(in_shape)) from None
        return in_shape
    if isinstance(node, nir.Output):
        return in_shape
    raise SnnCliError(f"node {gnode.name!r} has type {type(node).__name__}, which snncli cannot lower")


def _array_params(node) -> dict[str, np.ndarray]:
    skip = {"input_type", "output_type", "metadata"}
    return {k: v for k, v in vars(node).items() if k not in skip and isinstance(v, np.ndarray)}


def conv_pair(value) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).astype(int)
    return (int(arr[0]), int(arr[-1]))


def conv_padding(node, kernel) -> tuple[int, int]:
    """NIR padding: ints or 'same'/'valid' (torch semantics; 'same' needs stride 1)."""
    if isinstance(node.padding, str):
        if node.padding == "valid":
            return (0, 0)
        if node.padding == "same":
            dil = conv_pair(node.dilation)
            return tuple(d * (k - 1) // 2 for d, k in zip(dil, kernel))
        raise SnnCliError(f"unknown Conv2d padding {node.padding!r}")
    return conv_pair(node.padding)


def param(node, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """A neuron/elementwise parameter as float64 broadcast to the layer shape."""
    value = np.asarray(getattr(node, key), dtype=np.float64)
    try:
        return np.broadcast_to(value, shape).copy()
    except ValueError:
        return np.broadcast_to(value.reshape(_squeeze_leading(value.shape)), shape).copy()
