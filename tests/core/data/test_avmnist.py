import numpy as np
import pytest
from PIL import Image

from ssnas_core.data.avmnist import load_avmnist
from ssnas_core.data.raw import DataFormatError, RawDataset
from tests.core.data.dataset_factories import make_avmnist_dir


def _clip_name(sample_id):
    return sample_id.split("+")[1]  # "<digit>_<speaker>_<utterance>"


def test_pairs_share_the_digit_and_clip_pools_follow_the_split(tmp_path):
    ds = load_avmnist(make_avmnist_dir(tmp_path, n_train=200, n_test=50), dev_size=40)
    assert isinstance(ds, RawDataset)
    assert ds.fields == {"digit": "image", "speech": "audio"} and ds.task == "multiclass"
    assert ds.label_names == [str(d) for d in range(10)]
    assert ds.split_counts() == {"train": 160, "dev": 40, "test": 50}
    for sid, label, split in zip(ds.ids, ds.labels, ds.split):
        digit, _, utt = _clip_name(sid).split("_")
        assert int(digit) == label
        assert {0: int(utt) >= 10, 1: 5 <= int(utt) <= 9, 2: int(utt) <= 4}[int(split)]
        assert sid.startswith("mnist-test" if split == 2 else "mnist-train")
    s = ds.sample(0)
    assert isinstance(s["digit"], Image.Image) and s["digit"].size == (28, 28)
    assert s["digit"].mode == "RGB"
    wav, rate = s["speech"]
    assert rate == 8000 and wav.dtype == np.float32 and 50 <= len(wav) < 120


def test_seeded_and_limit_keeps_the_same_pairs(tmp_path):
    root = make_avmnist_dir(tmp_path)
    full = load_avmnist(root, dev_size=40)
    again = load_avmnist(root, dev_size=40)
    assert full.ids == again.ids
    small = load_avmnist(root, dev_size=40, limit={"train": 10, "test": 5})
    assert small.split_counts() == {"train": 10, "dev": 40, "test": 5}
    assert set(small.ids) <= set(full.ids)
    other = load_avmnist(root, dev_size=40, seed=1)
    assert other.ids != full.ids
    i = full.ids.index(small.ids[0])
    np.testing.assert_array_equal(np.asarray(full.sample(i)["digit"]),
                                  np.asarray(small.sample(0)["digit"]))


def test_broken_pack_is_fatal(tmp_path):
    root = make_avmnist_dir(tmp_path)
    with pytest.raises(DataFormatError, match="dev_size"):
        load_avmnist(root, dev_size=10_000)
    z = dict(np.load(root / "mnist.npz"))
    z["x_train"] = z["x_train"][:, :27]
    np.savez(root / "mnist.npz", **z)
    with pytest.raises(DataFormatError, match="x_train"):
        load_avmnist(root)
    (root / "fsdd.npz").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="fsdd.npz"):
        load_avmnist(root)
    with pytest.raises(DataFormatError, match="missing"):
        load_avmnist(tmp_path / "nowhere")


@pytest.mark.realdata
def test_real_avmnist_limited_load(shared_data):
    ds = load_avmnist(shared_data / "avmnist", limit=50)
    assert ds.split_counts() == {"train": 50, "dev": 50, "test": 50}
    for i in range(0, len(ds), 7):
        assert int(_clip_name(ds.ids[i])[0]) == ds.labels[i]
        s = ds.sample(i)
        assert s["speech"][1] == 8000 and 0.1 < len(s["speech"][0]) / 8000 < 2.4
    test_utts = {int(_clip_name(s).split("_")[2]) for s, sp in zip(ds.ids, ds.split) if sp == 2}
    assert max(test_utts) <= 4
