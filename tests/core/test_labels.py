import numpy as np

from ssnas_core.labels import labeled_subset


def test_labeled_subset_is_seeded_sized_and_covers_every_label():
    rng = np.random.default_rng(0)
    y = (rng.random((1000, 6)) < np.array([0.5, 0.3, 0.1, 0.05, 0.01, 0.003])).astype(np.uint8)
    pool = np.arange(1000)
    a = labeled_subset(y, pool, 0.01, seed=4)
    assert np.array_equal(a, labeled_subset(y, pool, 0.01, seed=4))
    assert not np.array_equal(a, labeled_subset(y, pool, 0.01, seed=5))
    assert 10 <= len(a) <= 16
    assert (y[a].sum(0) > 0).all(), "every label present in the pool has a positive"
    assert len(labeled_subset(y, pool, 1.0, seed=0)) == 1000
    assert len(labeled_subset(y, pool, 0.01, seed=0, minimum=48)) >= 48


def test_multiclass_subset_has_every_class():
    y = np.repeat(np.arange(10), 100)
    s = labeled_subset(y, np.arange(1000), 0.01, seed=1, task="multiclass")
    assert set(y[s]) == set(range(10))
