"""Detection: which reading a NIR graph means, from its producer's fingerprints.

A graph rarely says who wrote it, but each exporter leaves patterns in the numbers
it writes (the reading records in :mod:`snncli.nirgraph.readings` cite the lines):

==============  =============================================================  ==================
producer        fingerprint of its neuron nodes                                 dt it implies
==============  =============================================================  ==================
SpikingJelly    uniform layers; IF ``r = 1/dt``; LIF ``v_leak = v_reset`` and     ``1/r``, ``tau/r``
                ``r = 1`` or ``r = tau/dt``; CubaLIF ``r = tau_mem/dt``,
                ``w_in = tau_syn/dt``, ``v_leak = 0``
snnTorch        LIF ``r = tau/1e-4``; CubaLIF also ``w_in = tau_syn/1e-4``;        1e-4 (hard-coded)
                ``v_leak = v_reset = 0``; no IF, no LI
Sinabs          ``r = 1``; IF; LIF and LI with ``tau >= 1`` (steps), ``v_leak = 0``  none (steps)
Norse 1.1.0     ``r = 1``; IF; LIF, LI, CubaLIF (``w_in = 1``) with ``tau < 1e-3``  Euler-stable of
                (the exporter wrote ``dt * tau``)                                 1e-3 (its default),
                                                                                  1e-4
Rockpool        LIF, LI, CubaLIF (``w_in = 1``) with ``r = tau exp(-dt/tau)/dt``   solved from r, tau
                for one dt
==============  =============================================================  ==================

Names and shapes add evidence: nirtorch 2's ``_N`` / ``input_N`` names (SpikingJelly),
``<name>.lif`` / ``<name>.w_rec`` (snnTorch's recurrent layers), ``N_<Class>Torch``
(Rockpool), a leading singleton (batch) dimension on the Input (Norse, Rockpool: Sinabs
and snnTorch export with ``ignore_dims=[0]``), and ``metadata["snncli"]`` (snncli's own).

:func:`detect` keeps the producers whose fingerprint every neuron node fits, narrows
them by the evidence, and then either applies the only consistent reading (the caller
warns with :attr:`Detection.message`, which names it) or, where the graph cannot tell
(snnTorch's reset mechanism, two producers), refuses with one line naming at most
three readings and the flag that chooses.  Sinabs' spike function and floor are not
written either: its graphs are read with Sinabs' layer defaults and the warning names
the three other choices.  No fingerprint: the NIR spec (``nir``), silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncli.nirgraph.check import CheckedGraph
from snncli.nirgraph.fingerprints import PRODUCERS, SNNTORCH_DT, NodeFacts, batch_dimension, evidence, node_facts
from snncli.nirgraph.readings import DEFAULT_READING, SINABS_READINGS, SNNTORCH_READINGS, reading

NORSE_DTS = (1e-3, 1e-4)  # Norse's default step (norse/torch/module/lif_box.py: dt=0.001), then NIR's


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found.  ``reading`` None: the graph cannot tell, ``message`` is the refusal."""

    producer: str | None
    reading: str | None
    readings: tuple[str, ...]
    dt: float | None
    message: str | None
    evidence: tuple[str, ...] = ()
    nodes: tuple[NodeFacts, ...] = ()

    def to_json(self) -> dict:
        return {
            "producer": self.producer,
            "reading": self.reading,
            "readings": list(self.readings),
            "dt": self.dt,
            "message": self.message,
            "evidence": list(self.evidence),
            "nodes": [
                {
                    "name": n.name,
                    "kind": n.kind,
                    "fits": list(n.fits),
                    "strong": list(n.strong),
                    "dt": n.dt,
                    "summary": n.summary,
                }
                for n in self.nodes
            ],
        }


