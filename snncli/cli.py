"""Command line: parse flags into requests, call :mod:`snncli.commands`, print results.

Every command takes ``--json PATH`` for its machine-readable result.  A user error
(:class:`snncli.errors.SnnCliError`, or a bad flag) is printed on one line and exits
with code 2; nothing half-written is left behind (the library writes atomically).
The ``--target`` choices and the per-target flags come from the target registry, the
``train`` flags from the training config's fields: this module names neither.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import os
import sys

from snncli import __version__
from snncli.commands.console import Console
from snncli.core.files import check_output_path, write_json
from snncli.core.physics import DEFAULT_DT, SETTINGS
from snncli.errors import SnnCliError

EPILOG = """\
typical session:
  snncli train --run-dir runs/digits                     # MLP on sklearn digits (default)
  snncli export runs/digits --target nir -o digits.nir   # NIR graph recording its reading (snncli, SpikingJelly)
  snncli export digits.nir --target nir --for norse -o n.nir  # the dialect Norse's importer reads right
  snncli simulate digits.nir --json sim.json             # event-driven hwsim on the test split
  snncli report sim.json -o report/                      # energy: SNN vs its ANN twin
  snncli parity runs/digits --target CHIP                # torch vs hwsim (chip arithmetic) vs vendor
  snncli export runs/digits --target CHIP -o ARTIFACT    # the chip's own file

