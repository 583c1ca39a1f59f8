import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/nets.py

CONFORMANCE = Path(os.environ.get("SNNCLI_CONFORMANCE", Path(__file__).resolve().parents[2] / "shared" / "conformance"))


def _folder(name: str) -> Path:
    path = CONFORMANCE / name
    if not path.is_dir():
        pytest.skip(
            f"conformance folder {path} not found: put shared/ beside the checkout or set SNNCLI_CONFORMANCE "
            "to the conformance folder"
        )
    return path


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The NIR paper's graphs and traces (shared/conformance/nir-paper)."""
    return _folder("nir-paper")


@pytest.fixture(scope="session")
def producers() -> Path:
    """Each NIR producer's own exports with that producer's outputs (shared/conformance/producers)."""
    return _folder("producers")


@pytest.fixture(scope="module")
def lava():
    """Lava's reference module; skipped only where lava-nc is not installed at all.
    Installed but broken (netx not importable) is an error, not a skip."""
    pytest.importorskip("lava.magma.core.run_configs")
    from snncli.targets.loihi import lava_reference

    lava_reference.import_netx()
    return lava_reference
