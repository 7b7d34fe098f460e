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
    assert list(spans) == ["features", "search", "pretrain", "finetune", "evaluate", "baselines", "saving"]
    edges = [x for span in spans.values() for x in span]
    assert edges[0] == 0.0 and abs(edges[-1] - 1.0) < 1e-9 and edges == sorted(edges)
    assert spans["search"][1] - spans["search"][0] > spans["pretrain"][1] - spans["pretrain"][0]
    supervised = stage_spans(RunConfig.from_dict({"search": {"mode": "supervised"}}), with_features=False)
    assert supervised["features"] == (0.0, 0.0) and supervised["pretrain"][0] == supervised["pretrain"][1]
    assert ProgressEvent("search", 4, 10, 0, 5).progress == 0.4


def test_reaper_cli_requeues_a_lost_job_onto_the_broker(svc, tmp_path):
    from datetime import timedelta

    import redis
    from svc_fixtures import REDIS_URL, job_row, job_spec, make_feature_dataset, make_job

    from store.db import session_scope
    from store.tables import Job, utcnow

    ds_id = make_feature_dataset("dave", tmp_path / "feat")
    job_id = make_job("dave", ds_id, job_spec(ds_id), status="running", attempt=1, max_attempts=3,
                      heartbeat_at=utcnow() - timedelta(hours=1), worker="gone:9")
    queue = redis.Redis.from_url(REDIS_URL)
    before = queue.llen(f"{svc.prefix}cpu")
    out = subprocess.run([sys.executable, "-m", "worker.reaper", "--once"], cwd=ROOT, env=svc.env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"re-sent {job_id} to cpu" in out.stdout
    assert queue.llen(f"{svc.prefix}cpu") >= before + 1  # the doorbell is in this run's queue
    job = job_row(job_id)
    assert job.status == "queued" and job.worker is None and job.attempt == 1
    with session_scope() as s:  # whoever consumes the doorbell later cancels instead of running it
        s.get(Job, job_id).cancel_requested = True
