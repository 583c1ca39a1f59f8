"""Run every benchmark, write one JSON with the machine description, regenerate the README's table.

    python -m benchmarks [--quick] [--only NAME ...] [--output PATH] [--no-readme]

Benchmarks, in order (each a module of this package with ``run(quick)``):

* ``accuracy``  every model-zoo entry on every offline dataset, torch and every target;
* ``training``  training samples/s: snncli vs snnTorch vs SpikingJelly multi-step;
* ``lava``      hwsim vs Lava on the same Loihi Program (the accuracy run's MLP, when there);
* ``density``   hwsim vs Sinabs vs a dense torch forward across input event densities;
* ``op_counts`` hwsim's operation counts vs NeuroBench and SpikingJelly's op_counter.

``--quick`` (digits only, fewer epochs, samples and repeats) is meant to finish in
under 5 minutes on 2 cores.  Results go to ``benchmarks/results/suite_quick.json`` or
``suite.json``; the README's table between its benchmark markers is rewritten from
them.  A benchmark that raises is recorded under ``errors`` and the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import accuracy, density, lava, op_counts, training
from benchmarks.machine import machine
from benchmarks.readme import table, update_readme

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("accuracy", "training", "lava", "density", "op_counts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits only, fewer epochs/samples/repeats (< 5 min)")
    parser.add_argument("--only", nargs="+", choices=ORDER, help="run only these benchmarks")
    parser.add_argument("--output", help="results JSON (default: benchmarks/results/suite[_quick].json)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite README.md's results table")
    args = parser.parse_args(argv)
    output = Path(args.output or ROOT / "benchmarks" / "results" / f"suite{'_quick' if args.quick else ''}.json")
    suite = {
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "results": {},
        "errors": {},
    }
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="snncli-bench-") as work:
        for name in args.only or ORDER:
            print(f"[benchmarks] {name} ...", flush=True)
            t0 = time.perf_counter()
            try:
                suite["results"][name] = _run(name, args.quick, Path(work))
            except Exception as exc:  # one failing benchmark must not lose the others' results
                suite["errors"][name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            print(f"[benchmarks] {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    suite["wall_seconds"] = round(time.perf_counter() - wall0, 1)
    suite["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(suite, indent=1) + "\n")
    print(f"[benchmarks] wrote {output} ({suite['wall_seconds']:.0f} s wall)")
    if not args.no_readme:
        shown = output.resolve().relative_to(ROOT) if output.resolve().is_relative_to(ROOT) else output
        full = ROOT / "benchmarks" / "results" / "density.json"
        full_density = json.loads(full.read_text()) if full.exists() else None
        update_readme(ROOT / "README.md", table(suite, str(shown), full_density))
        print("[benchmarks] README.md results table regenerated")
    return 1 if suite["errors"] else 0


def _run(name: str, quick: bool, work: Path) -> dict:
    if name == "accuracy":
        return accuracy.run(quick, work=str(work / "accuracy"))
    if name == "lava":
        mlp = work / "accuracy" / "digits-mlp"
        return lava.run(quick, run_dir=str(mlp) if (mlp / "config.yaml").exists() else None)
    return {"training": training, "density": density, "op_counts": op_counts}[name].run(quick)


if __name__ == "__main__":
    sys.exit(main())
