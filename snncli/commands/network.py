"""A network to run: a ``.nir`` graph lowered for a target, or a Program file, with its physics.

The time step and the reading a graph or Program records are used unless a flag
says otherwise, and a flag that contradicts them is refused unless forced
(:func:`snncli.core.physics.resolve`).  A graph that records no reading and gets no
``--reading`` is read as its producer's fingerprints say (:func:`snncli.nirgraph.detect.
detect`: applied with a warning that names the reading, or refused with one line naming
the readings that fit); the dt the reading implies (snnTorch's 1e-4, SpikingJelly's
``1/r``, Rockpool's, Norse's) fills in where neither flag nor graph gives one.  A dt at
or above a time constant of a forward-Euler reading is refused unless ``--override-dt``.
A Program is already lowered: its target, ``dt`` and reading are fixed, so a flag that
contradicts them is always refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from snncli.commands.console import Console
from snncli.core.physics import DEFAULT_DT, Resolved, check_dt, resolve, same_value
from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph, metadata_value
from snncli.nirgraph.detect import detect, implied_dt, unstable_steps
from snncli.nirgraph.io import read_nir
from snncli.nirgraph.readings import DEFAULT_READING
from snncli.nirgraph.readings import reading as get_reading
from snncli.targets import default_target, get_target, lower, make_options

_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP = b"PK\x03\x04"


@dataclass
class Network:
    """A lowered Program, the graph it came from (None for a Program file), and how its physics was chosen."""

    program: Program
    graph: CheckedGraph | None = None
    settings: dict = field(default_factory=dict)  # name -> {"value", "origin"}


def file_kind(path: str) -> str:
    """``"graph"`` (NIR, HDF5) or ``"program"`` (.npz), from the file's first bytes (a clear error otherwise)."""
    if not os.path.exists(path):
        raise SnnCliError(f"file not found: {path}")
    if os.path.isdir(path):
        raise SnnCliError(
            f"{path} is a folder; give a .nir graph or a .npz Program (a run directory works with "
            "`snncli export` and `snncli parity`)"
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(_ZIP):
        return "program"
    if head.startswith(_HDF5):
        if os.path.exists(path + ".program.npz"):
            raise SnnCliError(f"{path} is a chip artifact; simulate the Program written beside it: {path}.program.npz")
        return "graph"
    raise SnnCliError(f"{path} is neither a NIR graph (HDF5) nor an snncli Program (.npz)")


def open_network(
    path: str,
    console: Console,
    target: str | None = None,
    options: dict | None = None,
    dt: float | None = None,
    reading: str | None = None,
    override: frozenset = frozenset(),
    calibration: np.ndarray | None = None,
) -> Network:
    """The Program to run from ``path``: a Program file as it is, a graph lowered for ``target``."""
    options = {k: v for k, v in (options or {}).items() if v is not None and v is not False}
    if file_kind(path) == "program":
        return _open_program(path, console, target, options, dt, reading)
    graph = read_nir(path)
    return lower_graph(
        graph,
        target or default_target(),
        console,
        options,
        dt,
        reading,
        override,
        calibration,
        where=f"the graph {os.path.basename(path)}",
    )


def lower_graph(
    graph: CheckedGraph,
    target: str,
    console: Console,
    options: dict | None = None,
    dt: float | None = None,
    reading: str | None = None,
    override: frozenset = frozenset(),
    calibration: np.ndarray | None = None,
    where: str = "the graph",
) -> Network:
    """Lower a checked graph with the dt and reading it records (or the flags, see the module docstring)."""
    impl = get_target(target)
    meta = graph.metadata
    chosen = _reading(graph, reading, metadata_value(meta, "reading"), "reading" in override, where, console)
    settings = {
        "dt": _dt(graph, chosen.value, dt, metadata_value(meta, "dt"), "dt" in override, where, console),
        "reading": chosen,
    }
    for s in settings.values():
        if s.note and s.origin == "override":
            console.warn(s.note)
        elif s.note and s.name == "dt":
            console.note(s.note)
    unstable = unstable_steps(graph, chosen.value, settings["dt"].value)
    if unstable:
        text = (
            f"dt = {settings['dt'].value:g} s is not below the time constant of {unstable[0]}"
            f"{f' (and {len(unstable) - 1} more)' if len(unstable) > 1 else ''} under reading {chosen.value}: "
            "forward Euler explodes there (1 - dt/tau <= 0)"
        )
        if "dt" not in override:
            raise SnnCliError(
                f"{where}: {text}; pass a smaller --dt or another --reading, or --override-dt to run it anyway"
            )
        console.warn(text + " (--override-dt: running it anyway)")
    if calibration is None and impl.needs_calibration:
        console.note(f"no calibration samples: the {target} target uses its scale rule without calibration data")
    program = lower(
        graph,
        target,
        check_dt(settings["dt"].value),
        settings["reading"].value,
        make_options(impl, options or {}),
        calibration,
    )
    for warning in program.warnings:
        console.warn(warning)
    return Network(program, graph, {k: {"value": s.value, "origin": s.origin} for k, s in settings.items()})


def _reading(graph: CheckedGraph, flag, recorded, override: bool, where: str, console: Console) -> Resolved:
    """The reading: a flag or the graph's record (:func:`resolve`), else what the producer's fingerprints say."""
    if flag is not None or recorded is not None:
        get_reading(flag if flag is not None else recorded)
        return resolve("reading", flag, recorded, DEFAULT_READING, override, where)
    found = detect(graph)
    message = found.message.replace("the graph", where, 1) if found.message else None
    if found.reading is None:
        raise SnnCliError(message)
    if message:
        console.warn(message)
        return Resolved("reading", found.reading, "detected")
    return resolve("reading", None, None, DEFAULT_READING, override, where)


def _dt(graph: CheckedGraph, reading: str, flag, recorded, override: bool, where: str, console: Console) -> Resolved:
    """The time step: a flag or the graph's record, else what the reading implies (its producer's fixed step,
    or the dt its parameters encode), else :data:`DEFAULT_DT`."""
    fixed = get_reading(reading).dt
    flag = None if flag is None else check_dt(flag)
    if recorded is None and fixed is not None:
        if flag is None:
            return Resolved("dt", fixed, "reading")
        return resolve("dt", flag, fixed, DEFAULT_DT, override, f"reading {reading} (its exporter's fixed step)")
    if flag is not None or recorded is not None:
        return resolve("dt", flag, recorded, DEFAULT_DT, override, where)
    value, note = implied_dt(graph, reading)
    if value is None:
        return resolve("dt", None, None, DEFAULT_DT, override, where)
    return Resolved("dt", value, "detected", f"{where} records no dt{note}")


def _open_program(path: str, console: Console, target, options, dt, reading) -> Network:
    program = Program.load(path)
    where = f"the Program {os.path.basename(path)}"
    fixed = {"target": (target, program.target), "dt": (dt, program.dt), "reading": (reading, program.reading)}
    for name, (flag, recorded) in fixed.items():
        if flag is not None and not same_value(flag, recorded):
            raise SnnCliError(
                f"{where} was lowered with {name} = {recorded}, and a lowered Program cannot change it: "
                f"drop --{name}, or lower the .nir graph again with --{name} {flag}"
            )
    if options:
        raise SnnCliError(
            f"{where} is already lowered for {program.target}; target options "
            f"({', '.join('--' + k.replace('_', '-') for k in options)}) apply when lowering a .nir graph"
        )
    for warning in program.warnings:
        console.warn(warning)
    settings = {
        "dt": {"value": program.dt, "origin": "recorded"},
        "reading": {"value": program.reading, "origin": "recorded"},
    }
    return Network(program, None, settings)
