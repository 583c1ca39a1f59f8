import os
from pathlib import Path

import pytest

CONFORMANCE = Path(os.environ.get("SNNCLI_CONFORMANCE", Path(__file__).resolve().parents[2] / "shared" / "conformance" / "nir-paper"))


@pytest.fixture(scope="session")
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance folder not found at {CONFORMANCE}; set SNNCLI_CONFORMANCE")
    return CONFORMANCE
