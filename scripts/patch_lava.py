"""Source fixes to the installed lava-nc 0.10.0 and lava-dl 0.6.0 (run by scripts/install_lava.sh; idempotent).

* lava/magma/compiler/var_model.py: dataclass fields with the mutable default
  ``ByteEncoder()`` are a ValueError on Python 3.11 -> ``field(default_factory=ByteEncoder)``.
* lava/magma/core/process/ports/ports.py: ReshapePort (netx's conv -> dense flatten)
  calls ``np.reshape(..., newshape=)``, a keyword numpy 2.4 removed -> the shape is
  passed positionally, so netx files load in this venv's Lava without snncli.
* lava/lib/dl/slayer/__init__.py imports ``object_detection`` eagerly, which needs
  torchvision and opencv; torchvision's PyPI builds do not import beside the CPU
  torch 2.13 (shared/ENVIRONMENT.md), so ``from lava.lib.dl import netx`` -- the way
  netx's users load a file -- failed.  The import becomes lazy (on first use of
  ``slayer.obd``), which only object detection needs; nothing else changes.
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


LAZY_OBD = """

def __getattr__(name):  # snncli patch: object_detection needs torchvision and opencv; import it on first use
    if name == "obd":
        from . import object_detection as obd

        return obd
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
"""


def _slayer_init(src: str) -> str:
    new = src.replace("from . import object_detection as obd\n", "")
    if "def __getattr__(name):  # snncli patch" not in new:
        new = new.rstrip("\n") + "\n" + LAZY_OBD
    if "import object_detection as obd\n" in new.split("def __getattr__")[0]:
        raise ValueError("slayer still imports object_detection eagerly: lava-dl changed, update this patch")
    return new


PATCHES = {
    "magma/compiler/var_model.py": _var_model,
    "magma/core/process/ports/ports.py": _ports,
    "lib/dl/slayer/__init__.py": _slayer_init,
}


def main() -> None:
    roots = [pathlib.Path(p) for p in importlib.util.find_spec("lava").submodule_search_locations]
    for rel, fix in PATCHES.items():
        path = next((root / rel for root in roots if (root / rel).exists()), roots[0] / rel)
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
