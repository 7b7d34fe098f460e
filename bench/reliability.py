"""Reliability of ``ssnas serve`` under faults, measured with real processes.

One job runs on a fresh ``ssnas serve``. Serve itself is stopped with SIGTERM while the job runs
(seconds to stop, processes left), started again (the job resumes), killed with ``kill -9``
(seconds until none of its processes is left) and started again. Then, while clients poll, each
child of serve is killed with ``kill -9`` in turn (worker pool child, Celery worker parent,
Postgres, Redis, API); for each we record the seconds until the child runs again (``back_s``),
until the job runs again (``job_running_s``) and records a new epoch (``job_progress_s``), and the
clients' answers by status meanwhile. The job ends, and a reference job of the same spec run
without faults must end with the same genotype.

    python bench/reliability.py [--epochs 40]      # -> bench/results/reliability.json ("faults")
    python bench/reliability.py --fuzz             # the API schema fuzz (bench/api_fuzz.py) -> "fuzz"

Other keys of reliability.json (e.g. "fuzz", written by the API fuzz run) are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests" / "core")]

import faults as F  # noqa: E402

RESULTS = REPO / "bench" / "results" / "reliability.json"
KILL_ORDER = ("pool", "worker", "postgres", "redis", "api")
TINY = {"space": {"C": 8, "L": 4}, "search": {"batch_size": 32}, "finetune": {"min_dev_samples": 24},
        "seed": 3, "num_threads": 1}


def job_body(dataset_id: str, epochs: int) -> dict:
    return {"dataset_id": dataset_id, "device": "cpu", "search_epochs": epochs, "pretrain_epochs": 1,
            "finetune_epochs": 2, "label_fraction": 0.5, "run": TINY}


def wait(c: httpx.Client, job_id: str, until, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        j = F.job(c, job_id)
        if j is not None and until(j):
            return j
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id}: {F.job(c, job_id)}")


def finished(j: dict) -> bool:
    return j["status"] in ("succeeded", "failed", "cancelled")


def seq(j: dict) -> int:
    return (j.get("latest_metrics") or {}).get("seq", 0)


def progressed(c: httpx.Client, job_id: str) -> dict:
    """Wait for one more metrics row than now (or the end)."""
    s0 = seq(F.job(c, job_id) or {})
    return wait(c, job_id, lambda j: finished(j) or (j["status"] == "running" and seq(j) > s0))


def descendants(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def stop_serve(proc, data_dir: Path, sig: int) -> dict:
    """Send ``sig`` to serve; seconds until serve and all its processes (Postgres included) are gone."""
    pids = descendants(proc.pid)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    proc.wait(120)
    exited = time.monotonic() - t0
    while F.leftovers(data_dir, pids) and time.monotonic() - t0 < 60:
        time.sleep(0.1)
    return {"signal": signal.Signals(sig).name, "serve_exited_s": round(exited, 2), "returncode": proc.returncode,
            "all_gone_s": round(time.monotonic() - t0, 2), "left": F.leftovers(data_dir, pids),
            "load_avg_1m": round(load, 2)}


class Session:
    """One serve on ``data_dir`` (kept across restarts) and an authenticated client."""

    def __init__(self, base: Path, port: int):
        self.base, self.port, self.data_dir = base, port, base / "d"
        self.url = f"http://127.0.0.1:{port}"
        self.proc, self.client = None, None

    def start(self) -> float:
        t0 = time.monotonic()
        # this scenario kills the job's worker five times; each death spends one attempt
        self.proc, key = F.start_serve(self.data_dir, self.port, self.base / "serve.out",
                                       {"SSNAS_JOB_MAX_ATTEMPTS": "10"})
        if self.client is None:
            self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        return round(time.monotonic() - t0, 2)


def run(base: Path, epochs: int = 40) -> dict:
    """The whole scenario (see the module docstring); returns the figures. Serve's own stops come
    first and the kills that stop the job (pool, worker) next, so each finds the job running even
    where epochs are fast; the job keeps training through the other outages."""
    from factories import make_features
    from helpers_e2e import upload, zip_folder

    from launcher.processes import free_port

    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    sess = Session(base, free_port())
    out = {"start_s": sess.start(), "kills": []}
    c = sess.client
    make_features(base / "feat", n=200)
    ds = upload(c, "tiny", zip_folder(base / "feat"))
    victim = c.post("/jobs", json=job_body(ds["id"], epochs)).json()["id"]
    out["running_before_sigterm"] = wait(c, victim, lambda j: finished(j) or seq(j) >= 2)["status"] == "running"
    out["sigterm"] = stop_serve(sess.proc, sess.data_dir, signal.SIGTERM)
    out["restart_s"] = sess.start()
    out["running_before_kill9"] = progressed(c, victim)["status"] == "running"
    out["kill9_serve"] = stop_serve(sess.proc, sess.data_dir, signal.SIGKILL)
    out["restart_after_kill9_s"] = sess.start()
    progressed(c, victim)
    traffic = F.Traffic(sess.url, sess.client.headers["Authorization"].split()[1], victim)
    traffic.start()
    try:
        for role in KILL_ORDER:
            out["kills"].append(F.kill_and_measure(sess.proc.pid, c, victim, role, traffic))
            progressed(c, victim)
    finally:
        traffic.stop()
    out["server_errors"] = [list(b) for b in traffic.bad]
    done = wait(c, victim, finished)
    reference = c.post("/jobs", json=job_body(ds["id"], epochs)).json()["id"]
    ref = wait(c, reference, finished)
    logs = c.get(f"/jobs/{victim}/logs").json()
    out["victim"] = {"status": done["status"], "attempt": done["attempt"], "error": done["error"]}
    out["reference_status"] = ref["status"]
    out["same_genotype"] = (done.get("status") == "succeeded" and ref.get("status") == "succeeded"
                            and _genotype(c, victim) == _genotype(c, reference))
    out["victim_log"] = [e["message"].splitlines()[0] for e in (logs.get("items") if isinstance(logs, dict) else logs)]
    out["final_stop"] = stop_serve(sess.proc, sess.data_dir, signal.SIGINT)
    sess.client.close()
    return out


def _genotype(c: httpx.Client, job_id: str):
    r = c.get(f"/jobs/{job_id}/genotype")
    return r.json() if r.status_code == 200 else None


def merge_results(key: str, value: dict, path: Path = RESULTS) -> None:
    """Write ``value`` under ``key`` in the JSON file, keeping every other key."""
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--workdir", type=Path, default=REPO / "bench" / "work" / "reliability")
    p.add_argument("--fuzz", action="store_true", help="run only the schemathesis fuzz of the API")
    p.add_argument("--fuzz-examples", type=int, default=25)
    p.add_argument("--fuzz-time", type=int, default=300)
    args = p.parse_args(argv)
    if args.fuzz:
        return fuzz_main(args)
    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    t0 = time.time()
    figures = run(args.workdir, args.epochs)
    figures.update({"command": "python bench/reliability.py --epochs %d" % args.epochs,
                    "machine": f"{os.cpu_count()} cores", "wall_s": round(time.time() - t0, 1),
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    merge_results("faults", figures)
    print(json.dumps({k: figures[k] for k in ("kills", "sigterm", "kill9_serve", "same_genotype")}, indent=1))
    return 0


def fuzz_main(args: argparse.Namespace) -> int:
    """The fuzz on a fresh Postgres database (tests' Postgres and Redis, see tests/api/conftest.py)."""
    import api_fuzz
    from api_factories import create_database, drop_database, pg_url

    name = create_database("ssnas_fuzz")
    work = args.workdir / "fuzz"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        redis_url = os.environ.get("SSNAS_TEST_REDIS", "redis://127.0.0.1:6379/9")
        figures, output = api_fuzz.fuzz(work, pg_url(name), redis_url, args.fuzz_examples, args.fuzz_time)
    finally:
        drop_database(name)
    figures.update({"command": f"python bench/reliability.py --fuzz --fuzz-examples {args.fuzz_examples} "
                               f"--fuzz-time {args.fuzz_time}", "machine": f"{os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    merge_results("fuzz", figures)
    print(output[-4000:])
    print(json.dumps({k: figures[k] for k in ("cases", "unique_failures", "failures", "errors")}, indent=1))
    return 0 if figures["exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
