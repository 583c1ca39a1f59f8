"""Source fixes to the installed lava-nc 0.10.0 (run by scripts/install_lava.sh; idempotent).

* lava/magma/compiler/var_model.py: dataclass fields with the mutable default
  ``ByteEncoder()`` are a ValueError on Python 3.11 -> ``field(default_factory=ByteEncoder)``.
* lava/magma/core/process/ports/ports.py: ReshapePort (netx's conv -> dense flatten)
  calls ``np.reshape(..., newshape=)``, a keyword numpy 2.4 removed -> the shape is
  passed positionally, so netx files load in this venv's Lava without snncli.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys

RESHAPE_HELPER = '''

def _reshape_to(data, shape):
    """np.reshape with the shape passed positionally: numpy 2.4 has no newshape keyword (snncli patch)."""
    return np.reshape(data, shape)
'''


def _var_model(src: str) -> str:
    new = src.replace("= ByteEncoder()", "= field(default_factory=ByteEncoder)")
    if not re.search(r"from dataclasses import [^\n]*\bfield\b", new):
        new = new.replace("from dataclasses import dataclass", "from dataclasses import dataclass, field", 1)
    if not re.search(r"from dataclasses import [^\n]*\bfield\b", new):
        raise ValueError("could not add the `field` import")
    return new


def _ports(src: str) -> str:
    new = src.replace("ft.partial(np.reshape, newshape=", "ft.partial(_reshape_to, shape=")
    if "def _reshape_to(" not in new:
        new = new.rstrip("\n") + "\n" + RESHAPE_HELPER
    if "newshape=" in new:
        raise ValueError("it still uses np.reshape(newshape=): Lava changed, update this patch")
    return new


PATCHES = {"magma/compiler/var_model.py": _var_model, "magma/core/process/ports/ports.py": _ports}


def main() -> None:
    root = pathlib.Path(list(importlib.util.find_spec("lava").submodule_search_locations)[0])
    for rel, fix in PATCHES.items():
        path = root / rel
        src = path.read_text()
        try:
            new = fix(src)
        except ValueError as exc:
            sys.exit(f"[install_lava] cannot patch {path}: {exc}")
        if new == src:
            print(f"[install_lava]   already patched: {path}")
            continue
        path.write_text(new)
        for pyc in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
            pyc.unlink()
        print(f"[install_lava]   patched {path}")


if __name__ == "__main__":
    main()
