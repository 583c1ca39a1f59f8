"""Targets: chip families that lower a NIR graph to a Program.

Each target module has ``NAME`` and ``lower(graph, dt, **options) -> Program``;
quantized ones also ``write(program, path)`` (the vendor artifact) and
``reference(program, ...)`` (the vendor's own simulator).  Adding a target is
adding one module and one line here.
"""

import importlib

from snncli.errors import SnnCliError

TARGETS = {"float": "snncli.targets.float", "loihi": "snncli.targets.loihi"}


def get_target(name: str):
    if name not in TARGETS:
        raise SnnCliError(f"unknown target {name!r}; available: {', '.join(TARGETS)}")
    return importlib.import_module(TARGETS[name])


def lower(graph, target: str, dt: float, **options):
    """Lower ``graph`` for ``target``; the Program keeps the graph's snncli metadata
    (dataset, encoder, time steps) under ``metadata["source"]``."""
    program = get_target(target).lower(graph, dt=dt, **options)
    meta = graph.metadata.get("snncli", {}) if isinstance(graph.metadata, dict) else {}
    program.metadata["source"] = dict(meta)
    return program
