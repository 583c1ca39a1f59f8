r"""Speck memory figures and core assignment, with Sinabs' own formulas (plain Python, no Sinabs).

Memory per layer (``DynapcnnLayer.memory_summary``, ``sinabs/backend/dynapcnn/
dynapcnn_layer.py`` 213-244), in words, for weights ``[f, c, kh, kw]`` (f output
channels, c input channels) and a neuron map ``f x fy x fx`` (before pooling)::

    kernel = c * 2 ** (ceil(log2(kh * kw)) + ceil(log2(f)))
    neuron = f * 2 ** (ceil(log2(fy)) + ceil(log2(fx)))
    bias   = f if the layer has a bias vector else 0

(the address encoding rounds kernel taps, output channels and each map axis up
to powers of two; ``docs/speck/overview.md`` "Memory Constraints and Network
Sizing" gives the kernel formula, and the neuron one without the rounding, which
the code and the chip use).  Sinabs evaluates them in float64 (``np.ceil(np.log2(
.))``); here they are exact integers (``ceil(log2(n)) = (n - 1).bit_length()``,
equal for every n < 2**52).

A layer fits core ``k`` when all three figures are within that core's capacity
(``LayerConstraints.fits``, ``mapping.py`` 13-25; capacities in
:data:`~snncli.targets.speck.limits.LIMITS`, ``chips/dynapcnn.py`` 298-332).

Core assignment (``get_valid_mapping``, ``mapping.py`` 44-77): each layer, in
network order, gets the list of cores it fits (ascending, ``find_chip_layers``
28-41); a bipartite flow graph source -> layers -> cores -> sink with unit
capacities (``make_flow_graph`` 142-206) is solved by Edmonds-Karp, breadth-first
augmenting paths over the edges in insertion order (``edmonds`` 92-139), and the
core of a layer is the one its unit of flow reaches (``recover_mapping`` 209-231).
:func:`assign_cores` runs the same algorithm on the same graph in the same edge
order, so it returns the same cores as Sinabs (tests compare them).  Sinabs'
sink -> core reverse edges point at themselves (``mapping.py`` 204-205); they only
let the search leave the sink after it has been reached, which never changes a
path, so the plain graph here gives the same result.  Where no full matching
exists Sinabs raises "No valid mapping found" (``mapping.py`` 226-230); snncli
names the layers that compete for too few cores.

With the readout layer (Speck 2e/2f errata, ``docs/speck/faqs/chip_errata.md``),
the last layer is widened to ``(f - 1) * 4 + 1`` channels (``extend_readout_layer``,
``backend/dynapcnn/utils.py`` 210-248) before its memory is computed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from snncli.errors import SnnCliError
from snncli.targets.speck.layer import SpeckLayer
from snncli.targets.speck.limits import LIMITS


def ceil_log2(n: int) -> int:
    """``ceil(log2(n))`` for an integer ``n >= 1``, exactly."""
    if n < 1:
        raise SnnCliError(f"ceil_log2 needs n >= 1, got {n}")
    return (int(n) - 1).bit_length()


@dataclass(frozen=True)
class Memory:
    """Kernel, neuron and bias memory in words: a layer's need or a core's capacity."""

    kernel: int
    neuron: int
    bias: int

    def fits(self, capacity: Memory) -> bool:
        """``LayerConstraints.fits`` (mapping.py 19-25): every figure within the core's capacity."""
        return (
            0 <= self.kernel <= capacity.kernel
            and 0 <= self.neuron <= capacity.neuron
            and 0 <= self.bias <= capacity.bias
        )


CORES: tuple[Memory, ...] = tuple(
    Memory(k, n, b)
    for k, n, b in zip(
        LIMITS["kernel_memory_words"].value,
        LIMITS["neuron_memory_words"].value,
        LIMITS["bias_memory_words"].value,
        strict=True,
    )
)


def readout_channels(channels: int) -> int:
    """Output channels of the last layer after Sinabs' readout fix (utils.py 231): ``(f - 1) * 4 + 1``."""
    return (int(channels) - 1) * 4 + 1


