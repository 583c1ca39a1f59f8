"""Files: atomic writes with ordinary permissions, and JSON helpers.

Every file snncli writes goes through :func:`atomic_write`: the bytes go to a
temporary file beside the target, which is renamed into place only once complete,
so an error or a Ctrl-C never leaves a half-written file.  The file then gets the
mode any ordinary tool would give it (``0666`` minus the umask), not the ``0600``
of a temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from snncli.errors import SnnCliError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


def check_output_path(path: str | os.PathLike, what: str = "output file") -> str:
    """Fail early (before any work) when ``path`` cannot be written: a folder, a missing
    parent folder, or a parent that is not writable."""
    path = os.fspath(path)
    if not path:
        raise SnnCliError(f"{what}: empty path")
    if os.path.isdir(path):
        raise SnnCliError(f"{what} {path} is a folder; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise SnnCliError(f"{what} {path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise SnnCliError(f"{what} {path}: folder {parent} is not writable")
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> str:
    """Fail early when ``path`` cannot become a folder of outputs: a file in its place or in the
    place of a folder above it, or no write permission where it would be created (the writer
    creates the missing folders)."""
    path = os.fspath(path)
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise SnnCliError(f"{what} {path}: {existing} is a file, not a folder; choose another name")
    if not os.access(existing, os.W_OK):
        raise SnnCliError(f"{what} {path}: {existing} is not writable")
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into
    place with mode ``0666 & ~umask``: a crash or an error never leaves a half-written
    ``path`` and never clobbers an existing one."""
    path = check_output_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as indented JSON (numpy values converted), atomically."""
    write_text(path, json.dumps(to_jsonable(data), indent=2) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Parse a JSON file; a missing or malformed file is a one-line :class:`SnnCliError`."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise SnnCliError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise SnnCliError(f"{what} {path} is a folder, not a file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnnCliError(f"{path} is not valid JSON ({one_line(exc)})") from None


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from numpy arrays/scalars, tuples and nested containers."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def one_line(exc: BaseException | str, limit: int = 200) -> str:
    """An exception (or text) as one bounded line, for error messages."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