# ------------------------------------------------------------------ detection
def detect(graph: CheckedGraph) -> Detection:
    """The reading ``graph`` means (module docstring)."""
    facts = tuple(node_facts(g) for g in graph.nodes if g.kind in ("IF", "LIF", "LI", "CubaLIF", "CubaLI"))
    hints = evidence(graph)
    grouped: dict[str, list[str]] = {}
    for producer, why in hints.items():
        grouped.setdefault(why, []).append(producer)
    shown = tuple(f"{why} -> {', '.join(producers)}" for why, producers in grouped.items())
    if not facts:
        return Detection(None, DEFAULT_READING, (DEFAULT_READING,), None, None, shown, facts)
    common = [
        p for p in PRODUCERS if all(p in f.fits for f in facts) and (p in hints or any(p in f.strong for f in facts))
    ]
    narrowed = [p for p in common if p in hints] or common
    if set(narrowed) == {"sinabs", "norse"}:  # IF only, r = 1: Norse writes a batch dimension, Sinabs does not
        narrowed = ["norse"] if batch_dimension(graph) else ["sinabs"]
    if not narrowed:
        return _mixed(facts, shown)
    if len(narrowed) > 1:
        names = [_readings_of(p)[0] for p in narrowed][:3]
        return Detection(
            None,
            None,
            tuple(names),
            None,
            _ask(f"fits the exporters of {', '.join(narrowed)}", names, "they mean different things"),
            shown,
            facts,
        )
    return _one_producer(graph, narrowed[0], facts, shown, hints.get(narrowed[0]))


def _readings_of(producer: str) -> tuple[str, ...]:
    return {"snntorch": SNNTORCH_READINGS, "sinabs": SINABS_READINGS}.get(producer, (producer,))


def _ask(what: str, names, why: str) -> str:
    choices = ", ".join(f"--reading {n}" for n in names[:-1]) + f" or --reading {names[-1]}"
    return (
        f"the graph {what}; {why}: choose {choices}"
        if len(names) > 1
        else f"the graph {what}; {why}: pass --reading {names[0]}"
    )


def _mixed(facts, shown) -> Detection:
    """Nodes that fit different producers: read as the spec, and say which readings the nodes suggest."""
    suggested = list(dict.fromkeys(_readings_of(p)[0] for f in facts for p in f.strong))[:2]  # with nir: 3
    if not suggested:
        return Detection(None, DEFAULT_READING, (DEFAULT_READING,), None, None, shown, facts)
    per_node = "; ".join(f"{f.name!r} fits {'/'.join(f.fits) or 'none'}" for f in facts)
    message = (
        f"the graph's neuron nodes fit no single producer ({per_node}); read with the NIR spec "
        f"(--reading nir); if a producer wrote it, pass " + " or ".join(f"--reading {n}" for n in suggested)
    )
    return Detection(None, DEFAULT_READING, (DEFAULT_READING, *suggested), None, message, shown, facts)


def _one_producer(graph: CheckedGraph, producer: str, facts, shown, hint: str | None) -> Detection:
    why = _fingerprint_text(producer, facts) + (f"; {hint}" if hint else "")
    if producer == "snntorch":
        names = SNNTORCH_READINGS
        return Detection(
            producer,
            None,
            names,
            SNNTORCH_DT,
            (
                f"the graph looks like an snnTorch export ({why}), and snnTorch's exporter does not record the reset "
                f"mechanism: choose --reading {names[0]} (snnTorch's default), --reading {names[1]} or "
                f"--reading {names[2]} (reset_delay=False)"
            ),
            shown,
            facts,
        )
    if producer == "sinabs":
        return Detection(
            producer,
            "sinabs",
            SINABS_READINGS,
            None,
            (
                f"the graph looks like a Sinabs export ({why}); read as Sinabs' layer defaults, reading sinabs "
                "(MultiSpike: floor(v/thr) spikes at v >= thr, subtractive reset, no floor), which the file does not "
                "record: if the model used SingleSpike or min_v_mem = -threshold, pass --reading sinabs-single, "
                "--reading sinabs-floor or --reading sinabs-single-floor"
            ),
            shown,
            facts,
        )
    dt, dt_note = implied_dt(graph, producer, facts)
    rules = reading(producer)
    return Detection(
        producer,
        producer,
        (producer,),
        dt,
        (
            f"the graph looks like a {_LABELS[producer]} export ({why}); read with --reading {producer} "
            f"({rules.summary}){dt_note}"
        ),
        shown,
        facts,
    )


_LABELS = {
    "spikingjelly": "SpikingJelly",
    "snntorch": "snnTorch",
    "sinabs": "Sinabs",
    "norse": "Norse 1.1.0",
    "rockpool": "Rockpool",
}


