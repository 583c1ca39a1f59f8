"""Producer fingerprints: which exporters could have written a NIR node, and what else points to one.

Each exporter leaves patterns in the numbers it writes (:mod:`snncli.nirgraph.detect`
has the table, :mod:`snncli.nirgraph.readings` the producers' source lines).  A
fingerprint is *strong* when it is unlikely by chance (``r = tau/1e-4``, ``r = 1/dt``,
tau in steps, ...) and weak when any spec node could show it (a LIF with ``r = 1``).
Names, a batch dimension and snncli's metadata are graph-level evidence.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.special import lambertw

from snncli.core.physics import DEFAULT_DT
from snncli.nirgraph.check import BATCH_DIM_NOTE, CheckedGraph, GraphNode

PRODUCERS = ("spikingjelly", "snntorch", "sinabs", "norse", "rockpool")
SNNTORCH_DT = 1e-4  # snntorch/export_nir.py:68, 95, 136, 182
_RTOL = 1e-5  # float32 parameters written by float32 models
_SINABS_TAU_MIN = 1.0  # Sinabs writes tau in steps; a neuron of >= 1 s is no spec reading
_NORSE_TAU_MAX = 1e-3  # Norse writes dt * tau: below 1e-3 for dt <= 1e-3 and tau <= 1 s


@dataclass(frozen=True)
class NodeFacts:
    """One neuron node: the producers whose exporter could have written it (``strong``: whose fingerprint is
    unlikely by chance, not just a spec node with ``r = 1``), and the dt each implies."""

    name: str
    kind: str
    fits: tuple[str, ...]
    strong: tuple[str, ...] = ()
    dt: dict = field(default_factory=dict)  # producer -> dt (seconds) the node implies
    summary: str = ""


# ------------------------------------------------------------------ graph structure
def loop_nodes(graph: CheckedGraph) -> set[str]:
    """Nodes on a recurrent loop (reachable from themselves over same-step and delayed edges)."""
    succ: dict[str, set[str]] = {g.name: set() for g in graph.nodes}
    for g in graph.nodes:
        for src in (*g.inputs, *g.delayed_inputs):
            succ[src].add(g.name)
    looped = set()
    for start in succ:
        seen, todo = set(), list(succ[start])
        while todo:
            name = todo.pop()
            if name == start:
                looped.add(start)
                break
            if name not in seen:
                seen.add(name)
                todo.extend(succ[name])
    return looped


# ------------------------------------------------------------------ fingerprints
def _uniform(*arrays: np.ndarray) -> bool:
    return all(np.all(a == a.reshape(-1)[0]) for a in arrays)


def _close(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=_RTOL, atol=0.0))


def _one(value) -> bool:
    return bool(np.all(np.asarray(value) == 1.0))


def _plausible_dt(dt) -> bool:
    return bool(np.all((dt >= 1e-7) & (dt <= 0.1)))


def _tau(g: GraphNode) -> np.ndarray:
    return g.param("tau_mem" if g.kind in ("CubaLIF", "CubaLI") else "tau")


# Each fingerprint: False (the node does not fit), or (dt the node implies or None, strong).
def _spikingjelly(g: GraphNode):
    """SpikingJelly's to_nir (to_nir.py): IF r = 1/dt; LIF tau*dt with r = tau or 1 (weak: any spec LIF with r = 1)."""
    r = g.param("r")
    if g.kind == "IF":
        return (float(1.0 / r.flat[0]), True) if _uniform(r) and _plausible_dt(1.0 / r) else False
    if g.kind == "LIF":
        tau, leak, reset = g.param("tau"), g.param("v_leak"), g.param("v_reset")
        if not (_uniform(tau, r, leak, g.param("v_threshold")) and np.array_equal(leak, reset)):
            return False
        if _one(r):
            return (None, False) if np.all(tau < _SINABS_TAU_MIN) else False
        dt = tau / r
        return (float(dt.flat[0]), True) if _plausible_dt(dt) and np.all(r > 1) else False
    if g.kind == "CubaLIF":
        dt, dt_syn = g.param("tau_mem") / r, g.param("tau_syn") / g.param("w_in")
        fits = _uniform(r, dt, dt_syn) and _close(dt, dt_syn) and not np.any(g.param("v_leak")) and _plausible_dt(dt)
        return (float(dt.flat[0]), True) if fits else False
    return False


def _snntorch(g: GraphNode):
    if g.kind not in ("LIF", "CubaLIF") or np.any(g.param("v_leak")) or np.any(g.param("v_reset")):
        return False
    fits = _close(g.param("r") * SNNTORCH_DT, _tau(g))
    if g.kind == "CubaLIF":
        fits = fits and _close(g.param("w_in") * SNNTORCH_DT, g.param("tau_syn"))
    return (SNNTORCH_DT, True) if fits else False


def _sinabs(g: GraphNode):
    """Sinabs' to_nir (nir.py:156-177): IF r = 1 (per step: the spec would move v by dt*I); LIF, LI tau in steps."""
    if g.kind == "IF":
        return (None, True) if _one(g.param("r")) else False
    if g.kind in ("LIF", "LI"):
        fits = _one(g.param("r")) and np.all(_tau(g) >= _SINABS_TAU_MIN) and not np.any(g.param("v_leak"))
        return (None, True) if fits else False
    return False


