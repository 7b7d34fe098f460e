import numpy as np
import pytest
import torch

from ssnas_core.losses import nt_xent


def nt_xent_reference(z1: np.ndarray, z2: np.ndarray, tau: float) -> float:
    """The NT-Xent formula of SimCLR written out loop by loop."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        sims = np.array([z[i] @ z[k] / tau for k in range(n2)])
        denom = sum(np.exp(sims[k]) for k in range(n2) if k != i)
        total += -np.log(np.exp(sims[j]) / denom)
    return total / n2


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_matches_numpy_reference(tau):
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    got = nt_xent(torch.tensor(z1), torch.tensor(z2), tau).item()
    assert got == pytest.approx(nt_xent_reference(z1, z2, tau), rel=1e-5)


def test_nt_xent_is_low_for_aligned_views_and_high_for_random():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    aligned = nt_xent(z, z + 0.01 * torch.randn_like(z), 0.1)
    shuffled = nt_xent(z, torch.randn(16, 8), 0.1)
    assert aligned < shuffled
