import json
import sys
from pathlib import Path

from factories import make_features

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import quality  # noqa: E402

ARGS = ["--seeds", "2", "--fractions", "0.1,1.0", "--methods", "ssl,bmnas,mfas,late_fusion,trivial_all,trivial_topk",
        "--C", "8", "--L", "4", "--search-epochs", "1", "--pretrain-epochs", "1", "--ssl-batch", "32",
        "--supervised-batch", "16", "--finetune-epochs", "2", "--finetune-batch", "16", "--mlp-hidden", "16",
        "--mfas", "depth=1,k=2,iterations=1,epochs=1,hidden=8"]


def test_tiny_grid_writes_results_and_resumes(tmp_path, capsys):
    make_features(tmp_path / "gen", n=200)
    argv = [str(tmp_path / "gen"), "--results", str(tmp_path / "res"), "--workdir", str(tmp_path / "work"), *ARGS]
    doc = quality.main(argv)
    out = tmp_path / "res" / "gen"
    assert len(doc["runs"]) == 6 * 2 * 2
    saved = json.loads((out / "quality.json").read_text())
    assert [r["wall_time_s"] for r in saved["runs"]] == [r["wall_time_s"] for r in doc["runs"]]
    run = saved["runs"][0]
    assert {"method", "r", "seed", "metrics", "wall_time_s", "epochs", "params", "genotype", "config_hash"} <= set(run)
    assert {"weighted_f1@0.5", "weighted_f1@0.3"} <= set(run["metrics"]["dev"]) & set(run["metrics"]["test"])
    md = (out / "quality.md").read_text()
    assert "| ssl |" in md and "r=0.1" in md and "micro_f1@0.5" in md and "±" in md
    assert (out / "quality.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    again = quality.main(argv)  # a second call repeats no finished run
    assert "0 to run" in capsys.readouterr().out
    assert again["runs"] == saved["runs"]
    changed = quality.main([*argv, "--finetune-epochs", "3", "--methods", "trivial_all", "--seeds", "1"])
    assert len(changed["runs"]) == 24 + 2  # a new budget is a new key: its runs are added, old ones kept