targets (CHIP):
{targets}
"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad flag (already reported in one line)
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    worker = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 reports; the other ranks only work
    console = PrintingConsole(progress=not args.no_progress)
    try:
        if getattr(args, "json", None):
            check_output_path(args.json, "--json file")
        with contextlib.redirect_stdout(io.StringIO()) if worker else contextlib.nullcontext():
            result = args.func(args, console)
            if args.json and not worker:
                write_json(args.json, result.to_json())
                print(f"wrote {args.json}")
    except SnnCliError as exc:
        print(f"snncli {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"snncli {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(getattr(result, "exit_code", 0))


class PrintingConsole(Console):
    """Prints warnings and notes as they come (stdout: stderr holds only an error's one line), and tqdm
    progress bars on a terminal (unless ``progress`` is false)."""

    def __init__(self, progress: bool = True):
        super().__init__()
        self.show_progress = progress

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            print(f"warning: {text}", flush=True)
        super().warn(text)

    def note(self, text: str) -> None:
        if text not in self.notes:
            print(f"note: {text}", flush=True)
        super().note(text)

    @contextlib.contextmanager
    def progress(self, desc: str, total: int | None = None, unit: str = "sample"):
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, disable=None if self.show_progress else True) as bar:
            yield bar.update


# ---------------------------------------------------------------- argument types
def _number(kind, minimum=None, strict=False, what="a number"):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text[:40]!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, got {text[:40]}")
        return value

    return parse


POSITIVE_INT = _number(int, 1, what="an integer")
NONNEGATIVE_INT = _number(int, 0, what="an integer")
POSITIVE_FLOAT = _number(float, 0.0, strict=True)
NONNEGATIVE_FLOAT = _number(float, 0.0)


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="snncli",
        description="Train spiking neural networks, export them through NIR to neuromorphic chips, "
        "simulate them event by event with the chip's arithmetic, and report their energy.",
        epilog=EPILOG.format(targets=_target_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"snncli {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name, func, help_text, description):
        p = sub.add_parser(name, help=help_text, description=description, formatter_class=_Formatter)
        p.set_defaults(func=func)
        p.add_argument("--json", metavar="PATH", help="write the machine-readable result to PATH")
        p.add_argument("--no-progress", action="store_true", help="no progress bars (shown only on a terminal)")
        return p

    _train_parser(command("train", cmd_train, "train an SNN with surrogate gradients (BPTT)", TRAIN_HELP))
    _convert_parser(command("convert", cmd_convert, "convert a trained ReLU network to an SNN (ann2snn)", CONVERT_HELP))
    _export_parser(command("export", cmd_export, "export a run or a .nir graph to a target's artifact", EXPORT_HELP))
    _simulate_parser(
        command("simulate", cmd_simulate, "run a NIR graph or Program event by event in hwsim", SIMULATE_HELP)
    )
    _report_parser(
        command("report", cmd_report, "energy and latency report from a simulation result or a run", REPORT_HELP)
    )
    _parity_parser(
        command("parity", cmd_parity, "compare the float torch model with the exported program", PARITY_HELP)
    )
    p = command(
        "inspect", cmd_inspect, "show what snncli reads in a .nir graph: producer, reading, dt, per node", INSPECT_HELP
    )
    p.add_argument("graph", help=".nir file")
    command(
        "doctor",
        cmd_doctor,
        "show which backends, datasets and devices are available here",
        "Show the installed packages, the datasets this machine can load, each target's status and the devices.",
    )
    return parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option's default shown when it has one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS, [])
            and "%(default)" not in text
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def _targets():
    from snncli.targets import TARGETS

    return TARGETS


def _target_help() -> str:
    return "\n".join(f"  {name:<8} {t.summary}; writes {t.artifact}" for name, t in _targets().items())


def _add_target_options(p) -> None:
    """One flag per field of every target's Options dataclass (merged when targets share a name)."""
    seen: dict[str, list[str]] = {}
    fields = {}
    for name, target in _targets().items():
        for f in dataclasses.fields(target.Options):
            seen.setdefault(f.name, []).append(name)
            fields.setdefault(f.name, f)
    for key, f in fields.items():
        owners = "/".join(seen[key])
        flag = f.metadata.get("flag") or "--" + key.replace("_", "-")
        text = f"{owners}: {f.metadata.get('help', key)} (default: {f.default})".replace("%", "%%")
        if f.type in (bool, "bool"):
            p.add_argument(flag, dest=f"target_{key}", action="store_true", default=None, help=text)
        else:
            p.add_argument(
                flag,
                dest=f"target_{key}",
                choices=f.metadata.get("choices"),
                default=None,
                help=text,
                type=type(f.default) if isinstance(f.default, (int, float)) else str,
            )


def _target_options(args) -> dict:
    return {k[len("target_") :]: v for k, v in vars(args).items() if k.startswith("target_") and v is not None}


def _add_physics(p, readings=True) -> None:
    p.add_argument(
        "--dt",
        type=POSITIVE_FLOAT,
        metavar="SECONDS",
        help=f"time step; default: what the graph records, else {DEFAULT_DT}",
    )
    if readings:
        from snncli.nirgraph.readings import READINGS

        p.add_argument(
            "--reading",
            choices=READINGS,
            help="which producer's semantics the graph's nodes mean (default: what the graph records, "
            "else what its producer's fingerprints say, else nir, the NIR spec; `snncli inspect G.nir` "
            "shows what is detected)",
        )
    for name in SETTINGS:
        flag = name.replace("_", "-")
        p.add_argument(
            f"--override-{flag}",
            dest=f"override_{name}",
            action="store_true",
            help=f"use --{flag} even where it contradicts what the graph records (the result says so)",
        )


def _overrides(args) -> frozenset:
    return frozenset(name for name in SETTINGS if getattr(args, f"override_{name}", False))


TRAIN_HELP = """\
Train an SNN (SpikingJelly neurons, surrogate gradients, BPTT). Settings come from the
defaults, then --config FILE.yaml, then the flags below (flags win); every config key has a
flag, and --set KEY=VALUE sets any key with a YAML value. The run directory gets config.yaml,
checkpoints/, metrics.json and training_curves.png; --resume continues a killed run.
"""


def _train_parser(p) -> None:
    p.add_argument("--run-dir", required=True, help="directory for the run's config, checkpoints and metrics")
    p.add_argument("--config", help="YAML file with training settings (unknown keys are an error)")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key listed below, with a YAML value (e.g. --set hidden=[64,32])",
    )
    _add_config_flags(p)


def _add_config_flags(p) -> None:
    """One flag per field of the training config (help, default and choices from the field)."""
    from snncli.trainer.config import TrainConfig

    group = p.add_argument_group("training settings (config keys)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = f.metadata.get("help", f"config key {f.name}")
        text = f"{text} (default: {default})".replace("%", "%%")  # argparse formats help with %
        kind = str(f.type)
        if kind.startswith("bool"):
            group.add_argument(
                flag, dest=f"cfg_{f.name}", action=argparse.BooleanOptionalAction, default=None, help=text
            )
        elif kind.startswith("list[int]"):
            group.add_argument(flag, dest=f"cfg_{f.name}", type=POSITIVE_INT, nargs="+", default=None, help=text)
        else:
            base = kind.split(" |")[0]
            parse = {"int": _number(int, what="an integer"), "float": _number(float)}.get(base, str)
            group.add_argument(
                flag, dest=f"cfg_{f.name}", type=parse, default=None, help=text, choices=f.metadata.get("choices")
            )


CONVERT_HELP = """\
ANN-to-SNN conversion with SpikingJelly's ann2snn: train a ReLU network of the same
architecture as the config's model (mlp or cnn) on the dataset -- or take one with
--ann ANN.pt from an earlier conversion --, convert it (normalisation: --ann2snn-mode), fold
the scales into the weights, and write the result as an ordinary run of IF neurons
(threshold 1, reset by subtraction, direct input, --time-steps steps): export, simulate
and parity take it like any trained run.
"""


def _convert_parser(p) -> None:
    p.add_argument("--run-dir", required=True, help="directory for the converted run")
    p.add_argument("--config", help="YAML file with settings (model, dataset, ann_epochs, ...)")
    p.add_argument("--ann", metavar="ANN.pt", help="a ReLU network's weights written by an earlier convert (ann.pt)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any config key listed below, with a YAML value"
    )
    _add_config_flags(p)


EXPORT_HELP = """\
Export a trained run (or any producer's .nir graph) for a target:
{targets}
A run's graph is exported at --dt; a .nir file keeps the dt and reading it records, and
without a run there are no calibration samples, so a chip target uses its scale rule
without calibration (the artifact says so).
"""


def _export_parser(p) -> None:
    p.description = EXPORT_HELP.format(targets=_target_help())
    p.add_argument("source", help="run directory written by `snncli train`, or a .nir graph")
    p.add_argument("--target", required=True, choices=list(_targets()), help="what to write (see above)")
    p.add_argument("-o", "--output", required=True, help="output file (chip targets write sidecars beside it)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint of a run")
    _add_physics(p)
    _add_target_options(p)


SIMULATE_HELP = """\
Run a NIR graph (.nir) or a lowered Program (.npz) event by event and count what the chip
would do. Drive it with the test split of a dataset (encoded as in training: the graph
records how, if snncli wrote it) or with your own array (--input X.npy: time x batch x
input shape, spikes or currents). A graph is lowered for --target (default float); a
Program runs in the arithmetic it was lowered for. Recorded settings (dt, reading,
encoder, time steps) are used unless a flag says otherwise; a contradicting flag is
refused unless --override-NAME forces it.
"""


def _simulate_parser(p) -> None:
    p.add_argument("graph", help=".nir file or .npz Program")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="dataset whose test split drives the graph (default: the one it was trained on)")
    src.add_argument("--input", help=".npy array of shape [time, batch, *input_shape]")
    p.add_argument("--data-root", help="where downloadable datasets live")
    p.add_argument("--encoder", help="input encoder (default: the one the graph records)")
    p.add_argument("--time-steps", type=POSITIVE_INT, help="number of steps (default: what the graph records)")
    p.add_argument("--limit", type=POSITIVE_INT, help="use only the first N samples")
    p.add_argument(
        "--target",
        choices=list(_targets()),
        help="arithmetic to lower a .nir graph to (default float; a Program knows its own)",
    )
    _add_physics(p)
    _add_target_options(p)
    p.add_argument("--record", metavar="OUT.npz", help="save every layer's output and state variables per step")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=256, help="samples simulated together")
    p.add_argument("--seed", type=NONNEGATIVE_INT, default=0, help="seed for stochastic encoders")


