"""GPU leases across processes, and the progress shares of the job stages."""

from __future__ import annotations

import subprocess
import sys
import time

from svc_fixtures import ROOT

from ssnas_core.callbacks import ProgressEvent
from ssnas_core.config import RunConfig
from worker.gpus import lease_first_free
from worker.progress import stage_spans


def test_each_job_gets_its_own_gpu_and_a_dead_holder_frees_it(tmp_path):
    ids = ["GPU-a", "GPU-b"]
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, pathlib; from worker.gpus import lease_first_free;"
        f"l = lease_first_free({ids!r}, pathlib.Path({str(tmp_path)!r}));"
        "print(l.index, flush=True); time.sleep(60)")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "0"
        mine = lease_first_free(ids, tmp_path)
        assert mine is not None and mine.index == 1
        assert lease_first_free(ids, tmp_path) is None  # both taken
        mine.release()
        again = lease_first_free(ids, tmp_path)
        assert again is not None and again.index == 1
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    freed = None
    while freed is None and time.monotonic() < deadline:
        freed = lease_first_free(["GPU-a"], tmp_path)
    assert freed is not None and freed.index == 0  # the kernel dropped the killed holder's lock


def test_stage_spans_cover_the_job_in_order():
    cfg = RunConfig.from_dict({"search": {"epochs": 10}, "pretrain": {"epochs": 5}, "finetune": {"epochs": 20}})
    spans = stage_spans(cfg, with_features=True)
    assert list(spans) == ["features", "search", "pretrain", "finetune", "evaluate", "saving"]
    edges = [x for span in spans.values() for x in span]
    assert edges[0] == 0.0 and abs(edges[-1] - 1.0) < 1e-9 and edges == sorted(edges)
    assert spans["search"][1] - spans["search"][0] > spans["pretrain"][1] - spans["pretrain"][0]
    supervised = stage_spans(RunConfig.from_dict({"search": {"mode": "supervised"}}), with_features=False)
    assert supervised["features"] == (0.0, 0.0) and supervised["pretrain"][0] == supervised["pretrain"][1]
    assert ProgressEvent("search", 4, 10, 0, 5).progress == 0.4
