"""The report's plots, one function per panel over a matplotlib Axes (shared by the PNG and the HTML page).

* operations per synaptic layer: the SNN's ACs and MACs per inference vs its ANN twin's MACs;
* firing rate per neuron layer;
* energy per inference under every profile, SNN vs ANN twin;
* the SNN's energy by kind of operation, per profile (shares);
* break-even: ``E_snn(r) / E_ann`` against the input firing rate r, per profile, with the
  measured rate marked (``E_snn(r) = snn_fixed_pj + r * snn_pj_per_unit_rate``, see
  :mod:`snncli.hwsim.energy`).
"""

from __future__ import annotations

import io

import numpy as np

PANELS = ("operations", "firing", "energy", "kinds", "break_even")
TITLES = {
    "operations": "operations per inference, per synaptic layer",
    "firing": "firing rate per neuron layer",
    "energy": "energy per inference: SNN vs ANN twin",
    "kinds": "SNN energy by kind of operation",
    "break_even": "break-even input firing rate",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable in the page
    return plt


def operations(ax, report: dict) -> None:
    twin = {layer["name"]: layer["macs"] for layer in report["twin"]["layers"]}
    syn = [layer for layer in report["layers"] if layer["sops"] or layer["macs"] or layer.get("synapses")]
    names = list(dict.fromkeys([layer["name"] for layer in syn] + list(twin)))
    by_name = {layer["name"]: layer for layer in syn}
    x = np.arange(len(names))
    acs = [by_name[n]["sops"] if n in by_name else 0 for n in names]
    macs = [by_name[n]["macs"] if n in by_name else 0 for n in names]
    ax.bar(x - 0.2, acs, width=0.4, label="ACs (SNN)")
    ax.bar(x - 0.2, macs, width=0.4, bottom=acs, label="MACs (SNN)")
    ax.bar(x + 0.2, [twin.get(n, 0) for n in names], width=0.4, label="MACs (ANN twin)")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1)
    ax.set_ylabel("operations per inference")
    ax.legend(fontsize=8)


def firing(ax, report: dict) -> None:
    neu = [layer for layer in report["layers"] if layer["op"] == "neuron"]
    ax.bar([layer["name"] for layer in neu], [layer["firing_rate"] for layer in neu], color="tab:red")
    ax.set_ylabel("spikes per neuron per step")
    ax.tick_params(axis="x", rotation=45)


def energy(ax, report: dict) -> None:
    names = list(report["energy"])
    y = np.arange(len(names))
    snn = [report["energy"][n]["snn_pj"] / 1e3 for n in names]
    ann = [report["energy"][n]["ann_pj"] / 1e3 for n in names]
    ax.barh(y - 0.2, snn, height=0.4, label="SNN", color="tab:blue")
    ax.barh(y + 0.2, ann, height=0.4, label="ANN twin", color="tab:gray")
    labels = [n + (" (est.)" if report["energy"][n]["profile"]["estimate"] else "") for n in names]
    ax.set_yticks(y, labels)
    ax.set_xscale("log")
    ax.set_xlabel("nJ per inference")
    ax.legend(fontsize=8)


def kinds(ax, report: dict) -> None:
    names = list(report["energy"])
    kinds_ = list(next(iter(report["energy"].values()))["by_kind_pj"]) if names else []
    left = np.zeros(len(names))
    for kind in kinds_:
        parts = np.array([report["energy"][n]["by_kind_pj"][kind] for n in names])
        share = parts / np.maximum([report["energy"][n]["snn_pj"] for n in names], 1e-30)
        if share.any():
            ax.barh(names, share, left=left, label=kind)
            left += share
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the SNN's energy")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)


def break_even(ax, report: dict) -> None:
    marks = [
        e[key]
        for e in report["energy"].values()
        for key in ("input_rate", "break_even_firing_rate")
        if e[key] is not None
    ]
    top = min(1.0, max([0.05, *(2.0 * r for r in marks)]))  # the rates that matter, not all of [0, 1]
    r = np.linspace(0, top, 200)
    for name, e in report["energy"].items():
        if not e["ann_pj"]:
            continue
        (line,) = ax.plot(r, (e["snn_fixed_pj"] + r * e["snn_pj_per_unit_rate"]) / e["ann_pj"], label=name)
        if e["input_rate"] is not None:
            ax.plot([e["input_rate"]], [e["snn_pj"] / e["ann_pj"]], "o", color=line.get_color())
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("input firing rate (spikes per input per step); dot: measured")
    ax.set_ylabel("E_SNN / E_ANN twin")
    ax.legend(fontsize=7)


DRAW = {"operations": operations, "firing": firing, "energy": energy, "kinds": kinds, "break_even": break_even}


def svg(report: dict, panel: str) -> str:
    """One panel as an SVG document (text kept as text)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    DRAW[panel](ax, report)
    ax.set_title(TITLES[panel])
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG goes inline into HTML


def png(report: dict, write) -> None:
    """Every panel in one PNG, written through ``write(savefig)`` (an atomic writer)."""
    plt = _plt()
    fig, axes = plt.subplots(3, 2, figsize=(12, 12))
    for ax, panel in zip(axes.flat, PANELS):
        DRAW[panel](ax, report)
        ax.set_title(TITLES[panel])
    axes.flat[-1].axis("off")
    fig.tight_layout()
    write(lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
