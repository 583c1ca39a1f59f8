"""Glue of ``snncli simulate``: load a graph or Program, build its input, run hwsim.

The pieces stay apart: datasets/encoders (snncli.data) make the input array,
a target lowers the graph, hwsim runs the Program.  Only this module sees all three.
"""

from __future__ import annotations

import os
import time

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.program import Program, atomic_write


def load_program(path: str, target: str = "float", dt: float = 1e-4, **options) -> tuple[Program, list[str]]:
    """A Program from a ``.npz`` Program file or a ``.nir`` graph lowered for ``target``
    (``options`` go to the target's ``lower``, e.g. ``reading`` or ``preset``)."""
    if not os.path.exists(path):
        raise SnnCliError(f"file not found: {path}")
    if path.endswith(".npz"):
        program = Program.load(path)
        return program, list(program.metadata.get("warnings", []))
    from snncli.export.nir_io import read_nir
    from snncli.targets import lower

    graph, warnings = read_nir(path)
    program = lower(graph, target, dt, **options)
    return program, warnings + list(program.metadata.get("warnings", []))


def dataset_input(program: Program, args) -> tuple[np.ndarray, np.ndarray]:
    """Encoded test split ``[T, N, *shape]`` and labels, encoded as at training time."""
    from snncli.data import encode_split, load_dataset

    source = program.metadata.get("source", {})
    name = args.dataset or source.get("dataset")
    if not name:
        raise SnnCliError("this graph does not say which dataset it was trained on: pass --dataset or --input X.npy")
    encoder = args.encoder or source.get("encoder")
    steps = args.time_steps or source.get("time_steps")
    data = load_dataset(name, data_root=args.data_root, seed=int(source.get("split_seed", 0)), time_steps=steps)
    if not data.time_steps and (not encoder or not steps):
        raise SnnCliError("this graph does not say how its input was encoded: pass --encoder and --time-steps")
    expected = tuple(program.input_layers[0].out_shape)
    if tuple(data.sample_shape) != expected:
        if int(np.prod(data.sample_shape)) != int(np.prod(expected)):
            raise SnnCliError(f"dataset {name!r} has samples of shape {list(data.sample_shape)} but the graph's "
                              f"input is {list(expected)}")
        data = _reshaped(data, expected)
    options = source.get("encoder_options", {}) if encoder == source.get("encoder") else {}
    return encode_split(data, "test", encoder, steps, options, args.limit, args.seed)


def _reshaped(data, shape: tuple[int, ...]):
    """The dataset with samples reshaped to ``shape`` (same size, e.g. [1, 8, 8] -> [64])."""
    from dataclasses import replace

    lead = 2 if data.time_steps else 1
    return replace(data, test_x=data.test_x.reshape(*data.test_x.shape[:lead], *shape), sample_shape=shape)


def target_options(args) -> dict:
    """The ``lower`` options the chosen target understands, from the CLI flags."""
    return {"reading": args.reading} if args.target == "float" else {"preset": args.preset}


def run_simulation(args) -> dict:
    from tqdm import tqdm

    from snncli.hwsim.simulate import Simulator, output_window, pad_for_latency

    program, warnings = load_program(args.graph, args.target, args.dt, **target_options(args))
    for warning in warnings:
        print(f"warning: {warning}")
    labels = None
    if args.input:
        try:
            x = np.load(args.input, allow_pickle=False)
        except FileNotFoundError:
            raise SnnCliError(f"input file not found: {args.input}") from None
        except (ValueError, OSError) as exc:
            raise SnnCliError(f"{args.input} is not a readable .npy array ({exc})") from None
        if args.limit:
            x = x[:, : args.limit]
    else:
        x, labels = dataset_input(program, args)
    window = output_window(program, x.shape[0])
    x = pad_for_latency(program, x)
    simulator = Simulator(program)
    start = time.perf_counter()
    with tqdm(total=x.shape[1], desc="hwsim", unit="sample", disable=None) as bar:
        result = simulator.run(x, batch_size=args.batch_size, record=bool(args.record), progress=bar.update)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(result.predictions(window) == labels)) if labels is not None else None
    if args.record:
        arrays = {f"{name}/{key}": value for name, rec in result.records.items() for key, value in rec.items()}
        atomic_write(args.record, lambda f: np.savez_compressed(f, **arrays))
        print(f"recorded {len(result.records)} nodes to {args.record}")
    return {
        "command": "simulate",
        "source": os.path.basename(args.graph),
        "target": program.target,
        "reading": program.metadata.get("reading"),
        "samples": result.samples,
        "steps": result.steps,
        "accuracy": accuracy,
        "seconds": seconds,
        "warnings": warnings,
        "layers": result.layers(),
        "totals": result.totals(),
    }
