"""Import Lava's runtime whatever multiprocessing state the process is in.

``lava/magma/runtime/message_infrastructure/multiprocessing.py`` calls
``multiprocessing.set_start_method('fork')`` at import time, which raises
"context has already been set" once anything in the process has touched the
default context (tqdm's lock does, so does a DataLoader).  Lava needs 'fork'
on Linux anyway, so we import that module once with the call forced.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import sys

_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"


def import_lava_runtime() -> None:
    if _MODULE in sys.modules:
        return
    original = mp.set_start_method

    def forced(method, force=False):
        original(method, force=True)

    mp.set_start_method = forced
    try:
        importlib.import_module(_MODULE)
    finally:
        mp.set_start_method = original
