import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "core"))
torch.set_num_threads(2)


@pytest.fixture
def tiny_features(tmp_path):
    from factories import make_features

    return make_features(tmp_path / "features", n=240)
