import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark packs: $SSNAS_SHARED_DATA or <repo>/../shared/data."""
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return Path(os.environ.get("SSNAS_SHARED_DATA", default))
