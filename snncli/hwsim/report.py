"""Energy / latency / activity report: JSON, Markdown + PNG, and one self-contained HTML page.

Input is a machine-readable counting result: what ``snncli simulate --json`` writes (the
deployed Program's event counters, its ANN twin, its latency), or the same fields counted
on a float torch model (``counted_on`` says which).  Output is the same plus, per energy
profile, the SNN and ANN-twin energy, their ratio, the energy by kind of operation, the
break-even firing rate and a verdict; which profile describes the target's chip; and
warnings where the input left something open (a result without an ANN twin or latency).
"""

from __future__ import annotations

import os

from snncli.core.files import atomic_write, write_json, write_text
from snncli.errors import SnnCliError
from snncli.hwsim.energy import Profile, estimate, profile_for_target

REQUIRED = ("layers", "steps")
COUNTERS = ("sops", "macs", "neuron_updates", "spikes", "weight_reads", "state_reads", "state_writes")
ON_PROGRAM = "the deployed Program (hwsim's event counters)"


def build_report(sim: dict, profiles: list[Profile], known: list[Profile] | None = None) -> dict:
    """The report of ``sim`` under ``profiles``; ``known``: every profile, to name the one matching the target."""
    missing = [key for key in REQUIRED if key not in sim]
    if missing:
        raise SnnCliError(
            f"the simulation result lacks {', '.join(missing)}; pass the JSON written by `snncli simulate --json`"
        )
    layers = [_checked_layer(i, layer) for i, layer in enumerate(sim["layers"])]
    warnings: list[str] = []
    twin = sim.get("twin") or _fallback_twin(layers, warnings)
    steps = int(sim["steps"])
    energy = {p.name: estimate(layers, steps, p, int(twin["macs"])) for p in profiles}
    target = str(sim.get("target", "float"))
    if not sim.get("latency"):
        warnings.append(
            "the simulation result has no latency (written by an older snncli); run `snncli simulate` again for one"
        )
    return {
        **sim,
        "layers": layers,
        "counted_on": sim.get("counted_on", ON_PROGRAM),
        "twin": twin,
        "energy": energy,
        "matched_profile": _matched(target, profiles, known or profiles),
        "latency": sim.get("latency"),
        "report_warnings": warnings,
    }


def _checked_layer(i: int, layer) -> dict:
    if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
        raise SnnCliError(
            f"layer {i} of the simulation result is not a record with a name; pass the JSON written by "
            "`snncli simulate --json`"
        )
    for key in COUNTERS:
        if not isinstance(layer.get(key), (int, float)) or isinstance(layer.get(key), bool):
            raise SnnCliError(
                f"layer {layer['name']!r} of the simulation result lacks the counter {key!r}; pass the "
                "JSON written by `snncli simulate --json`"
            )
    out = dict(layer)
    out.setdefault("synapses", layer.get("ann_macs", 0))
    out.setdefault("firing_rate", 0.0)
    out.setdefault("op", "?")
    return out


def _fallback_twin(layers: list[dict], warnings: list[str]) -> dict:
    """An older result without the graph's ANN twin: count it on the layers it has, and say so."""
    warnings.append(
        "the simulation result has no ANN twin (written by an older snncli): the twin is counted on its "
        "lowered layers, which for a chip target may fold pooling into the next layer and so differ from "
        "the network's own twin; run `snncli simulate` again for the twin counted on the graph"
    )
    rows = [
        {
            "name": layer["name"],
            "op": layer["op"],
            "macs": int(layer.get("ann_macs", layer["synapses"])),
            "weights": None,
        }
        for layer in layers
        if layer.get("ann_macs", layer["synapses"])
    ]
    return {
        "source": "the lowered layers (fallback: no twin recorded)",
        "macs": sum(r["macs"] for r in rows),
        "layers": rows,
    }


def _matched(target: str, profiles: list[Profile], known: list[Profile]) -> dict:
    match = profile_for_target(target, known)
    if match is None:
        return {"name": None, "note": f"no energy profile describes target {target!r}"}
    note = f"profile {match.name!r} describes the chip of target {target!r}"
    if match.name not in [p.name for p in profiles]:
        note += f" (not among the requested profiles: add --profile {match.name})"
    return {"name": match.name, "note": note + (" (an estimate)" if match.estimate else "")}