def layer_memory(layer: SpeckLayer, readout: bool = False) -> Memory:
    """``DynapcnnLayer.memory_summary`` (dynapcnn_layer.py 213-244) as exact integers."""
    f = readout_channels(layer.out_channels) if readout else layer.out_channels
    c = layer.in_shape[0]
    kh, kw = layer.kernel_size
    _, fy, fx = layer.neuron_shape
    return Memory(
        kernel=c * 2 ** (ceil_log2(kh * kw) + ceil_log2(f)),
        neuron=f * 2 ** (ceil_log2(fy) + ceil_log2(fx)),
        bias=f if layer.has_bias else 0,
    )


def core_candidates(memory: Memory, cores: Sequence[Memory] = CORES) -> list[int]:
    """Cores a layer fits, ascending (``find_chip_layers``, mapping.py 28-41)."""
    return [i for i, cap in enumerate(cores) if memory.fits(cap)]


def match_cores(candidates: Sequence[Sequence[int]], n_cores: int) -> list[int | None]:
    """Edmonds-Karp on Sinabs' flow graph (module docstring): the core of each layer, None if unmatched.

    Nodes: 0 source, 1..L layers, L+1..L+n_cores cores, last sink.  Edges are kept in
    the order ``make_flow_graph`` inserts them; each has a residual twin.
    """
    n_layers = len(candidates)
    sink = n_layers + n_cores + 1
    graph: list[list[list]] = [[] for _ in range(sink + 1)]  # edge: [to, cap, flow, twin]

    def add(s: int, t: int) -> None:
        fwd, back = [t, 1, 0, None], [s, 0, 0, None]
        fwd[3], back[3] = back, fwd
        graph[s].append(fwd)
        graph[t].append(back)

    for i in range(n_layers):  # source -> layers
        add(0, i + 1)
    for i, cores in enumerate(candidates):  # layers -> cores
        for core in cores:
            add(i + 1, n_layers + 1 + core)
    for core in range(n_cores):  # cores -> sink
        add(n_layers + 1 + core, sink)
    while True:  # edmonds (mapping.py 92-139): breadth first, edges in insertion order
        pred: list[list | None] = [None] * len(graph)
        queue = deque([0])
        while queue:
            cur = queue.popleft()
            for edge in graph[cur]:
                to, cap, flow = edge[0], edge[1], edge[2]
                if pred[to] is None and to != 0 and cap > flow:
                    pred[to] = (cur, edge)
                    queue.append(to)
        if pred[sink] is None:
            break
        node = sink
        while node != 0:  # every capacity is 1: the path carries one unit
            prev, edge = pred[node]
            edge[2] += 1
            edge[3][2] -= 1
            node = prev
    out: list[int | None] = []
    for i in range(n_layers):  # recover_mapping (mapping.py 209-231)
        hits = [e[0] - n_layers - 1 for e in graph[i + 1] if e[2] == 1 and e[0] != 0]
        out.append(hits[0] if hits else None)
    return out


def assign_cores(
    layers: Sequence[SpeckLayer], cores: Sequence[Memory] = CORES, readout: bool = False
) -> dict[str, int]:
    """Layer name -> core, as Sinabs' ``get_valid_mapping`` assigns them; SnnCliError (one line) if
    the network does not fit.  ``readout``: the last layer feeds the readout layer (widened)."""
    mems = [layer_memory(layer, readout and i == len(layers) - 1) for i, layer in enumerate(layers)]
    cands = [core_candidates(m, cores) for m in mems]
    for layer, mem, cand in zip(layers, mems, cands, strict=True):
        if not cand:
            raise SnnCliError(_no_core(layer, mem, cores))
    if len(layers) > len(cores):
        raise SnnCliError(f"network has {len(layers)} layers; Speck has {len(cores)} cores, one layer per core")
    matched = match_cores(cands, len(cores))
    if any(m is None for m in matched):
        raise SnnCliError(_competition(layers, mems, cands, matched, len(cores)))
    return {layer.name: int(core) for layer, core in zip(layers, matched, strict=True)}


def _ki(words: int) -> str:
    return f"{words // 1024}Ki" if words % 1024 == 0 else str(words)


