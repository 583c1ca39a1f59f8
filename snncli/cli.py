"""Command line: parse arguments, call the library, print results.

Every command takes ``--json PATH`` for its machine-readable result.  A user
error (:class:`snncli.errors.SnnCliError`) is printed on one line and exits
with code 2; nothing half-written is left behind (all files are written
atomically by the library).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

from snncli import __version__
from snncli.errors import SnnCliError

EPILOG = """\
typical session:
  snncli train --run-dir runs/digits                    # MLP on sklearn digits (default)
  snncli export runs/digits --target nir -o digits.nir  # NIR graph, readable by any NIR tool
  snncli simulate digits.nir --json sim.json            # event-driven hwsim on the test split
  snncli report sim.json -o report/                     # energy: SNN vs its ANN twin
  snncli parity runs/digits --target loihi              # torch vs hwsim (Loihi arithmetic) vs Lava
  snncli export runs/digits --target loihi -o net.h5    # netx file for Intel Loihi 2
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    worker = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 reports; the other ranks only work
    try:
        with contextlib.redirect_stdout(io.StringIO()) if worker else contextlib.nullcontext():
            result = args.func(args)
    except SnnCliError as exc:
        print(f"snncli {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"snncli {args.command}: interrupted", file=sys.stderr)
        return 130
    if isinstance(result, dict):
        if getattr(args, "json", None) and not worker:
            _write_json(args.json, result)
            print(f"wrote {args.json}")
        return int(result.get("exit_code", 0))
    return 0


def _write_json(path: str, data: dict) -> None:
    from snncli.targets.program import atomic_write, to_jsonable

    atomic_write(path, lambda f: f.write(json.dumps(to_jsonable(data), indent=2).encode()))


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snncli",
        description="Train spiking neural networks, export them through NIR to neuromorphic chips, "
        "simulate them event by event with the chip's arithmetic, and report their energy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"snncli {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, func, help_text, description=None):
        p = sub.add_parser(name, help=help_text, description=description or help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        p.add_argument("--json", metavar="PATH", help="write the machine-readable result to PATH")
        return p

    p = command(
        "train", cmd_train, "train an SNN with surrogate gradients (BPTT)",
        "Train an SNN (SpikingJelly neurons, surrogate gradients, BPTT). Settings come from the\n"
        "defaults, then --config FILE.yaml, then the flags below (flags win). The run directory gets\n"
        "config.yaml, checkpoints/, metrics.json and training_curves.png; --resume continues a killed run.",
    )
    p.add_argument("--run-dir", required=True, help="directory for the run's config, checkpoints and metrics")
    p.add_argument("--config", help="YAML file with training settings (unknown keys are an error)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    for flag, kind, text in (
        ("model", str, "mlp or cnn"),
        ("dataset", str, "digits (default), fashion-mnist, mnist-5k, mnist, cifar10, cifar100, nmnist, dvs-gesture, shd"),
        ("data-root", str, "where downloadable datasets live / are downloaded to"),
        ("neuron", str, "lif (default), if or plif"),
        ("surrogate", str, "surrogate gradient, e.g. atan, sigmoid, erf, piecewise-quadratic"),
        ("encoder", str, "direct (analog current), poisson (rate) or latency"),
        ("time-steps", int, "number of simulation steps T"),
        ("epochs", int, "training epochs"),
        ("batch-size", int, "mini-batch size"),
        ("lr", float, "learning rate"),
        ("beta", float, "LIF leak per step (v = beta*v + x), e.g. 0.95"),
        ("reset", str, "zero or subtract"),
        ("seed", int, "random seed (runs with the same seed are identical)"),
        ("init-from", str, "fine-tune: start from this run's best weights and its settings (flags override)"),
        ("qat-bits", int, "quantization-aware training: weights fake-quantized to N-bit integers (8 for Loihi)"),
        ("device", str, "auto (CUDA when present), cpu or cuda"),
    ):
        p.add_argument(f"--{flag}", type=kind, help=text)
    p.add_argument("--hidden", type=int, nargs="+", help="hidden layer sizes of the mlp, e.g. --hidden 500")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other config key (YAML value)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = command(
        "export", cmd_export, "export a trained run to a target format",
        "Export a trained run. --target nir writes a NIR graph (readable by snnTorch, Sinabs, Norse,\n"
        "Lava, ...); --target float writes the lowered float64 Program that hwsim executes;\n"
        "--target loihi writes a lava-dl netx HDF5 file for Intel Loihi 2 (Lava loads it unchanged).",
    )
    p.add_argument("run", help="run directory written by `snncli train`")
    p.add_argument("--target", required=True, choices=["nir", "float", "loihi"], help="output format")
    p.add_argument("-o", "--output", required=True,
                   help="output file: .nir for nir, .npz for float, the netx .h5 for loihi (a .json sidecar "
                   "with scales and resources and the Program as .program.npz go beside it)")
    p.add_argument("--preset", default="auto", choices=["auto", "nir-paper"],
                   help="loihi: fixed-point scaling (auto = per-layer search on training samples)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint to export")
    p.add_argument("--dt", type=float, default=1e-4, help="time step in seconds written into the graph (default 1e-4)")

    p = command(
        "simulate", cmd_simulate, "run a NIR graph or Program event by event in hwsim",
        "Run a NIR graph (.nir) or a lowered Program (.npz) event by event and count what the chip\n"
        "would do. Drive it with the test split of a dataset (encoded as in training; the graph\n"
        "remembers how, if snncli wrote it) or with your own array (--input X.npy: time x batch x\n"
        "input shape, spikes or currents).",
    )
    p.add_argument("graph", help=".nir file or .npz Program")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="dataset whose test split drives the graph")
    src.add_argument("--input", help=".npy array of shape [time, batch, *input_shape]")
    p.add_argument("--data-root", help="where downloadable datasets live")
    p.add_argument("--encoder", help="input encoder (default: the one the graph was trained with)")
    p.add_argument("--time-steps", type=int, help="number of steps (default: the one the graph was trained with)")
    p.add_argument("--limit", type=int, help="use only the first N test samples")
    p.add_argument("--target", default="float", choices=["float", "loihi"],
                   help="arithmetic to simulate a .nir graph in (default float; a .npz Program knows its own)")
    p.add_argument("--preset", default="auto", choices=["auto", "nir-paper"], help="loihi: fixed-point scaling preset")
    p.add_argument("--dt", type=float, default=1e-4, help="time step in seconds for the NIR equations (default 1e-4)")
    p.add_argument("--reading", default="nir", choices=["nir", "sinabs", "norse"],
                   help="how to read IF nodes: nir = the spec (v += dt*r*I, default); sinabs/norse = v += r*I "
                   "per step (sinabs also: subtractive reset, floor at -threshold)")
    p.add_argument("--record", metavar="OUT.npz", help="save every node's output (and neuron voltages) per step")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed for stochastic encoders")

    p = command(
        "report", cmd_report, "energy and activity report from a simulation result",
        "Turn the counters of `snncli simulate --json` into energy per inference under named profiles\n"
        "(horowitz45: 0.9 pJ/AC, 4.6 pJ/MAC, 45 nm), compare with the same architecture run as an ANN,\n"
        "and write report.json, report.md and report.png.",
    )
    p.add_argument("sim", help="JSON written by `snncli simulate --json`")
    p.add_argument("-o", "--output-dir", default="report", help="directory for report.{json,md,png} (default report/)")
    p.add_argument("--profile", nargs="+", default=["horowitz45", "horowitz45-memory", "loihi"],
                   help="energy profiles (default: all)")

    p = command(
        "parity", cmd_parity, "compare the float torch model with the exported program in hwsim",
        "Run the same test inputs through the trained torch model (CUDA if present, else CPU) and\n"
        "through hwsim on the program lowered for --target; print both accuracies, the drop, how often\n"
        "the predictions agree, and per neuron layer the exact spike-match rate and the cosine\n"
        "similarity of spike counts. Exits 1 when the drop exceeds --tolerance percentage points.",
    )
    p.add_argument("run", help="run directory written by `snncli train`")
    p.add_argument("--target", default="float", choices=["float", "loihi"], help="program to compare (default float)")
    p.add_argument("--preset", default="auto", choices=["auto", "nir-paper"], help="loihi: fixed-point scaling preset")
    p.add_argument("--reference-limit", type=int, default=20,
                   help="samples also run through the vendor simulator (Lava for loihi; slow), default 20; 0 = none")
    p.add_argument("--tolerance", type=float, default=1.0, help="allowed accuracy drop in percentage points (default 1.0)")
    p.add_argument("--limit", type=int, help="use only the first N test samples")
    p.add_argument("--device", help="torch device for the float model (default: cuda if available, else cpu)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--seed", type=int, default=0, help="seed for stochastic encoders")

    command("doctor", cmd_doctor, "show which backends, datasets and devices are available here")
    return parser


# ---------------------------------------------------------------- commands
def cmd_train(args) -> dict:
    import yaml

    from snncli.trainer.config import load_config
    from snncli.trainer.train import train

    overrides = {}
    for key in ("model", "dataset", "data_root", "neuron", "surrogate", "encoder", "time_steps", "epochs",
                "batch_size", "lr", "beta", "reset", "seed", "device", "hidden", "qat_bits", "init_from"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    for item in args.set:
        if "=" not in item:
            raise SnnCliError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip().replace("-", "_")] = yaml.safe_load(value)
    config = args.config
    if config is None and args.init_from:  # fine-tuning keeps the source run's settings unless flags say otherwise
        config = Path(args.init_from) / "config.yaml"
        if not config.is_file():
            raise SnnCliError(f"--init-from {args.init_from} is not a training run (no config.yaml); "
                              "pass a directory `snncli train` wrote")
    cfg = load_config(config, overrides)
    summary = train(cfg, args.run_dir, resume=args.resume, progress=not args.no_progress)
    print(
        f"trained {cfg.model} on {cfg.dataset}: best test accuracy {100 * summary['best_test_acc']:.2f} % "
        f"({summary['epochs']} epochs, {summary['seconds']:.0f} s); run in {args.run_dir}"
    )
    return {"command": "train", "accuracy": summary["best_test_acc"], **summary}


def cmd_export(args) -> dict:
    from snncli.export.run import export_run

    info = export_run(args.run, args.output, target=args.target, dt=args.dt, checkpoint=args.checkpoint,
                      preset=args.preset)
    print(f"exported {args.run} ({info['nodes']} nodes) to {', '.join(info['files'])}")
    return {"command": "export", **info}


def cmd_simulate(args) -> dict:
    from snncli.simulate_cmd import run_simulation

    result = run_simulation(args)
    _print_layers(result)
    if result.get("accuracy") is not None:
        print(f"accuracy: {100 * result['accuracy']:.2f} % on {result['samples']} samples "
              f"({result['steps']} steps, {result['seconds']:.1f} s)")
    return result


def cmd_report(args) -> dict:
    from snncli.hwsim.report import build_report, write_report

    try:
        with open(args.sim) as f:
            sim = json.load(f)
    except FileNotFoundError:
        raise SnnCliError(f"simulation result not found: {args.sim} (write one with `snncli simulate --json`)") from None
    except json.JSONDecodeError as exc:
        raise SnnCliError(f"{args.sim} is not valid JSON ({exc})") from None
    if not isinstance(sim, dict):
        raise SnnCliError(f"{args.sim} is not a simulation result")
    report = build_report(sim, args.profile)
    paths = write_report(report, args.output_dir)
    for name, e in report["energy"].items():
        ratio = f"{e['snn_over_ann']:.3f}" if e["snn_over_ann"] is not None else "n/a"
        print(f"{name:>18}: SNN {e['snn_pj'] / 1e3:10.2f} nJ  ANN {e['ann_pj'] / 1e3:10.2f} nJ  SNN/ANN {ratio}")
        print(f"{'':>18}  {e['verdict']}; {e['break_even_note']}")
    print("wrote " + ", ".join(paths.values()))
    return {"command": "report", **report, "files": paths}


def cmd_parity(args) -> dict:
    from tqdm import tqdm

    from snncli.parity import check

    with tqdm(desc="parity", unit="sample", disable=None) as bar:
        result = check(args.run, target=args.target, limit=args.limit, seed=args.seed, device=args.device,
                       checkpoint=args.checkpoint, preset=args.preset, reference_limit=args.reference_limit,
                       progress=bar.update)
    acc = result["accuracy"]
    print(f"accuracy: torch ({result['device']}) {100 * acc['torch']:.2f} %, hwsim ({args.target}) "
          f"{100 * acc['hwsim']:.2f} %, drop {result['accuracy_drop_pp']:+.2f} pp on {result['samples']} samples")
    print(f"predictions agree on {100 * result['prediction_agreement']:.2f} % of samples; "
          f"spikes match on {100 * result['spike_match_rate']:.4f} % of (sample, neuron, step)")
    for layer in result["layers"]:
        print(f"  {layer['name']:<12} spike match {100 * layer['spike_match_rate']:8.4f} %   "
              f"count cosine {layer['count_cosine']:.6f}")
    ok = result["accuracy_drop_pp"] <= args.tolerance
    ref = result.get("reference")
    if ref:
        print(f"vendor simulator on {ref['samples']} samples: accuracy {100 * ref['accuracy']['vendor']:.2f} % "
              f"(hwsim {100 * ref['accuracy']['hwsim']:.2f} %); spikes identical to hwsim: "
              f"{'yes' if ref['identical_spikes'] else 'NO'} ({100 * ref['spike_match_rate']:.4f} %)")
        ok = ok and ref["identical_spikes"]
    if ok:
        print("PASS")
    elif ref and not ref["identical_spikes"]:
        print("FAIL: hwsim and the vendor simulator disagree")
    else:
        print(f"FAIL: accuracy drop exceeds the tolerance of {args.tolerance} pp")
        if args.target != "float":
            print(f"  the weights lose precision on {args.target}: fine-tune with quantization-aware training, "
                  f"e.g. snncli train --run-dir RUN_QAT --init-from {args.run} --qat-bits 8 --epochs 3 --lr 5e-4")
    return {"command": "parity", **result, "tolerance_pp": args.tolerance, "passed": ok, "exit_code": 0 if ok else 1}


def cmd_doctor(args) -> dict:
    from snncli.doctor import collect

    info = collect()
    for section, rows in info.items():
        print(f"{section}:")
        for name, status in rows.items():
            print(f"  {name:<22} {status}")
    return {"command": "doctor", **info}


def _print_layers(result: dict) -> None:
    rows = [("layer", "op", "SOPs", "MACs", "updates", "spikes", "rate")]
    for layer in result["layers"]:
        if layer["op"] in ("input", "output", "flatten"):
            continue
        rows.append((layer["name"], layer["op"], f"{layer['sops']:,.0f}", f"{layer['macs']:,.0f}",
                     f"{layer['neuron_updates']:,.0f}", f"{layer['spikes']:,.1f}",
                     f"{layer['firing_rate']:.4f}" if layer["op"] == "neuron" else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("per sample:")
    for r in rows:
        print("  " + "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    sys.exit(main())
