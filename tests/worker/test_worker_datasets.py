"""The worker's view of an upload: the samples upload validation rejected stay out of the
job's features, and the job's log says which samples are left out."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from tests.core.data.dataset_factories import write_zip
from worker.datasets import DatasetInfo, left_out_note, open_features


def _vector_zip(path, n=12):
    rng = np.random.default_rng(0)
    rows = [{"id": f"s{i}", "emb": [round(float(v), 3) for v in rng.normal(size=4)],
             "labels": ["a", "b"][i % 2:], "split": ["train", "dev", "test"][i % 3]} for i in range(n)]
    return write_zip(path, {"manifest.jsonl": "\n".join(json.dumps(r) for r in rows).encode()})


def test_upload_rejections_are_left_out_of_the_features_and_logged(tmp_path):
    _vector_zip(tmp_path / "v.zip")  # storage key "v.zip" under the root tmp_path
    row = SimpleNamespace(id="d1", format="generic", path="v.zip", sha256="0" * 64, summary={
        "report": {"total": 13, "kept": 11, "rejected": [
            {"id": "s3", "problem": "'photo': file 3.png is not an image Pillow can read: SVG is not "
                                    "supported"}, {"id": "gone", "problem": "missing plot"}]}})
    info = DatasetInfo.from_row(row)
    assert info.rejected[0][0] == "s3"
    features, folder = open_features(info, None, "cpu", lambda event: None, root=tmp_path)
    assert folder.is_relative_to(tmp_path / "datasets" / "d1" / "features")  # the dataset's own cache
    assert "s3" not in features.ids and len(features) == 11
    note = left_out_note(features)
    assert note.startswith("1 of 12 samples are left out of this job's data, e.g. s3: 'photo': "
                           "file 3.png is not an image Pillow can read: SVG is not supported")
    clean = DatasetInfo.from_row(SimpleNamespace(**{**vars(row), "summary": {}}))
    features, _ = open_features(clean, None, "cpu", lambda event: None, root=tmp_path)
    assert len(features) == 12 and left_out_note(features) is None