def _norse(g: GraphNode):
    """Norse 1.1.0's to_nir (export_nir.py:27-52): r = 1, tau = dt * tau_true (strong below NIR's default dt, where
    the spec's Euler step would explode)."""
    if g.kind == "IF":
        return (None, True) if _one(g.param("r")) else False
    if g.kind in ("LIF", "LI", "CubaLIF"):
        taus = [_tau(g)] + ([g.param("tau_syn")] if g.kind == "CubaLIF" else [])
        fits = _one(g.param("r")) and all(np.all(t < _NORSE_TAU_MAX) for t in taus)
        if g.kind == "CubaLIF":
            fits = fits and _one(g.param("w_in"))
        return (None, bool(min(float(t.min()) for t in taus) < DEFAULT_DT)) if fits else False
    return False


def rockpool_dt(tau: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The dt that makes ``r = tau exp(-dt/tau) / dt`` (Rockpool's nir.py:249): with ``x = dt/tau``,
    ``x e^x = 1/r``, so ``x = W(1/r)`` (Lambert's W, principal branch)."""
    return tau * np.real(lambertw(1.0 / r))


def _rockpool(g: GraphNode):
    """Rockpool's to_nir (nir.py:245-296): r = tau exp(-dt/tau)/dt for one round dt."""
    if g.kind not in ("LIF", "LI", "CubaLIF") or (g.kind == "CubaLIF" and not _one(g.param("w_in"))):
        return False
    r = g.param("r")
    if np.any(r <= 0):
        return False
    dt = rockpool_dt(_tau(g), r)
    median = float(np.median(dt))
    fits = _plausible_dt(dt) and np.allclose(dt, median, rtol=1e-4, atol=0.0) and _round_dt(median) is not None
    return (_round_dt(median), True) if fits else False


def _round_dt(dt: float) -> float | None:
    """``dt`` as a step a user picks (two significant digits, e.g. 1e-3, 2.5e-4) if it is one within float32
    noise, else None.  One neuron always yields *some* dt from ``r`` and ``tau``; a round one is the fingerprint."""
    value = float(f"{dt:.2g}")
    return value if abs(dt - value) <= 1e-4 * value else None


_FITS = {
    "spikingjelly": _spikingjelly,
    "snntorch": _snntorch,
    "sinabs": _sinabs,
    "norse": _norse,
    "rockpool": _rockpool,
}


def node_facts(g: GraphNode) -> NodeFacts:
    fits, strong, dts = [], [], {}
    for producer in PRODUCERS:
        result = _FITS[producer](g)
        if result is False:
            continue
        dt, is_strong = result
        fits.append(producer)
        if is_strong:
            strong.append(producer)
        if dt is not None:
            dts[producer] = float(dt)
    return NodeFacts(g.name, g.kind, tuple(fits), tuple(strong), dts, _summary(g))


def _summary(g: GraphNode) -> str:
    keys = [
        f.name
        for f in dataclasses.fields(g.node)
        if f.name in ("r", "tau", "tau_mem", "tau_syn", "w_in", "v_threshold", "v_reset", "v_leak")
        and getattr(g.node, f.name) is not None
    ]
    parts = []
    for key in keys:
        arr = np.asarray(getattr(g.node, key), dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        text = f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"
        parts.append(f"{key}={text}{'' if arr.ndim else ' (0-d)'}")
    return ", ".join(parts)


# ------------------------------------------------------------------ evidence beyond the numbers
def batch_dimension(graph: CheckedGraph) -> bool:
    """Whether an Input node declared a leading singleton (batch) dimension (the check squeezed it)."""
    return any(BATCH_DIM_NOTE in w and w.startswith("Input") for w in graph.warnings)


_ROCKPOOL_NAME = re.compile(r"^\d+_[A-Za-z]+Torch$")
_NIRTORCH2_NAME = re.compile(r"^_\d+$|^input_\d+$")
_EXTRACT_NAME = re.compile(r"^\d+$")
_SNNTORCH_REC_NAME = re.compile(r"\.(lif|w_rec)$")


def evidence(graph: CheckedGraph) -> dict[str, str]:
    """Producer -> why the graph's names, shapes or metadata point to it."""
    names = [g.name for g in graph.nodes if g.kind not in ("Input", "Output")]
    inputs = [g.name for g in graph.nodes if g.kind == "Input"]
    found = {}
    if graph.metadata:  # written by snncli before it recorded readings: its models are SpikingJelly's
        found["spikingjelly"] = "metadata['snncli'] (snncli's graphs are SpikingJelly models)"
    if any(_ROCKPOOL_NAME.match(n) for n in names):
        found["rockpool"] = "node names N_<Class>Torch (Rockpool's modules)"
    if any(_NIRTORCH2_NAME.match(n) for n in names + inputs):
        found.setdefault("spikingjelly", "node names _N / input_N (nirtorch 2's tracer, SpikingJelly's to_nir)")
    if batch_dimension(graph):
        for p in ("norse", "rockpool"):
            found.setdefault(p, "the Input declares a leading batch dimension (Norse and Rockpool export one)")
    if names and all(_EXTRACT_NAME.match(n) for n in names):
        for p in ("snntorch", "sinabs", "norse"):
            found.setdefault(p, "node names 0, 1, 2, ... (nirtorch's extract_nir_graph: snnTorch, Sinabs, Norse)")
    if any(_SNNTORCH_REC_NAME.search(n) for n in names):
        found["snntorch"] = "node names <layer>.lif / <layer>.w_rec (snnTorch's RLeaky/RSynaptic export)"
    return found


__all__ = [
    "PRODUCERS",
    "SNNTORCH_DT",
    "NodeFacts",
    "batch_dimension",
    "evidence",
    "loop_nodes",
    "node_facts",
    "rockpool_dt",
]
