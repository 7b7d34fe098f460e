"""`python -m ssnas_core data build|inspect|convert` on generated data and the real packs."""

from __future__ import annotations

import json

import pytest
from dataset_factories import make_mmimdb_raw_zip

from ssnas_core.data.cli import main
from ssnas_core.data.features import FeatureDataset

SMALL = ["--image-backbone", "efficientnet_lite0", "--backbone",
         'poster={"name": "efficientnet_lite0", "options": {"image_size": 64, "taps": ["head"]}}',
         "--backbone", 'plot={"name": "minilm", "options": {"taps": ["l6"]}}', "--quiet"]


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_convert_then_inspect_then_cached_rerun(tmp_path, capsys):
    src = make_mmimdb_raw_zip(tmp_path / "movies.zip", n=12)
    code, res = _run(capsys, ["convert", str(src), "--out", str(tmp_path / "cache"), *SMALL])
    assert code == 0 and not res["cached"] and res["num_samples"] == 12
    assert [n["name"] for n in res["nodes"]] == ["poster.efficientnet_lite0.head", "plot.minilm.l6"]
    assert FeatureDataset(res["features"]).manifest.info["source_format"] == "mmimdb_raw"
    code, again = _run(capsys, ["convert", str(src), "--out", str(tmp_path / "cache"), *SMALL])
    assert code == 0 and again["cached"] and again["features"] == res["features"]
    code, summary = _run(capsys, ["inspect", res["features"]])
    assert code == 0 and summary["format"] == "features" and summary["num_samples"] == 12


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    code, err = _run(capsys, ["inspect", str(tmp_path / "missing.zip")])
    assert code == 2 and "no such file" in err
    src = make_mmimdb_raw_zip(tmp_path / "m.zip", n=6)
    code, err = _run(capsys, ["convert", str(src), "--out", str(tmp_path / "c"),
                              "--backbone", "title=minilm"])
    assert code == 2 and "FIELD=SPEC" in err
    code, err = _run(capsys, ["convert", str(src), "--out", str(tmp_path / "c"),
                              "--image-backbone", "resnet9000"])
    assert code == 2 and "unknown backbone" in err


@pytest.mark.realdata
@pytest.mark.parametrize("bench", ["movies23", "avmnist"])
def test_build_benchmark_subset(bench, shared_data, tmp_path, capsys):
    code, res = _run(capsys, ["build", bench, "--data-root", str(shared_data), "--out",
                              str(tmp_path), "--limit", "2", "--quiet"])
    assert code == 0 and res["num_samples"] == 6
    assert res["split_counts"] == {"train": 2, "dev": 2, "test": 2}
    modalities = {n["modality"] for n in res["nodes"]}
    assert modalities == ({"poster", "plot"} if bench == "movies23" else {"digit", "speech"})
