"""Energy and latency reports of trained networks under every target and profile, and a screenshot of one page.

    python -m benchmarks.reports RUN [RUN ...] [--screenshot PNG] [--output JSON]

For every run and every target that lowers it: ``snncli export`` (loihi: the calibrated
Program), ``snncli simulate`` on the whole test split, ``snncli report``; recorded per
(run, target): accuracy, the ANN twin (its MACs must be the same under every target),
per profile the SNN and ANN energy, their ratio, the break-even rate and the verdict,
and the latency per inference and per step.  ``--screenshot`` renders the report page of
the last run's ``--page-target`` (loihi) in headless Chromium (``benchmarks/chromium.py``).  Not part
of ``--quick``: it wants fully trained runs (``snncli train --config configs/...``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv: str) -> int:
    from snncli.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(list(argv))
    if code:
        raise RuntimeError(err.getvalue().strip() or f"snncli {argv[0]} exited {code}")
    return code


def report_run(run: Path, work: Path, targets: list[str]) -> tuple[dict, dict[str, Path]]:
    """Per target: the report's figures (or the refusal), and where each HTML page is."""
    rows, pages = {}, {}
    graph = work / f"{run.name}.nir"
    _cli("export", str(run), "--target", "nir", "-o", str(graph))
    for target in targets:
        out = work / f"{run.name}-{target}"
        try:
            if target == "loihi":  # the chip's Program, calibrated on training samples as export does
                _cli("export", str(run), "--target", "loihi", "-o", f"{out}.h5")
                _cli("simulate", f"{out}.h5.program.npz", "--json", f"{out}.sim.json")
            else:
                _cli("simulate", str(graph), "--target", target, "--json", f"{out}.sim.json")
            _cli("report", f"{out}.sim.json", "-o", str(out), "--json", f"{out}.report.json")
        except RuntimeError as exc:
            rows[target] = {"refused": str(exc)}
            continue
        rep = json.loads(Path(f"{out}.report.json").read_text())
        lat = rep["latency"]
        rows[target] = {
            "accuracy": rep["accuracy"],
            "samples": rep["samples"],
            "twin_macs": rep["twin"]["macs"],
            "matched_profile": rep["matched_profile"]["name"],
            "latency": {
                k: lat[k] for k in ("model", "estimate", "per_inference_s", "per_step_s", "steps_per_inference")
            },
            "energy": {
                name: {
                    "snn_nj": round(e["snn_pj"] / 1e3, 3),
                    "ann_nj": round(e["ann_pj"] / 1e3, 3),
                    "snn_over_ann": e["snn_over_ann"],
                    "break_even_rate": e["break_even_firing_rate"],
                    "verdict": e["verdict"],
                }
                for name, e in rep["energy"].items()
            },
        }
        pages[target] = out / "report.html"
    return rows, pages


def main() -> None:
    from benchmarks.chromium import screenshot
    from benchmarks.machine import machine
    from snncli.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories written by snncli train")
    parser.add_argument("--screenshot", help="PNG of the last run's report page for --page-target")
    parser.add_argument("--page-target", default="loihi", help="whose page the screenshot shows (else the last)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "reports.json"))
    args = parser.parse_args()
    targets = [name for name in TARGETS if name != "nir"]
    result = {"command": "python -m benchmarks.reports " + " ".join(args.runs), "machine": machine(), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="snncli-reports-") as tmp:
        page = None
        for run in map(Path, args.runs):
            rows, pages = report_run(run, Path(tmp), targets)
            twins = {row["twin_macs"] for row in rows.values() if "twin_macs" in row}
            result["runs"][run.name] = {"targets": rows, "one_twin_under_every_target": len(twins) == 1}
            page = pages.get(args.page_target) or next(reversed(pages.values()), page)
        if args.screenshot and page is not None:
            screenshot(page, Path(args.screenshot))
            result["screenshot"] = {"png": args.screenshot, "page": f"{page.parent.name}/report.html"}
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({run: v["one_twin_under_every_target"] for run, v in result["runs"].items()}))


if __name__ == "__main__":
    main()
