"""Label lists written with the wrong separator are refused, naming the separator to use."""

import json

import numpy as np
import pytest

from ssnas_core.data.generic import load_generic
from ssnas_core.data.label_names import misplaced_separator
from ssnas_core.data.mmimdb_raw import load_mmimdb_raw
from ssnas_core.data.raw import DataFormatError
from tests.core.data.dataset_factories import image_bytes, mmimdb_raw_members, write_zip

MOVIE_LABELS = ["Comedy, Romance", "Drama", "Drama, Romance", "Comedy", "Horror"]


@pytest.mark.parametrize("names, expected, found", [
    (["Comedy, Romance", "Comedy", "Romance"], "|", (",", "Comedy, Romance", ["Comedy", "Romance"])),
    (["Comedy; Romance", "Drama; Romance"], "|", (";", "Comedy; Romance", ["Comedy", "Romance"])),
    (["a|b", "a", "b"], None, ("|", "a|b", ["a", "b"])),
    (["a|b", "a", "b"], "|", None),  # the format's own separator is split before this check
    (["Sci-Fi, Fantasy", "Drama"], "|", None),  # one odd name alone proves nothing
    (["AC/DC", "Rock"], "|", None),
    (["Comedy", "Drama"], "|", None),
])
def test_misplaced_separator_detection(names, expected, found):
    assert misplaced_separator(names, expected) == found


def _generic(tmp_path, labels, manifest="csv", column="labels", schema=None):
    rng = np.random.default_rng(0)
    members = {f"{i}.png": image_bytes(rng, fmt="PNG") for i in range(len(labels))}
    rows = [{"pic": f"{i}.png", column: lab} for i, lab in enumerate(labels)]
    if manifest == "csv":
        body = "pic," + column + "\n" + "".join(f'{r["pic"]},"{r[column]}"\n' for r in rows)
        members["manifest.csv"] = body.encode()
    else:
        members["manifest.jsonl"] = "\n".join(json.dumps(r) for r in rows).encode()
    if schema:
        members["schema.json"] = json.dumps(schema).encode()
    return write_zip(tmp_path / "g.zip", members)


def test_csv_labels_joined_with_commas_are_refused_naming_the_pipe(tmp_path):
    with pytest.raises(DataFormatError) as err:
        load_generic(_generic(tmp_path, MOVIE_LABELS))
    assert str(err.value) == (
        "manifest.csv 'labels': labels look like lists joined with ',' (e.g. 'Comedy, Romance' "
        "would become one label instead of ['Comedy', 'Romance']); separate the labels of a "
        "sample with '|', e.g. 'Comedy|Romance'. If such names really are single labels, list "
        "every label name in schema.json's \"label_names\"")


def test_jsonl_labels_joined_with_commas_name_the_json_list(tmp_path):
    with pytest.raises(DataFormatError, match='write "labels" as a JSON list'):
        load_generic(_generic(tmp_path, [[x] for x in MOVIE_LABELS], manifest="jsonl"))


def test_single_label_column_holding_lists_points_to_labels(tmp_path):
    with pytest.raises(DataFormatError, match="the 'label' column takes one label per sample"):
        load_generic(_generic(tmp_path, MOVIE_LABELS, manifest="jsonl", column="label"))


def test_compound_names_declared_in_schema_are_kept(tmp_path):
    ds = load_generic(_generic(tmp_path, MOVIE_LABELS, schema={"label_names": sorted(set(MOVIE_LABELS))}))
    assert "Comedy, Romance" in ds.label_names and len(ds) == 5


def test_pipe_separated_labels_load(tmp_path):
    ds = load_generic(_generic(tmp_path, ["Comedy|Romance", "Drama", "Drama|Romance"]))
    assert ds.label_names == ["Comedy", "Drama", "Romance"]


def test_raw_mmimdb_genres_joined_in_one_element_are_refused(tmp_path):
    m = mmimdb_raw_members(6, genres_json=False)
    for i, sid in enumerate(["0001000", "0001001", "0001002"]):
        meta = json.loads(m[f"dataset/{sid}.json"])
        meta["genres"] = [["Comedy, Romance"], ["Comedy"], ["Romance"]][i]
        m[f"dataset/{sid}.json"] = json.dumps(meta).encode()
    with pytest.raises(DataFormatError, match='write each genre as its own element, e.g. "genres": '
                                              '\\["Comedy", "Romance"\\]'):
        load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))