REPORT_HELP = """\
Turn the counters of `snncli simulate --json` (the deployed Program's events) into energy per
inference under named profiles (horowitz45: 0.9 pJ/AC, 4.6 pJ/MAC, 45 nm; per-chip profiles
loihi2 and speck, marked where they are estimates; your own with --profile-file), compare with
the network's ANN twin (counted on its NIR graph), give the break-even firing rate and the
latency per inference of the target, and write report.json, report.md, report.png and one
self-contained report.html. Given a training run directory instead, the float torch model is
counted with the same definitions (for models no chip runs: PSN neurons, Spikformer).
"""


def _report_parser(p) -> None:
    from snncli.commands.report import DEFAULT_PROFILES
    from snncli.hwsim.energy import Profile

    p.add_argument("sim", help="JSON written by `snncli simulate --json`, or a run directory")
    p.add_argument("-o", "--output-dir", default="report", help="directory for report.{json,md,png,html}")
    p.add_argument(
        "--profile",
        nargs="+",
        help=f"energy profiles (default: all of {', '.join(DEFAULT_PROFILES)} and those of --profile-file)",
    )
    p.add_argument(
        "--profile-file",
        action="append",
        default=[],
        metavar="P.yaml",
        help="YAML file with your own profile(s): name, source, e_ac, e_mac (pJ) and optional "
        + ", ".join(f.name for f in dataclasses.fields(Profile)[4:]),
    )
    p.add_argument("--limit", type=POSITIVE_INT, default=200, help="a run directory: test samples to count")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="a run directory: which checkpoint")


