"""NIR for another simulator's importer: the graph that peer reads as snncli reads the original.

Each peer's ``from_nir`` reads NIR its own way (the sources are cited per rule), so a
graph is rewritten for one peer from what snncli executes: the ``float_lif`` record of
every neuron node under the reading (:func:`~snncli.targets.float.lowering.neuron_record`,
one step ``v[t] = v_decay v + v_gain i + v_bias``, and the current, firing, reset, floor
and start).  A node the peer's importer cannot express exactly is refused with the node
and the reason; nothing is approximated silently.

============  ============================================================================
peer          what its importer computes (the file is written so that this is our step)
============  ============================================================================
spikingjelly  ``from_nir(g, dt)`` (nir_exchange/from_nir.py:160-220): IF ``r = 1/dt`` ->
              ``v += x``; LIF ``tau/dt`` steps, ``r = tau/dt`` (input not decayed) or 1,
              ``v_leak = v_reset``; CubaLIF ``c = c_decay c + x``, ``v = v_decay v + c``;
              uniform layers; fires at ``v >= thr``, resets to ``v_reset``, starts there
snntorch      ``import_from_nir(g)`` (import_nir.py:224-300): LIF -> ``Leaky(beta = 1 -
              1e-4/tau, reset 'zero', reset_delay=False)``, input gain ``r 1e-4/tau`` folded
              into one threshold per layer; CubaLIF -> ``Synaptic`` with ``r = tau_mem/1e-4``;
              fires at ``mem > thr``; IF becomes a Leaky with beta 0.9: refused
sinabs        ``from_nir(g, ...)`` (nir.py:68-108): IF -> ``IAFSqueeze(min_v_mem = -thr)``
              (MultiSpike at ``v >= thr``, subtractive reset, floor), LI -> ``ExpLeakSqueeze``
              (``v = exp(-1/tau) v + x``, tau in steps); no CubaLIF; its LIF import drops
              ``norm_input``, so LIF is refused; Linear is written as Affine (it reads no Linear)
norse         ``from_nir(g, dt=dt)`` (import_nir.py:93-130): IF -> ``IAFCell`` (``v += x``,
              ``r`` ignored); LIF, LI -> box cells, Euler at dt with tau in seconds, ``r``
              ignored (must be 1), start at ``v_leak``; CubaLIF -> LI synapse then LIF box
              (``w_in``, ``r`` applied; ``v_leak`` enters the synapse too, so it must be 0);
              fires at ``v > thr``, resets to 0 (``reset_method`` is not in the file)
============  ============================================================================

A firing rule the peer lacks is met on its float32 grid: ``v >= thr`` is ``v > thr'``
with ``thr'`` the float32 number just below ``thr`` (and the reverse), exact for float32
states.  The written graph records, in ``metadata["snncli"]``, the dt and the reading
under which snncli reads the file back as the peer does (``for_peer``).
"""

from __future__ import annotations

import dataclasses

import nir
import numpy as np

from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph, GraphNode
from snncli.nirgraph.fingerprints import loop_nodes
from snncli.nirgraph.readings import reading as get_reading
from snncli.targets.float.lowering import neuron_record
from snncli.targets.float.neuron import FloatLIF

PEERS = ("spikingjelly", "snntorch", "sinabs", "norse")
SNNTORCH_DT = 1e-4  # snntorch/import_nir.py:238, 270: the importer's fixed step
_RTOL = 1e-9


def for_peer(graph: CheckedGraph, reading: str, dt: float, peer: str) -> nir.NIRGraph:
    """A NIR graph ``peer``'s importer reads as snncli reads ``graph`` under ``reading`` at ``dt`` (module
    docstring); one-line :class:`SnnCliError` naming the node and the reason where it cannot."""
    if peer not in PEERS:
        raise SnnCliError(f"unknown peer {peer!r}; --for takes one of {', '.join(PEERS)}")
    rules, looped = get_reading(reading), loop_nodes(graph)
    write = _WRITERS[peer]
    nodes = {}
    for g in graph.nodes:
        node = dataclasses.replace(g.node, metadata={})
        if g.kind in ("IF", "LIF", "LI", "CubaLIF", "CubaLI"):
            p = neuron_record(g, dt, rules, g.name in looped)
            node = write(g, p, dt, _refuser(g, peer, reading))
        elif g.kind == "Linear" and peer == "sinabs":  # sinabs/nir.py:25-120 maps Affine, not Linear
            node = nir.Affine(weight=np.asarray(g.node.weight), bias=np.zeros(np.shape(g.node.weight)[0]))
        nodes[g.name] = node
    meta = {k: v for k, v in graph.metadata.items() if k not in ("dt", "reading")}
    back = {
        "spikingjelly": ("spikingjelly", dt),
        "snntorch": ("nir", SNNTORCH_DT),
        "sinabs": ("sinabs-floor", dt),
        "norse": ("nir", dt),
    }[peer]
    meta.update(reading=back[0], dt=back[1], for_peer=peer)
    return nir.NIRGraph(nodes=nodes, edges=list(graph.graph.edges), metadata={"snncli": meta}, type_check=False)


