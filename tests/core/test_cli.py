import json
import subprocess
import sys
from pathlib import Path

from factories import make_features

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "ssnas_core", *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_cli_stages_write_json(tmp_path):
    make_features(tmp_path / "f", n=200)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("space: {C: 8, L: 4}\nsearch: {epochs: 1, batch_size: 32}\npretrain: {epochs: 1, batch_size: 32}\n"
                   "finetune: {epochs: 3, label_fraction: 0.5, batch_size: 16, min_dev_samples: 20}\n")
    common = ["--features", tmp_path / "f", "--config", cfg, "--workdir", tmp_path / "w", "--quiet"]
    cli("search", *common, "--out", tmp_path / "search.json")
    genotype = json.loads((tmp_path / "search.json").read_text())["genotype"]
    assert len(genotype["edges"]) == 4
    cli("pretrain", *common, "--set", "pretrain.epochs=2", "--out", tmp_path / "pre.json")
    assert len(json.loads((tmp_path / "pre.json").read_text())["pretrain"]) == 2
    cli("finetune", *common, "--set", "pretrain.epochs=2", "--out", tmp_path / "ft.json")
    ft = json.loads((tmp_path / "ft.json").read_text())
    assert "weighted_f1@0.3" in ft["metrics"]["test"]
    cli("evaluate", "--checkpoint", ft["checkpoint"], "--features", tmp_path / "f", "--out", tmp_path / "ev.json")
    assert json.loads((tmp_path / "ev.json").read_text())["metrics"] == ft["metrics"]["test"]
    r = cli("predict", "--checkpoint", ft["checkpoint"], "--features", tmp_path / "f", "--limit", "3")
    preds = json.loads(r.stdout)["predictions"]
    assert len(preds) == 3 and len(preds[0]["probabilities"]) == 4


def test_cli_rejects_bad_config(tmp_path):
    make_features(tmp_path / "f", n=50)
    r = cli("search", "--features", tmp_path / "f", "--workdir", tmp_path / "w", "--set", "space.L=15", check=False)
    assert r.returncode == 2 and "perfect square" in r.stderr
    r = cli("search", "--features", tmp_path / "f", "--workdir", tmp_path / "w", "--set", "search.bogus=1",
            check=False)
    assert r.returncode == 2 and "unknown" in r.stderr
