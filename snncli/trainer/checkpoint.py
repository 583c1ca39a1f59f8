"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain Python values (dicts, lists, str,
int, float, bool, None), so loading it never runs pickled code.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path

import torch

from snncli.errors import SnnCliError
from snncli.trainer.config import atomic_write_text


def save_checkpoint(payload: dict, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` (atomic on POSIX)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """The payload of a checkpoint file; one-line :class:`SnnCliError` for anything else.

    A file holding pickled objects that ``weights_only`` refuses is reported as not
    ours; torch's advice to retry with ``weights_only=False`` is not passed on:
    unpickling a file from elsewhere can run any code.
    """
    path = Path(path)
    if not path.is_file():
        raise SnnCliError(f"no checkpoint at {path}; train first (`snncli train`) or check the run directory")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise SnnCliError(
            f"{path} is not a snncli checkpoint: it holds pickled Python objects beyond tensors and "
            "plain values, and snncli will not unpickle it (that could run arbitrary code)"
        ) from None
    except Exception as e:  # truncated/corrupt file, not a torch file at all
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise SnnCliError(
            f"cannot read checkpoint {path} ({first}); it may be corrupt: use the other checkpoint or retrain"
        ) from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise SnnCliError(f"{path} is not a snncli checkpoint (no model state in it); pass a run `snncli train` wrote")
    return payload


def rng_state() -> dict:
    """Torch CPU (and CUDA) generator states as uint8 tensors."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())  # the checkpoint may have been mapped to a GPU
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def write_metrics(metrics: dict | list, path: Path) -> None:
    atomic_write_text(path, json.dumps(metrics, indent=1))