PARITY_HELP = """\
Run the same test inputs through the trained torch model (CUDA if present, else CPU) and
through hwsim on the program lowered for --target; print both accuracies, the drop, how often
the predictions agree, and per neuron layer the exact spike-match rate and the cosine
similarity of spike counts. Where the target has a vendor simulator, the first samples also
run there and must match hwsim spike for spike. Exits 1 when the drop exceeds --tolerance
percentage points or hwsim and the vendor disagree.
"""


def _parity_parser(p) -> None:
    p.add_argument("run", help="run directory written by `snncli train`")
    p.add_argument("--target", choices=list(_targets()), help="program to compare (default: the float arithmetic)")
    p.add_argument(
        "--reference-limit",
        type=NONNEGATIVE_INT,
        default=20,
        help="samples also run through the vendor simulator (slow); 0 = none",
    )
    p.add_argument(
        "--tolerance", type=NONNEGATIVE_FLOAT, default=1.0, help="allowed accuracy drop in percentage points"
    )
    p.add_argument("--limit", type=POSITIVE_INT, help="use only the first N test samples")
    p.add_argument("--device", help="torch device for the float model (default: cuda if available, else cpu)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--seed", type=NONNEGATIVE_INT, default=0, help="seed for stochastic encoders")
    p.add_argument("--dt", type=POSITIVE_FLOAT, default=DEFAULT_DT, metavar="SECONDS", help="time step of the graph")
    _add_target_options(p)


# ---------------------------------------------------------------- commands
def cmd_train(args, console):
    from snncli.commands.train import TrainRequest, train

    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    result = train(
        TrainRequest(args.run_dir, args.config, overrides, tuple(args.set), args.resume, not args.no_progress)
    )
    s = result.summary
    print(
        f"trained {result.model} on {result.dataset}: test accuracy {100 * result.accuracy:.2f} % "
        f"({s['epochs']} epochs, {s['seconds']:.0f} s); run in {args.run_dir}"
    )
    return result


