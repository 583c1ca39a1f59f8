import os
from pathlib import Path

import pytest

CONFORMANCE = Path(os.environ.get("SNNCLI_CONFORMANCE", Path(__file__).resolve().parents[2] / "shared" / "conformance" / "nir-paper"))


@pytest.fixture(scope="session")
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance folder not found at {CONFORMANCE}; set SNNCLI_CONFORMANCE")
    return CONFORMANCE


@pytest.fixture(scope="module")
def lava():
    """Lava's reference module; skipped only where lava-nc is not installed at all.
    Installed but broken (netx not importable) is an error, not a skip."""
    pytest.importorskip("lava.magma.core.run_configs")
    from snncli.targets import lava_reference

    lava_reference.import_netx()
    return lava_reference
