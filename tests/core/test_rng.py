"""The parallel random streams of the search (``ssnas_core.rng``, issue 14)."""

import torch

from ssnas_core import rng
from ssnas_core.augment import FeatureAugment
from ssnas_core.config import AugmentConfig
from ssnas_core.fastnet import ViewStack


def _at_threads(n, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def test_draws_depend_on_the_seed_and_shape_only_not_on_the_thread_count():
    shape = (70, 3, 4096)  # several chunks
    for draw in (lambda: rng.uniform(shape, 5, 1), lambda: rng.normal(shape, 5, 1),
                 lambda: rng.keep_mask(shape, 0.3, 5, 1)):
        one, three = _at_threads(1, draw), _at_threads(3, draw)
        assert torch.equal(one, three)
    assert not torch.equal(rng.uniform(shape, 5, 1), rng.uniform(shape, 6, 1))
    assert not torch.equal(rng.uniform(shape, 5, 1), rng.uniform(shape, 5, 2))
    # the mask is the uniform draw thresholded, scaled as F.dropout scales it
    assert torch.equal(rng.keep_mask(shape, 0.3, 5, 1), (rng.uniform(shape, 5, 1) >= 0.3).float() / 0.7)


def test_laws_of_the_draws():
    u, n = rng.uniform((400, 5000), 1), rng.normal((400, 5000), 2)
    assert 0 <= float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 2e-3
    assert abs(float(n.mean())) < 2e-3 and abs(float(n.std()) - 1) < 2e-3
    assert abs(float((n.abs() < 1.96).float().mean()) - 0.95) < 2e-3
    assert abs(float((n ** 4).mean()) - 3) < 2e-2 and float(n.abs().max()) <= 5.66  # Box-Muller on 23-bit uniforms
    m = rng.keep_mask((400, 5000), 0.1, 3)
    assert set(m.unique().tolist()) == {0.0, float(torch.tensor(1 / 0.9))}
    assert abs(float((m > 0).float().mean()) - 0.9) < 2e-3
    # uniforms of neighbouring chunks and of the normal streams are not correlated
    flat = u.flatten()
    assert abs(float(torch.corrcoef(torch.stack([flat[:-rng.CHUNK], flat[rng.CHUNK:]]))[0, 1])) < 5e-3


def test_a_seeded_torch_generator_fixes_every_draw():
    torch.manual_seed(4)
    a = rng.dropout_mask((8, 16, 32), 0.2)
    torch.manual_seed(4)
    assert torch.equal(a, rng.dropout_mask((8, 16, 32), 0.2))
    assert not torch.equal(a, rng.dropout_mask((8, 16, 32), 0.2))
    g = torch.Generator().manual_seed(9)
    assert rng.seed_from(g) == rng.seed_from(torch.Generator().manual_seed(9))


def test_views_do_not_depend_on_the_thread_count_and_are_joined_without_a_copy():
    nodes = [torch.rand(40, 64, 4, 4), torch.rand(40, 10)]
    aug = FeatureAugment(AugmentConfig(), ["image", "text"])
    one = _at_threads(1, lambda: aug(nodes, torch.Generator().manual_seed(3)))
    two = _at_threads(2, lambda: aug(nodes, torch.Generator().manual_seed(3)))
    for a, b in zip(one, two):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    v1, v2 = two
    assert v1[0].shape == nodes[0].shape and v1[1].shape == nodes[1].shape
    stack = ViewStack.build([v1, v2, [v2[0], None], [None, v2[1]]])
    for rows, a, b in zip(stack.rows, v1, v2):
        assert rows.data_ptr() == a.data_ptr() and torch.equal(rows, torch.cat([a, b]))