def cmd_convert(args, console):
    from snncli.commands.convert import ConvertRequest, convert

    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    result = convert(
        ConvertRequest(args.run_dir, args.config, overrides, tuple(args.set), args.ann, not args.no_progress)
    )
    s = result.summary
    print(
        f"converted a ReLU {result.model} (test {100 * s['ann_test_accuracy']:.2f} %) to IF neurons over "
        f"{s['time_steps']} steps: test accuracy {100 * s['test_accuracy']:.2f} %; run in {args.run_dir}"
    )
    return result


def cmd_export(args, console):
    from snncli.commands.export import ExportRequest, export

    result = export(
        ExportRequest(
            args.source,
            args.target,
            args.output,
            _target_options(args),
            args.checkpoint,
            args.dt,
            args.reading,
            _overrides(args),
        ),
        console,
    )
    print(f"exported {args.source} ({result.nodes} nodes, dt {result.dt:g} s) to {', '.join(result.files)}")
    return result


def cmd_simulate(args, console):
    from snncli.commands.simulate import SimulateRequest, simulate

    req = SimulateRequest(
        args.graph,
        args.target,
        _target_options(args),
        args.dataset,
        args.input,
        args.data_root,
        args.encoder,
        args.time_steps,
        args.limit,
        args.dt,
        args.reading,
        _overrides(args),
        args.record,
        args.batch_size,
        args.seed,
    )
    result = simulate(req, console)
    _print_layers(result.layers)
    if result.record:
        print(f"recorded every layer to {result.record}")
    if result.accuracy is not None:
        print(
            f"accuracy: {100 * result.accuracy:.2f} % on {result.samples} samples "
            f"({result.steps} steps of {result.dt:g} s, {result.target} arithmetic, {result.seconds:.1f} s)"
        )
    return result


def cmd_report(args, console):
    from snncli.commands.report import ReportRequest, report
    from snncli.hwsim.report import seconds

    result = report(
        ReportRequest(
            args.sim,
            args.output_dir,
            tuple(args.profile) if args.profile else None,
            tuple(args.profile_file),
            args.limit,
            args.checkpoint,
        ),
        console,
    )
    rep = result.report
    print(f"counted on {rep['counted_on']}; ANN twin {rep['twin']['macs']:,} MACs ({rep['twin']['source']})")
    for name, e in rep["energy"].items():
        ratio = f"{e['snn_over_ann']:.3f}" if e["snn_over_ann"] is not None else "n/a"
        mark = "*" if name == rep["matched_profile"]["name"] else " "
        print(f"{name:>18}{mark}: SNN {e['snn_pj'] / 1e3:10.2f} nJ  ANN {e['ann_pj'] / 1e3:10.2f} nJ  SNN/ANN {ratio}")
        print(f"{'':>19}  {e['verdict']}; {e['break_even_note']}")
    print(f"* {rep['matched_profile']['note']}")
    if rep.get("latency"):
        lat = rep["latency"]
        print(
            f"latency ({lat['model']}): {seconds(lat['per_inference_s'])} per inference, "
            f"{seconds(lat['per_step_s'])} per step{' (estimate)' if lat['estimate'] else ''}"
        )
        for assumption in lat["assumptions"]:
            print(f"  - {assumption}")
    print("wrote " + ", ".join(result.files.values()))
    return result