def _refuser(g: GraphNode, peer: str, reading: str):
    def refuse(why: str):
        raise SnnCliError(
            f"node {g.name!r} ({g.kind}) read as {reading} cannot be written for {peer}'s importer: {why}"
        )

    return refuse


# ------------------------------------------------------------------ shared checks
def _uniform(value: np.ndarray, what: str, refuse) -> float:
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if not np.allclose(flat, flat[0], rtol=_RTOL, atol=0.0):
        refuse(f"its importer takes one {what} per layer, this one varies ({flat.min():g}..{flat.max():g})")
    return float(flat[0])


def _close(a, b) -> bool:
    return bool(np.allclose(a, b, rtol=_RTOL, atol=1e-15))


def _threshold(p: FloatLIF, fire: str) -> np.ndarray:
    """``p``'s threshold for a peer that fires by ``fire`` (module docstring: the float32 neighbour)."""
    thr = np.asarray(p.v_threshold, dtype=np.float64)
    if p.fire == fire:
        return thr
    toward = -np.inf if p.fire == ">=" else np.inf
    return np.nextafter(thr.astype(np.float32), np.float32(toward)).astype(np.float64)


def _single_spike_reset_to_zero(p: FloatLIF, refuse, start_ok: bool = True) -> None:
    if p.multi_spike:
        refuse("the reading emits several spikes per step; the importer one")
    if p.reset != "zero":
        refuse(f"the reading resets by {p.reset}; the importer resets to a value")
    if p.v_min is not None:
        refuse("the reading floors the voltage; the importer does not")
    if not start_ok:
        refuse("the reading starts the voltage elsewhere than the importer does")


def _starts_at(p: FloatLIF, value) -> bool:
    start = np.zeros_like(p.v_decay) if p.v_init is None else p.v_init
    return _close(start, np.broadcast_to(value, start.shape))


# ------------------------------------------------------------------ SpikingJelly
def _spikingjelly(g: GraphNode, p: FloatLIF, dt: float, refuse) -> nir.NIRNode:
    if g.kind in ("LI", "CubaLI"):
        refuse("SpikingJelly's from_nir has no leaky integrator")
    v_reset = _uniform(p.v_reset, "v_reset", refuse)
    _single_spike_reset_to_zero(p, refuse, _starts_at(p, v_reset))
    thr = np.full(g.out_shape, _uniform(_threshold(p, ">="), "v_threshold", refuse))
    ones = np.ones(g.out_shape)
    if g.kind == "IF":
        if not (_close(p.v_gain, 1.0) and not np.any(p.v_bias)):
            refuse("IF must integrate its input with gain 1 (the importer's r = 1/dt)")
        return nir.IF(r=ones / dt, v_threshold=thr, v_reset=ones * v_reset)
    steps = 1.0 / (1.0 - _uniform(p.v_decay, "tau", refuse))
    if not steps > 1:
        refuse(f"tau/dt = {steps:g} must exceed 1 (from_nir.py:173)")
    if g.kind == "CubaLIF":
        steps_syn = 1.0 / (1.0 - _uniform(p.i_decay, "tau_syn", refuse))
        if not (_close(p.i_gain, 1.0) and _close(p.v_gain, 1.0) and not np.any(p.v_bias)):
            refuse("CubaLIF must add its input to the current and the current to v with gain 1, without v_leak")
        return nir.CubaLIF(
            tau_syn=ones * steps_syn * dt,
            tau_mem=ones * steps * dt,
            r=ones * steps,
            w_in=ones * steps_syn,
            v_leak=0 * ones,
            v_threshold=thr,
            v_reset=ones * v_reset,
        )
    gain = _uniform(p.v_gain, "input gain", refuse)
    r = steps if _close(gain, 1.0) else 1.0 if _close(gain * steps, 1.0) else None
    if r is None or not _close(p.v_bias, v_reset / steps):
        refuse("LIF must take its input with gain 1 or 1/tau_steps and leak toward v_reset (LIFNode)")
    return nir.LIF(tau=ones * steps * dt, r=ones * r, v_leak=ones * v_reset, v_threshold=thr, v_reset=ones * v_reset)