# ---------------------------------------------------------------- text
def fmt(value, spec: str = ",.2f", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def seconds(value) -> str:
    """A duration with a readable unit."""
    if value is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def energy_rows(report: dict) -> list[list[str]]:
    rows = []
    for name, e in report["energy"].items():
        mark = " *" if name == report["matched_profile"]["name"] else ""
        rows.append(
            [
                name + mark,
                fmt(e["snn_pj"] / 1e3),
                fmt(e["ann_pj"] / 1e3),
                fmt(e["snn_over_ann"], ".3f"),
                fmt(e["break_even_firing_rate"], ".4f"),
                "estimate" if e["profile"]["estimate"] else "published",
            ]
        )
    return rows


ENERGY_HEADER = ["profile", "SNN (nJ)", "ANN twin (nJ)", "SNN/ANN", "break-even rate", "figures"]
LAYER_HEADER = ["layer", "op", "SOPs (AC)", "MACs", "neuron updates", "spikes", "firing rate"]


def layer_rows(report: dict) -> list[list[str]]:
    rows = [
        [
            layer["name"],
            layer["op"],
            fmt(layer["sops"], ",.0f"),
            fmt(layer["macs"], ",.0f"),
            fmt(layer["neuron_updates"], ",.0f"),
            fmt(layer["spikes"], ",.1f"),
            fmt(layer["firing_rate"], ".4f"),
        ]
        for layer in report["layers"]
    ]
    t = {key: sum(layer[key] for layer in report["layers"]) for key in COUNTERS}
    rows.append(
        [
            "total",
            "",
            fmt(t["sops"], ",.0f"),
            fmt(t["macs"], ",.0f"),
            fmt(t["neuron_updates"], ",.0f"),
            fmt(t["spikes"], ",.1f"),
            "",
        ]
    )
    return rows


def headline(report: dict) -> list[str]:
    """The lines a reviewer reads first."""
    lines = [
        f"Counted on {report['counted_on']}; target {report.get('target', 'float')}, "
        f"{report['steps']} time steps per sample."
    ]
    if report.get("accuracy") is not None:
        lines.append(f"Accuracy {100 * report['accuracy']:.2f} % on {report.get('samples', '?')} samples.")
    lines.append(f"ANN twin: {report['twin']['macs']:,} MACs per inference, counted on {report['twin']['source']}.")
    match = report["matched_profile"]
    lines.append(match["note"] + ".")
    if match["name"] in report["energy"]:
        lines.append(f"Verdict under {match['name']}: {report['energy'][match['name']]['verdict']}.")
    lat = report.get("latency")
    if lat:
        lines.append(
            f"Latency ({lat['model']}): {seconds(lat['per_inference_s'])} per inference, "
            f"{seconds(lat['per_step_s'])} per step{' (estimate)' if lat['estimate'] else ''}."
        )
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    rule = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"
    return ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)]


def markdown(report: dict) -> str:
    lines = [
        f"# snncli energy and latency report: {report.get('source', '')}",
        "",
        *headline(report),
        "",
        "## Energy per inference",
        "",
        *_table(ENERGY_HEADER, energy_rows(report)),
        "",
        "`*` the profile that describes the target's chip.",
        "",
    ]
    for name, e in report["energy"].items():
        lines.append(
            f"- **{name}**: {e['verdict']}; {e['break_even_note']}. Source: {e['profile']['source']}."
            + (f" Estimate: {e['profile']['reasoning']}" if e["profile"]["estimate"] else "")
        )
    lat = report.get("latency")
    if lat:
        lines += [
            "",
            "## Latency",
            "",
            f"{lat['model']}: **{seconds(lat['per_inference_s'])}** per inference "
            f"({lat['steps_per_inference']} steps), {seconds(lat['per_step_s'])} per step.",
            "",
            "Assumptions:",
            *[f"- {a}" for a in lat["assumptions"]],
            "",
            "Sources:",
            *[f"- {s}" for s in lat["sources"]],
        ]
    lines += [
        "",
        "## Per layer, per sample",
        "",
        *_table(LAYER_HEADER, layer_rows(report)),
        "",
        "![report](report.png)",
        "",
    ]
    warnings = [*report.get("warnings", []), *report.get("report_warnings", [])]
    if warnings:
        lines += ["## Warnings", "", *[f"- {w}" for w in warnings], ""]
    return "\n".join(lines)


def write_report(report: dict, out_dir: str) -> dict[str, str]:
    """Write report.json, report.md, report.png and report.html into ``out_dir``; return their paths."""
    from snncli.hwsim import figures
    from snncli.hwsim.html import page

    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, f"report.{kind}") for kind in ("json", "md", "png", "html")}
    write_json(paths["json"], report)
    write_text(paths["md"], markdown(report))
    figures.png(report, lambda save: atomic_write(paths["png"], save))
    write_text(paths["html"], page(report, {panel: figures.svg(report, panel) for panel in figures.PANELS}))
    return paths
