"""RawBase.label_counts: samples per label in each split, in the summary uploads report."""

import numpy as np

from ssnas_core.data.raw import LoadReport, RawBase, encode_labels


def _ds(names: list[list[str]], split: list[int], multilabel: bool) -> RawBase:
    labels = ["a", "b", "c"]
    return RawBase(fields={"t": "text"}, label_names=labels, task="multilabel" if multilabel else "multiclass",
                   ids=[str(i) for i in range(len(names))], labels=encode_labels(names, labels, multilabel),
                   split=np.array(split), report=LoadReport(total=len(names)))


def test_multilabel_counts_every_label_a_sample_carries():
    ds = _ds([["a", "b"], ["b"], ["c"], ["a", "c"]], [0, 0, 1, 2], True)
    assert ds.label_counts() == {"train": {"a": 1, "b": 2, "c": 0}, "dev": {"a": 0, "b": 0, "c": 1},
                                 "test": {"a": 1, "b": 0, "c": 1}}
    assert ds.summary()["label_counts"] == ds.label_counts()


def test_multiclass_counts_each_class_and_empty_splits():
    ds = _ds([["c"], ["c"], ["a"]], [0, 0, 0], False)
    assert ds.label_counts() == {"train": {"a": 1, "b": 0, "c": 2}, "dev": {"a": 0, "b": 0, "c": 0},
                                 "test": {"a": 0, "b": 0, "c": 0}}