def _fingerprint_text(producer: str, facts) -> str:
    kinds = sorted({f.kind for f in facts})
    return {
        "spikingjelly": ", ".join(
            {"IF": "IF r = 1/dt", "LIF": "LIF r = 1 or tau/dt", "CubaLIF": "CubaLIF r = tau_mem/dt"}.get(k, k)
            for k in kinds
        ),
        "snntorch": "r = tau/1e-4" + (", w_in = tau_syn/1e-4" if "CubaLIF" in kinds else ""),
        "sinabs": "r = 1" + (", tau in steps" if set(kinds) & {"LIF", "LI"} else ""),
        "norse": "r = 1" + (", tau written as dt * tau (below 1e-3 s)" if set(kinds) - {"IF"} else ""),
        "rockpool": "r = tau exp(-dt/tau)/dt",
    }[producer]


# ------------------------------------------------------------------ dt
def implied_dt(graph: CheckedGraph, producer: str, facts=None) -> tuple[float | None, str]:
    """The dt a producer's graph implies (None: it implies none) and a note for the user."""
    facts = (
        facts
        if facts is not None
        else tuple(node_facts(g) for g in graph.nodes if g.kind in ("IF", "LIF", "LI", "CubaLIF", "CubaLI"))
    )
    if producer == "snntorch" or producer.startswith("snntorch"):
        return SNNTORCH_DT, ""
    if producer == "norse":
        return _norse_dt(graph)
    dts = [f.dt[producer] for f in facts if producer in f.dt]
    if not dts:
        return None, ""
    dt = _round(float(np.median(dts)))
    if not np.allclose(dts, dt, rtol=1e-4, atol=0.0):
        return None, f"; its nodes imply different dt ({min(dts):g}..{max(dts):g} s): pass --dt"
    return dt, f"; dt = {dt:g} s, as the graph's parameters imply"


def _round(dt: float) -> float:
    """``dt`` to 6 significant digits: float32 parameters give it with a few ulps of noise."""
    return float(f"{dt:.6g}")


def _norse_dt(graph: CheckedGraph) -> tuple[float, str]:
    """Norse 1.1.0 wrote ``tau = dt * tau_true``: one Euler step is ``dt/tau_true = dt**2/tau``, which must stay
    below 1.  The first stable candidate of :data:`NORSE_DTS`; the other stable ones are named."""
    taus = [
        g.param(k)
        for g in graph.nodes
        for k in ("tau", "tau_mem", "tau_syn")
        if g.kind in ("LIF", "LI", "CubaLIF", "CubaLI") and getattr(g.node, k, None) is not None
    ]
    if not taus:
        return NORSE_DTS[0], f"; dt = {NORSE_DTS[0]:g} s (Norse's default; IF nodes do not depend on it)"
    smallest = min(float(t.min()) for t in taus)
    stable = [dt for dt in NORSE_DTS if dt * dt < smallest]
    if not stable:
        return NORSE_DTS[-1], (
            f"; no usual dt is stable for its tau (dt**2 >= {smallest:.3g}): pass the dt the model was run with, --dt"
        )
    others = [f"--dt {dt:g}" for dt in stable[1:]]
    return stable[0], (
        f"; dt = {stable[0]:g} s"
        + (
            f" (Norse's default; if the model ran at another step, pass {' or '.join(others)})"
            if others
            else " (the largest usual step whose Euler step is stable)"
        )
    )


# ------------------------------------------------------------------ sanity
def unstable_steps(graph: CheckedGraph, reading_name: str, dt: float) -> list[str]:
    """Nodes whose forward-Euler step does not decay under ``reading_name`` at ``dt``: ``dt >= tau``
    (``1 - dt/tau <= 0``: the state flips sign or explodes).  Exponential decays never do."""
    rules = reading(reading_name)
    if rules.decay != "euler":
        return []
    problems = []
    for g in graph.nodes:
        for key in ("tau", "tau_mem", "tau_syn"):
            if g.kind in ("LIF", "LI", "CubaLIF", "CubaLI") and getattr(g.node, key, None) is not None:
                tau = g.param(key)
                tau_s = {"seconds": tau, "dt*seconds": tau / dt, "steps": tau * dt}[rules.tau]
                if np.any(dt >= tau_s):
                    problems.append(f"{g.name!r} {key} {float(tau_s.min()):.3g} s")
    return problems


__all__ = ["Detection", "detect", "implied_dt", "unstable_steps"]
