"""Fault tests with real processes (bench/reliability.py's scenario on tiny data): SIGTERM of
``ssnas serve`` while a job runs (the job is handed back, nothing is left running), a new start
(the job resumes), kill -9 of serve itself (its Postgres, Redis, API and worker stop too), a new
start; then kill -9 of each child of serve while clients poll: each comes back, no client gets a
5xx other than 503, and the job ends with the genotype of an uninterrupted run of the same spec."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import reliability  # noqa: E402


def test_every_child_of_ssnas_serve_is_restarted_and_the_job_ends_like_an_uninterrupted_run():
    # outside pytest's base temp: other pytest sessions reset its mode to 0700, which a restarting
    # Postgres (its own user when we are root) could not then traverse
    base = Path(tempfile.mkdtemp(prefix="ssnas-faults-"))
    try:
        out = reliability.run(base / "rel", epochs=30)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for k in out["kills"]:
        # the child is back, the job runs again and makes progress (or ended)
        assert k["back_s"] is not None and k["job_progress_s"] is not None, k
    pool, worker = out["kills"][:2]
    assert pool["role"] == "pool" and worker["role"] == "worker"
    assert pool["job_status_before"] == worker["job_status_before"] == "running"
    # taken over at once by the redelivery / the restarted worker, not by the reaper
    assert worker["job_attempt_after"] == pool["job_attempt_after"] + 1, (pool, worker)
    assert out["running_before_sigterm"] and out["running_before_kill9"]
    for stop in (out["sigterm"], out["kill9_serve"], out["final_stop"]):
        assert stop["left"] == [], stop
    assert out["sigterm"]["returncode"] == 0 and out["final_stop"]["returncode"] == 0
    assert out["victim"]["status"] == "succeeded", out["victim"]
    assert out["same_genotype"], out
    log = "\n".join(out["victim_log"])
    assert "died (its process is gone): job resumed" in log
    assert "shutting down: job requeued" in log or log.count("job resumed") >= 3
    assert out["server_errors"] == [], out["server_errors"]  # 503 is the only 5xx during outages