def cmd_parity(args, console):
    from snncli.commands.parity import ParityRequest, parity

    req = ParityRequest(
        args.run,
        args.target,
        _target_options(args),
        args.reference_limit,
        args.tolerance,
        args.limit,
        args.device,
        args.checkpoint,
        args.seed,
        args.dt,
    )
    r = parity(req, console)
    print(
        f"accuracy: torch ({r.device}) {100 * r.accuracy['torch']:.2f} %, hwsim ({r.target}) "
        f"{100 * r.accuracy['hwsim']:.2f} %, drop {r.accuracy_drop_pp:+.2f} pp on {r.samples} samples"
    )
    print(
        f"predictions agree on {100 * r.prediction_agreement:.2f} % of samples; "
        f"spikes match on {100 * r.spike_match_rate:.4f} % of (sample, neuron, step)"
    )
    for layer in r.layers:
        print(
            f"  {layer['name']:<12} spike match {100 * layer['spike_match_rate']:8.4f} %   "
            f"count cosine {layer['count_cosine']:.6f}"
        )
    if r.reference:
        ref = r.reference
        print(
            f"vendor simulator on {ref['samples']} samples: accuracy {100 * ref['accuracy']['vendor']:.2f} % "
            f"(hwsim {100 * ref['accuracy']['hwsim']:.2f} %); spikes identical to hwsim: "
            f"{'yes' if ref['identical_spikes'] else 'NO'} ({100 * ref['spike_match_rate']:.4f} %)"
        )
    print(r.verdict)
    if r.advice:
        print(f"  {r.advice}")
    return r


INSPECT_HELP = """\
Show how snncli reads a NIR graph before it runs it: what the graph records (reading, dt),
each neuron node's parameters and the producers whose exporter writes such a node (with the
dt it implies), and the reading simulate/export would apply with a warning, or the readings
it would ask you to choose between with --reading (README, "Readings").
"""


def cmd_inspect(args, console):
    from snncli.commands.inspect import InspectRequest, inspect

    r = inspect(InspectRequest(args.graph), console)
    det = r.detection
    recorded = ", ".join(f"{k} {v}" for k, v in r.recorded.items() if v is not None) or "nothing"
    print(f"{r.graph}: {len(r.nodes)} nodes; records {recorded}")
    for e in det["evidence"]:
        print(f"  evidence: {e}")
    for n in r.nodes:
        if "fits" in n:
            dts = ", ".join(f"{p} dt {v:g}" for p, v in n["dt"].items())
            print(
                f"  {n['name']:<12} {n['kind']:<8} {str(n['out_shape']):<12} fits {'/'.join(n['fits']) or 'no producer'}"
                f"{f' ({dts})' if dts else ''}: {n['parameters']}"
            )
    if r.recorded.get("reading"):
        print(f"reading: {r.recorded['reading']} (recorded in the graph)")
    elif det["reading"] is None:
        print(
            f"reading: not told by the graph; simulate/export refuse until --reading chooses one of "
            f"{', '.join(det['readings'])}"
        )
    else:
        print(
            f"reading: {det['reading']}"
            + (f", dt {det['dt']:g} s" if det["dt"] else "")
            + (" (detected; simulate/export warn)" if det["message"] else " (no producer fingerprint: the NIR spec)")
        )
    if det["message"]:
        print(f"  {det['message']}")
    if r.reading:
        print(f"  {r.reading['name']}: {r.reading['summary']}")
        for source in r.reading["sources"]:
            print(f"    follows {source}")
    return r


def cmd_doctor(args, console):
    from snncli.commands.doctor import doctor

    result = doctor()
    for section, rows in result.sections.items():
        print(f"{section}:")
        for name, status in rows.items():
            print(f"  {name:<22} {status}")
    return result


def _print_layers(layers: list[dict]) -> None:
    rows = [("layer", "op", "SOPs", "MACs", "updates", "spikes", "rate")]
    for layer in layers:
        if layer["op"] in ("input", "output", "flatten"):
            continue
        rows.append(
            (
                layer["name"],
                layer["op"],
                f"{layer['sops']:,.0f}",
                f"{layer['macs']:,.0f}",
                f"{layer['neuron_updates']:,.0f}",
                f"{layer['spikes']:,.1f}",
                f"{layer['firing_rate']:.4f}" if layer["op"] == "neuron" else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("per sample:")
    for r in rows:
        print("  " + "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    sys.exit(main())