def _no_core(layer: SpeckLayer, mem: Memory, cores: Sequence[Memory]) -> str:
    best_k = max(c.kernel for c in cores)
    best_n = max(c.neuron for c in cores)
    if mem.kernel > best_k or mem.neuron > best_n or mem.bias > max(c.bias for c in cores):
        what = []
        if mem.kernel > best_k:
            what.append(f"{mem.kernel} kernel-memory words (largest core: {_ki(best_k)})")
        if mem.neuron > best_n:
            what.append(f"{mem.neuron} neuron-memory words (largest core: {_ki(best_n)})")
        if mem.bias > max(c.bias for c in cores):
            what.append(f"{mem.bias} biases (a core holds {max(c.bias for c in cores)})")
        return f"layer {layer.name!r} does not fit any Speck core: it needs " + " and ".join(what)
    return (
        f"layer {layer.name!r} does not fit any Speck core: it needs {_ki(mem.kernel)} kernel and "
        f"{_ki(mem.neuron)} neuron memory words together, and no core has both "
        f"({_core_table(cores)})"
    )


def _core_table(cores: Sequence[Memory]) -> str:
    groups: list[tuple[list[int], Memory]] = []
    for i, c in enumerate(cores):
        if groups and groups[-1][1] == c:
            groups[-1][0].append(i)
        else:
            groups.append(([i], c))
    parts = []
    for ids, c in groups:
        span = str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
        parts.append(f"cores {span}: {_ki(c.kernel)}/{_ki(c.neuron)}")
    return "kernel/neuron words per core: " + ", ".join(parts)


def _competition(layers, mems, cands, matched, n_cores: int) -> str:
    """Name a set of layers that compete for fewer cores than they are (Hall's condition)."""
    owner = {core: i for i, core in enumerate(matched) if core is not None}
    start = next(i for i, m in enumerate(matched) if m is None)
    group, cores, todo = {start}, set(), [start]
    while todo:  # alternating paths from an unmatched layer
        i = todo.pop()
        for core in cands[i]:
            if core not in cores:
                cores.add(core)
                j = owner.get(core)
                if j is not None and j not in group:
                    group.add(j)
                    todo.append(j)
    names = ", ".join(f"{layers[i].name!r} ({_ki(mems[i].kernel)}/{_ki(mems[i].neuron)})" for i in sorted(group))
    return (
        f"network does not fit Speck's {n_cores} cores: layers {names} (kernel/neuron words) fit only on cores "
        f"{sorted(cores)}, {len(cores)} cores for {len(group)} layers"
    )


def resource_table(layers: Sequence[SpeckLayer], cores: Sequence[Memory] = CORES, readout: bool = False) -> dict:
    """Per layer and per core memory used vs available, and the core assignment (plain, JSON-able).

    Raises SnnCliError when the network does not fit (see :func:`assign_cores`)."""
    assignment = assign_cores(layers, cores, readout)
    per_layer, per_core = {}, []
    by_core = {core: name for name, core in assignment.items()}
    for i, layer in enumerate(layers):
        mem = layer_memory(layer, readout and i == len(layers) - 1)
        cap = cores[assignment[layer.name]]
        per_layer[layer.name] = {
            "core": assignment[layer.name],
            "kind": layer.kind,
            "neurons": layer.neurons,
            "weights": layer.weights,
            "kernel_words": mem.kernel,
            "kernel_words_available": cap.kernel,
            "neuron_words": mem.neuron,
            "neuron_words_available": cap.neuron,
            "bias_words": mem.bias,
            "bias_words_available": cap.bias,
            "candidate_cores": core_candidates(mem, cores),
        }
    for core, cap in enumerate(cores):
        name = by_core.get(core)
        used = per_layer[name] if name else None
        per_core.append(
            {
                "core": core,
                "layer": name,
                "kernel_words": used["kernel_words"] if used else 0,
                "neuron_words": used["neuron_words"] if used else 0,
                "bias_words": used["bias_words"] if used else 0,
                **{f"{k}_words_available": v for k, v in asdict(cap).items()},
            }
        )
    return {
        "per_layer": per_layer,
        "per_core": per_core,
        "cores_used": len(layers),
        "cores": len(cores),
        "neurons": int(sum(layer.neurons for layer in layers)),
        "readout": bool(readout),
        "notes": "kernel = c * 2**(ceil(log2(kh*kw)) + ceil(log2(f))), neuron = f * 2**(ceil(log2(fy)) + "
        "ceil(log2(fx))), bias = f; one layer per core; cores assigned as Sinabs' get_valid_mapping does",
    }
