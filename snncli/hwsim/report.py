"""Energy / activity report from a simulation result: JSON, Markdown, PNG.

Input is the machine-readable result of ``snncli simulate`` (``layers`` with
per-sample counters, ``steps``); output is the same plus ``energy`` per
profile, each with the SNN and ANN-twin energy, their ratio, the break-even
firing rate and a verdict on the low-power claim.
"""

from __future__ import annotations

import os

from snncli.errors import SnnCliError
from snncli.hwsim.energy import estimate, get_profile
from snncli.core.files import write_json, write_text, atomic_write

REQUIRED = ("layers", "steps")


def build_report(sim: dict, profiles: list[str]) -> dict:
    missing = [key for key in REQUIRED if key not in sim]
    if missing:
        raise SnnCliError(
            f"the simulation result lacks {', '.join(missing)}; pass the JSON written by `snncli simulate --json`"
        )
    energy = {name: estimate(sim["layers"], int(sim["steps"]), get_profile(name)) for name in profiles}
    return {**sim, "energy": energy}


def markdown(report: dict) -> str:
    lines = [f"# snncli energy report: {report.get('source', '')}", ""]
    if "accuracy" in report and report["accuracy"] is not None:
        lines += [f"Accuracy: **{100 * report['accuracy']:.2f} %** on {report.get('samples', '?')} samples", ""]
    lines += [
        f"Per sample, {report['steps']} time steps, target `{report.get('target', 'float')}`.",
        "",
        "| layer | op | SOPs (AC) | MACs | neuron updates | spikes | firing rate |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for layer in report["layers"]:
        lines.append(
            f"| {layer['name']} | {layer['op']} | {layer['sops']:,.0f} | {layer['macs']:,.0f} | "
            f"{layer['neuron_updates']:,.0f} | {layer['spikes']:,.1f} | {layer['firing_rate']:.4f} |"
        )
    t = report["totals"]
    lines.append(
        f"| **total** | | {t['sops']:,.0f} | {t['macs']:,.0f} | {t['neuron_updates']:,.0f} | {t['spikes']:,.1f} | |"
    )
    lines += ["", "## Energy per inference", "", "| profile | SNN (nJ) | ANN twin (nJ) | SNN/ANN | break-even rate |", "|---|---:|---:|---:|---:|"]
    for name, e in report["energy"].items():
        ratio = f"{e['snn_over_ann']:.3f}" if e["snn_over_ann"] is not None else "n/a"
        be = f"{e['break_even_firing_rate']:.4f}" if e["break_even_firing_rate"] is not None else "n/a"
        lines.append(f"| {name} | {e['snn_pj'] / 1e3:,.2f} | {e['ann_pj'] / 1e3:,.2f} | {ratio} | {be} |")
    lines += [""] + [
        f"- **{name}**: {e['verdict']}; {e['break_even_note']} ({e['profile']['source']})"
        for name, e in report["energy"].items()
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    syn = [layer for layer in report["layers"] if layer["sops"] or layer["macs"] or layer["ann_macs"]]
    neu = [layer for layer in report["layers"] if layer["op"] == "neuron"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    names = [layer["name"] for layer in syn]
    xs = range(len(syn))
    ax1.bar([x - 0.2 for x in xs], [layer["sops"] for layer in syn], width=0.4, label="ACs (SNN)")
    ax1.bar([x - 0.2 for x in xs], [layer["macs"] for layer in syn], width=0.4, bottom=[layer["sops"] for layer in syn], label="MACs (SNN)")
    ax1.bar([x + 0.2 for x in xs], [layer["ann_macs"] for layer in syn], width=0.4, label="MACs (ANN twin)")
    ax1.set_xticks(list(xs), names, rotation=45, ha="right")
    ax1.set_yscale("log")
    ax1.set_ylim(bottom=1)
    ax1.set_ylabel("operations per sample")
    ax1.set_title("synaptic operations per layer")
    ax1.legend()
    ax2.bar([layer["name"] for layer in neu], [layer["firing_rate"] for layer in neu], color="tab:red")
    ax2.set_ylabel("spikes per neuron per step")
    ax2.set_title("firing rate per neuron layer")
    ax2.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def write_report(report: dict, out_dir: str) -> dict[str, str]:
    """Write report.json, report.md and report.png into ``out_dir``; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, f"report.{kind}") for kind in ("json", "md", "png")}
    write_json(paths["json"], report)
    write_text(paths["md"], markdown(report))
    plot(report, paths["png"])
    return paths