# ------------------------------------------------------------------ snnTorch
def _snntorch(g: GraphNode, p: FloatLIF, dt: float, refuse) -> nir.NIRNode:
    if g.kind not in ("LIF", "CubaLIF"):
        refuse(
            "snnTorch's import_from_nir reads LIF and CubaLIF (an IF becomes a Leaky with beta 0.9, "
            "import_nir.py:224-235; LI is not read)"
        )
    _single_spike_reset_to_zero(p, refuse, _starts_at(p, 0.0))
    if np.any(p.v_reset) or np.any(p.v_bias):
        refuse("snnTorch's Leaky resets to 0 and has no v_leak")
    gain = _uniform(p.i_gain if g.kind == "CubaLIF" else p.v_gain, "input gain", refuse)
    exact = _close(gain, 1.0)
    thr = _threshold(p, ">") if exact else np.asarray(p.v_threshold)
    _uniform(thr, "v_threshold", refuse)  # import_nir.py:244, 293
    tau = SNNTORCH_DT / (1.0 - p.v_decay)  # beta = 1 - 1e-4/tau: our decay
    if g.kind == "LIF":
        return nir.LIF(tau=tau, r=gain * tau / SNNTORCH_DT, v_leak=0 * tau, v_threshold=thr, v_reset=0 * tau)
    if not _close(p.v_gain, 1.0):
        refuse("snnTorch's Synaptic adds the current to mem with gain 1 (the importer asserts r = tau_mem/1e-4)")
    tau_syn = SNNTORCH_DT / (1.0 - p.i_decay)
    return nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau,
        r=tau / SNNTORCH_DT,
        w_in=gain * tau_syn / SNNTORCH_DT,
        v_leak=0 * tau,
        v_threshold=thr,
        v_reset=0 * tau,
    )


# ------------------------------------------------------------------ Sinabs
def _sinabs(g: GraphNode, p: FloatLIF, dt: float, refuse) -> nir.NIRNode:
    ones = np.ones(g.out_shape)
    if g.kind == "LI":
        if not (_close(p.v_gain, 1.0) and not np.any(p.v_bias) and _starts_at(p, 0.0)):
            refuse("Sinabs' ExpLeak adds its input with gain 1, without v_leak, from 0")
        return nir.LI(tau=-1.0 / np.log(p.v_decay), r=ones, v_leak=0 * ones)
    if g.kind != "IF":
        refuse("Sinabs' from_nir reads IF and LI exactly (its LIF import drops norm_input, nir.py:100-108; no CubaLIF)")
    floor_ok = p.v_min is not None and _close(p.v_min, -np.asarray(p.v_threshold))
    if not (_close(p.v_gain, 1.0) and _close(p.v_decay, 1.0) and not np.any(p.v_bias)):
        refuse("IF must integrate its input with gain 1 (Sinabs' IAF adds it per step)")
    if not (p.multi_spike and p.reset == "subtract" and p.fire == ">=" and floor_ok and _starts_at(p, 0.0)):
        refuse(
            "Sinabs' importer reads IF as IAFSqueeze(MultiSpike, subtractive reset, min_v_mem = -threshold) "
            "(reading sinabs-floor); this reading differs"
        )
    return nir.IF(r=ones, v_threshold=np.asarray(p.v_threshold, dtype=np.float64) * ones, v_reset=0 * ones)


# ------------------------------------------------------------------ Norse
def _norse(g: GraphNode, p: FloatLIF, dt: float, refuse) -> nir.NIRNode:
    ones = np.ones(g.out_shape)
    if g.kind == "CubaLI":
        refuse("Norse's from_nir has no CubaLI")
    spiking = g.kind in ("IF", "LIF", "CubaLIF")
    if spiking:
        _single_spike_reset_to_zero(p, refuse)
        if np.any(p.v_reset):
            refuse("Norse's importer resets to 0")
    thr = _threshold(p, ">") if spiking else None
    if g.kind == "IF":
        if not (_close(p.v_gain, 1.0) and not np.any(p.v_bias) and _starts_at(p, 0.0)):
            refuse("IF must integrate its input with gain 1 from 0 (Norse's IAFCell: v += x)")
        return nir.IF(r=ones / dt, v_threshold=thr, v_reset=0 * ones)
    a = 1.0 - p.v_decay  # dt / tau
    tau = dt / a
    v_leak = p.v_bias / a
    if g.kind == "CubaLIF":
        b = 1.0 - p.i_decay
        if np.any(v_leak) or not _starts_at(p, 0.0):
            refuse("Norse's CubaLIF import feeds v_leak into its synapse too; it must be 0")
        return nir.CubaLIF(
            tau_syn=dt / b,
            tau_mem=tau,
            r=p.v_gain / a,
            w_in=p.i_gain / b,
            v_leak=0 * ones,
            v_threshold=thr,
            v_reset=0 * ones,
        )
    if not _close(p.v_gain, a):
        refuse("Norse's box cells ignore r; it must be 1")
    if np.any(v_leak) or not _starts_at(p, 0.0):
        refuse("Norse's box cells start at v_leak, the NIR spec at 0: only v_leak = 0 reads the same both ways")
    if g.kind == "LI":
        return nir.LI(tau=tau, r=ones, v_leak=v_leak)
    return nir.LIF(tau=tau, r=ones, v_leak=v_leak, v_threshold=thr, v_reset=0 * ones)


_WRITERS = {"spikingjelly": _spikingjelly, "snntorch": _snntorch, "sinabs": _sinabs, "norse": _norse}

__all__ = ["PEERS", "for_peer"]
