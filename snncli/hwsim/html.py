"""The report as one self-contained HTML page: inline CSS, inline SVG figures, no script, no network access.

Written by hand with :mod:`html` escaping rather than a template engine: the page is a
handful of tables and figures, and one dependency fewer keeps ``snncli report`` light.
"""

from __future__ import annotations

from html import escape

from snncli.hwsim.figures import TITLES
from snncli.hwsim.report import ENERGY_HEADER, LAYER_HEADER, energy_rows, headline, layer_rows, seconds

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: .25em .6em; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.summary { background: #f4f7fb; border-left: 4px solid #3a6ea5; padding: .6em 1em; }
.float { background: #fff6e0; border-left-color: #d08a00; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
figure { margin: 0; } figure svg { width: 100%; height: auto; } figcaption { font-size: 12px; color: #555; }
.warn { color: #8a4b00; } code { background: #f2f2f2; padding: 0 .2em; }
"""


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 2) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i >= numeric_from else ''}>{escape(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _list(items) -> str:
    return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>"


def page(report: dict, svgs: dict[str, str]) -> str:
    """The HTML page; ``svgs``: panel name -> inline SVG (see :mod:`snncli.hwsim.figures`)."""
    on_float = not report["counted_on"].startswith("the deployed Program")
    parts = [
        f"<h1>snncli energy and latency report: {escape(str(report.get('source', '')))}</h1>",
        f"<div class='summary{' float' if on_float else ''}' id='summary'>"
        + "".join(f"<p>{escape(line)}</p>" for line in headline(report))
        + "</div>",
        "<h2>Energy per inference</h2>",
        _table(ENERGY_HEADER, energy_rows(report), 1),
        "<p>* the profile that describes the target's chip.</p>",
        _verdicts(report),
    ]
    lat = report.get("latency")
    if lat:
        parts += [
            "<h2>Latency</h2>",
            f"<p id='latency'>{escape(lat['model'])}: <b>{seconds(lat['per_inference_s'])}"
            f"</b> per inference ({lat['steps_per_inference']} steps), {seconds(lat['per_step_s'])} per step"
            f"{' (estimate)' if lat['estimate'] else ' (measured)'}.</p>",
            "<p>Assumptions:</p>",
            _list(lat["assumptions"]),
            "<p>Sources:</p>",
            _list(lat["sources"]),
        ]
    parts += ["<h2>Figures</h2>", "<div class='grid'>"]
    for panel, svg in svgs.items():
        parts.append(f"<figure id='fig-{panel}'>{svg}<figcaption>{escape(TITLES[panel])}</figcaption></figure>")
    parts += [
        "</div>",
        "<h2>Per layer, per sample</h2>",
        _table(LAYER_HEADER, layer_rows(report)),
        "<h2>ANN twin</h2>",
        f"<p>{report['twin']['macs']:,} MACs per inference, counted on {escape(report['twin']['source'])}.</p>",
        _table(["node", "op", "MACs"], [[r["name"], r["op"], f"{r['macs']:,}"] for r in report["twin"]["layers"]], 2),
    ]
    warnings = [*report.get("warnings", []), *report.get("report_warnings", [])]
    if warnings:
        parts += ["<h2>Warnings</h2>", "<div class='warn'>" + _list(warnings) + "</div>"]
    body = "\n".join(parts)
    title = escape(f"snncli report: {report.get('source', '')}")
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _verdicts(report: dict) -> str:
    items = []
    for name, e in report["energy"].items():
        text = (
            f"<b>{escape(name)}</b>: {escape(e['verdict'])}; {escape(e['break_even_note'])}. "
            f"<i>Source: {escape(e['profile']['source'])}.</i>"
        )
        if e["profile"]["estimate"]:
            text += f" Estimate: {escape(e['profile']['reasoning'])}"
        items.append(f"<li id='verdict-{escape(name)}'>{text}</li>")
    return "<ul>" + "".join(items) + "</ul>"
