"""Numbers that change what a network computes, and where they come from.

A network's meaning depends on more than its weights: the time step ``dt`` that
discretizes its continuous-time equations, the *reading* (which producer's
semantics its nodes follow), and, for a dataset run, the input encoder and the
number of time steps.  These travel inside the artifact: a NIR graph written by
snncli records them in ``metadata["snncli"]``, a Program in typed fields.

A command-line flag never silently replaces a recorded value (:func:`resolve`):
a flag that agrees is fine, one that contradicts the recording is refused unless
the user forces it (``--override-NAME``), and then the result says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from snncli.errors import SnnCliError

DEFAULT_DT = 1e-4
"""Seconds per step when nothing records one: the NIR paper's and lava-dl's choice."""

SETTINGS = ("dt", "reading", "encoder", "time_steps")
"""Settings a graph or Program records and a flag may override (``--override-NAME``)."""


@dataclass(frozen=True)
class Resolved:
    """A setting's value and where it came from (``recorded``, ``flag``, ``default``, ``override``)."""

    name: str
    value: Any
    origin: str
    note: str | None = None  # a line for the user when the choice needs saying


def same_value(a: Any, b: Any) -> bool:
    """Equal, with floats compared to 1e-9 relative (a dt written and read back)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve(name: str, flag: Any, recorded: Any, default: Any, override: bool, where: str) -> Resolved:
    """Reconcile a flag (``None``: not given) with the value ``where`` records.

    * nothing given: the recorded value, else ``default`` (with a note saying so);
    * a flag that agrees with the recording, or with no recording: the flag;
    * a flag that contradicts the recording: refused, unless ``override``; then the
      flag's value, with a note that the result is not what the artifact means.
    """
    if flag is None:
        if recorded is not None:
            return Resolved(name, recorded, "recorded")
        note = None
        if default is not None:
            note = f"{where} records no {name}; using the default {name} = {default} (pass {_flag(name)} to choose)"
        return Resolved(name, default, "default", note)
    if recorded is None or same_value(flag, recorded):
        return Resolved(name, flag, "flag")
    if not override:
        raise SnnCliError(
            f"{where} records {name} = {recorded}, but {_flag(name)} {flag} contradicts it: drop {_flag(name)} "
            f"(the recorded value is what the network means), or pass --override-{name.replace('_', '-')} "
            f"to run with {flag} anyway"
        )
    return Resolved(
        name,
        flag,
        "override",
        f"{name} = {flag} overrides the {recorded} that {where} records: the results are not what it means",
    )


def check_dt(dt: Any) -> float:
    """A usable time step in seconds, or a one-line error."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise SnnCliError(f"dt must be a number of seconds, got {str(dt)[:40]!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise SnnCliError(f"dt must be a positive, finite number of seconds, got {value}")
    return value
