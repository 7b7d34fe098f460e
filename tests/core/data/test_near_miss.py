"""`data inspect` names what is missing when an upload is close to a known format."""

import h5py
import numpy as np
import pytest

from ssnas_core.data.cli import main
from ssnas_core.data.detect import inspect
from ssnas_core.data.raw import UnknownFormatError
from tests.core.data.dataset_factories import image_bytes, mmimdb_raw_members, write_zip

JPEG = image_bytes(np.random.default_rng(0))


@pytest.mark.parametrize("members, words", [
    ({"0001.json": b"{}", "0002.json": b"{}", "0001.jpeg": JPEG},
     "close to the MM-IMDB raw format: 2 <id>.json files in the top, but they must sit in a "
     "folder named dataset/"),
    ({"movies/0001.json": b"{}", "movies/0002.json": b"{}"},
     "2 <id>.json files in movies, but they must sit in a folder named dataset/"),
    ({"dataset/0001.jpeg": JPEG, "dataset/0002.jpeg": JPEG},
     "close to the MM-IMDB raw format: dataset/ holds 2 files (2 images) but no <id>.json; each "
     'movie needs dataset/<id>.json with "plot" and "genres"'),
    ({"labels.csv": b"file,labels\na.jpg,x\n", "a.jpg": JPEG},
     "close to the generic format: found labels.csv, but the manifest must be named manifest.csv"),
    ({"a/b/manifest.csv": b"x,labels\n", "a/b/x.jpg": JPEG},
     "close to the generic format: a/b/manifest.csv is too deep"),
    ({"a.jpg": JPEG, "b.jpg": JPEG}, "2 images but no manifest: add manifest.csv"),
    ({"feats/features.h5": b"x"}, "close to the feature format: features.h5 is there but "
                                  "manifest.json is missing next to it"),
    ({"feats/manifest.json": b"{}", "feats/features.h5": b"x"},
     "a zipped feature folder (manifest.json + features.h5): the service takes this zip"),
    ({"mnist.npz": b"x"}, "close to AV-MNIST: mnist.npz is there but fsdd.npz is missing"),
    ({"notes.bin": b"\x00\x01"}, "an archive in no known format; expected a generic archive"),
])
def test_archives_close_to_a_format_name_what_is_missing(tmp_path, members, words):
    with pytest.raises(UnknownFormatError) as err:
        inspect(write_zip(tmp_path / "up.zip", members))
    assert words in str(err.value)


def test_hdf5_files_name_the_missing_datasets(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["vgg_features"] = np.zeros((3, 4))
    with pytest.raises(UnknownFormatError, match=r"needs datasets 'features' \(N, 300\) and "
                                                 r"'genres'.*missing \['features', 'genres'\]"):
        inspect(tmp_path / "x.h5")
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["labels"], f["split"] = np.zeros((3, 2)), np.zeros(3)
    with pytest.raises(UnknownFormatError, match="looks like the feature format's features.h5"):
        inspect(tmp_path / "f.h5")


def test_lone_files_say_what_to_send(tmp_path):
    (tmp_path / "manifest.csv").write_text("poster,labels\na.jpg,x\n")
    with pytest.raises(UnknownFormatError, match="a lone manifest or JSON file; zip it together"):
        inspect(tmp_path / "manifest.csv")
    (tmp_path / "p.jpg").write_bytes(JPEG)
    with pytest.raises(UnknownFormatError, match="a single image"):
        inspect(tmp_path / "p.jpg")


def test_cli_inspect_prints_the_hint_and_help_lists_formats_and_backbones(tmp_path, capsys):
    m = {k.removeprefix("dataset/"): v for k, v in mmimdb_raw_members(3).items()}
    assert main(["inspect", str(write_zip(tmp_path / "flat.zip", m))]) == 2
    assert "must sit in a folder named dataset/" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("generic", "mmimdb_raw", "mmimdb_h5", "features", "avmnist", "efficientnet_lite0",
                 "minilm", "vgg19", "maxout_mlp", "audio_cnn", "identity"):
        assert name in out, name
