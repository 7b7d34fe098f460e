"""The distributed deployment (Dockerfile + docker-compose.yml) proven on this machine with real
containers. Run it through ``bash scripts/compose_check.sh`` (installs and starts Docker if missing):

1. images: the local stand-ins for python:3.11-slim, postgres:16 and redis:7 from Debian's mirror
   (scripts/build_local_images.sh; ``--official`` uses Docker Hub's instead), then the ssnas image
   (its size is recorded). torch: this machine's CPU wheel when there is one, else PyTorch's CPU index;
2. up: ``compose up -d`` with compose.check.yml (one CPU per container, API on loopback only);
3. key: created with the documented command (``compose run --rm api python -m api keys create``);
4. a small real dataset (Font Awesome icons, scripts/example_icons.py) uploaded; one job runs on a
   worker container; its weights are downloaded (sha256 checked) and /predict answers through the
   API container;
5. ``--scale worker=2``: two jobs run at once, on different worker containers;
6. ``docker kill`` of the worker running a job mid-search: the other worker resumes the job, which
   ends with the genotype of step 4's uninterrupted run of the same spec;
7. the Postgres container stopped, down 3 s, started again (``compose stop`` / ``start``) while a
   client polls: the API answers 503 meanwhile (no other error) and 200 again by itself;
8. ``compose down -v``: no container, volume or network of the project is left.

Each step's seconds and pass/fail go to bench/results/compose.json. Traffic goes only to loopback
and to the containers started here.

    bash scripts/compose_check.sh [--fresh] [--keep] [--official] [--out bench/results/compose.json]
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

PROJECT = "ssnascheck"
RESULTS = REPO / "bench" / "results" / "compose.json"
TERMINAL = ("succeeded", "failed", "cancelled")
LOCAL_PREFIX = "ssnas-local"
IMAGE = "ssnas:latest"
HEARTBEAT_TIMEOUT_S = 30  # a killed worker's job is requeued after this (the default is 120)
OUTAGE_S = 3  # seconds the Postgres container stays stopped
# a tiny search, long enough in epochs to be killed in the middle
SPEC = {"method": "ssl", "device": "cpu", "seed": 3, "label_fraction": 0.5, "search_epochs": 40,
        "pretrain_epochs": 1, "finetune_epochs": 2,
        "run": {"space": {"C": 8, "L": 4}, "search": {"batch_size": 32}, "pretrain": {"batch_size": 32},
                "finetune": {"batch_size": 16, "min_dev_samples": 12}, "num_threads": 1}}


def log(msg: str) -> None:
    print(f"compose_check {time.strftime('%H:%M:%S')} {msg}", flush=True)


def sh(cmd: list[str], env: dict | None = None, check: bool = True, timeout: float = 1800,
       capture: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, env={**os.environ, **(env or {})}, cwd=REPO, timeout=timeout, text=True,
                       stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None)
    if check and r.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} -> {r.returncode}\n{(r.stdout or '')[-3000:]}")
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Check:
    """The results file, built as the steps run."""

    def __init__(self, out: Path):
        self.out = out
        self.t0 = time.monotonic()
        self.data: dict = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "command": "bash scripts/compose_check.sh " + " ".join(sys.argv[1:]),
                           "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
                                       "kernel": platform.release()},
                           "timings_s": {}, "checks": {}}

    @contextmanager
    def step(self, name: str):
        log(f"{name} ...")
        t = time.monotonic()
        try:
            yield
        finally:
            self.data["timings_s"][name] = round(time.monotonic() - t, 1)
            log(f"{name}: {self.data['timings_s'][name]} s")

    def verdict(self, name: str, ok: bool, **details) -> bool:
        self.data["checks"][name] = {"pass": bool(ok), **details}
        log(f"check {name}: {'PASS' if ok else 'FAIL'} {json.dumps(details, default=str)[:400]}")
        self.save()
        return ok

    def save(self) -> None:
        self.data["total_s"] = round(time.monotonic() - self.t0, 1)
        if self.data.get("fresh"):  # the whole check as on a fresh machine: Docker's install, no cleanup
            t = self.data["timings_s"]
            self.data["fresh_machine_s"] = round(self.data["total_s"] - t.get("fresh_cleanup", 0)
                                                 + (t.get("docker_setup") or 0), 1)
        self.data["passed"] = bool(self.data["checks"]) and all(c["pass"] for c in self.data["checks"].values())
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.data, indent=1, default=str) + "\n")


class Stack:
    """compose commands for the check's project, and the API client."""

    def __init__(self, compose: list[str], env: dict[str, str], port: int):
        self.base = [*compose, "-p", PROJECT, "-f", "docker-compose.yml", "-f", "bench/compose.check.yml"]
        self.env, self.port = env, port
        self.url = f"http://127.0.0.1:{port}"
        self.client: httpx.Client | None = None

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        return sh([*self.base, *args], env=self.env, check=check, timeout=timeout)

    def containers(self, service: str, running: bool = True) -> list[str]:
        cmd = ["docker", "ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={PROJECT}",
               "--filter", f"label=com.docker.compose.service={service}"]
        return sh(cmd if running else cmd + ["-a"]).stdout.split()

    def hostname(self, cid: str) -> str:
        return sh(["docker", "inspect", "-f", "{{.Config.Hostname}}", cid]).stdout.strip()

    def wait_health(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"{self.url}/health not 200 within {timeout_s} s:\n"
                           + self.compose("logs", "--tail", "40", check=False).stdout[-4000:])

    def job(self, job_id: str) -> dict:
        r = self.client.get(f"/jobs/{job_id}")
        r.raise_for_status()
        return r.json()

    def wait_job(self, job_id: str, until, timeout_s: float = 1200, every_s: float = 0.5) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.job(job_id)
            if until(job):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id}: {job['status']} {job.get('stage')} {job['progress']}")
            time.sleep(every_s)

    def logs(self, job_id: str) -> list[str]:
        r = self.client.get(f"/jobs/{job_id}/logs")
        r.raise_for_status()
        return [item["message"] for item in r.json()["items"]]

    def hosts(self, job_id: str) -> list[str]:
        """Worker hostnames that started an attempt of the job, in order ("... started on HOST:PID")."""
        return [m.rsplit(" started on ", 1)[1].rsplit(":", 1)[0] for m in self.logs(job_id) if " started on " in m]

    def submit(self, dataset_id: str) -> str:
        r = self.client.post("/jobs", json={"dataset_id": dataset_id, **SPEC})
        if r.status_code != 202:
            raise RuntimeError(f"POST /jobs -> {r.status_code} {r.text}")
        return r.json()["id"]

    def genotype(self, job_id: str) -> dict:
        r = self.client.get(f"/jobs/{job_id}/genotype")
        r.raise_for_status()
        return r.json()


def search_epoch(job: dict) -> int:
    m = job.get("latest_metrics") or {}
    return m.get("epoch", 0) if m.get("stage") == "search" else 0


def image_env(official: bool) -> dict[str, str]:
    if official:
        return {}
    return {"SSNAS_BASE_IMAGE": f"{LOCAL_PREFIX}/python:3.11", "POSTGRES_IMAGE": f"{LOCAL_PREFIX}/postgres:15",
            "REDIS_IMAGE": f"{LOCAL_PREFIX}/redis:7"}


def build_images(chk: Check, a: argparse.Namespace, build_cmd: list[str]) -> None:
    if a.fresh:  # what a fresh machine would build: no image of ours, no build cache
        with chk.step("fresh_cleanup"):  # not part of a fresh machine's time (see fresh_machine_s)
            old = [i for i in sh(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
                   if i.startswith(f"{LOCAL_PREFIX}/") or i == IMAGE]
            if old:
                sh(["docker", "rmi", "-f", *old])
            sh(["docker", "builder", "prune", "-af"])
        chk.data["fresh"] = True
    wheels = sorted(glob.glob(a.torch_wheel)) if a.torch_wheel else []
    with chk.step("local_images"):
        if not a.official:
            cmd = ["bash", "scripts/build_local_images.sh"] + (["--wheels", wheels[-1]] if wheels else [])
            log(sh(cmd, timeout=3600).stdout.strip().replace("\n", "; "))
    args = ["--build-arg", f"BASE_IMAGE={image_env(a.official).get('SSNAS_BASE_IMAGE', 'python:3.11-slim')}"]
    if wheels and not a.official:
        version = Path(wheels[-1]).name.split("-")[1]
        args += ["--build-arg", f"WHEELS_IMAGE={LOCAL_PREFIX}/wheels:latest", "--build-arg", f"TORCH=torch=={version}"]
        chk.data["torch"] = {"source": wheels[-1], "requirement": f"torch=={version}"}
    else:
        args += ["--build-arg", f"TORCH_INDEX_URL={a.torch_index_url}"]
        chk.data["torch"] = {"source": a.torch_index_url, "requirement": "pyproject.toml's pins"}
    if os.path.exists(a.ca_bundle):
        args += ["--secret", f"id=pip_ca,src={a.ca_bundle}"]
    with chk.step("image_build"):
        sh(["nice", "-n", "10", *build_cmd, "-t", IMAGE, *args, "."], timeout=3600)
    size = int(sh(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE]).stdout)
    # the CA bundle and pip's cache must not be in the image
    probe = sh(["docker", "run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                "ls -A /run/secrets; ls -A /root/.cache/pip 2>/dev/null; "
                "python -c 'import torch; print(torch.__version__)'"]).stdout.split()
    chk.data["image"] = {"name": IMAGE, "bytes": size, "size": f"{size / 1e9:.2f} GB",
                         "build_args": [x for x in args if not x.startswith("--")],
                         "torch_in_image": probe[-1] if probe else None}
    chk.verdict("image_lean", size < 2.5e9 and probe[:-1] == [], bytes=size,
                leftovers=probe[:-1], note="no CA bundle in /run/secrets, no pip cache in the image")


def make_dataset(work: Path) -> Path:
    import example_icons

    path = work / "icons.zip"
    if not path.exists():
        info = example_icons.build(path, num_categories=6, size=48, max_icons=200)
        log(f"dataset: {info['samples']} icons, splits {info['splits']}, {path.stat().st_size} bytes")
    return path


def first_job(chk: Check, st: Stack, dataset: Path) -> tuple[str, str]:
    """Upload, one job on the one worker, weights, /predict. Returns (dataset id, reference job id)."""
    with chk.step("upload"), open(dataset, "rb") as fh:
        r = st.client.post("/datasets", files={"file": (dataset.name, fh, "application/zip")},
                           data={"name": "icons-small"}, timeout=600)
    ok = chk.verdict("upload", r.status_code == 201, status=r.status_code,
                     samples=r.json().get("summary", {}).get("num_samples") if r.status_code == 201 else r.text[:300])
    if not ok:
        raise RuntimeError("upload failed")
    ds = r.json()["id"]
    with chk.step("job_1_worker"):
        job_id = st.submit(ds)
        job = st.wait_job(job_id, lambda j: j["status"] in TERMINAL)
    worker_hosts = {st.hostname(c) for c in st.containers("worker")}
    hosts = st.hosts(job_id)
    chk.verdict("job_on_worker_container", job["status"] == "succeeded" and bool(hosts) and set(hosts) <= worker_hosts,
                status=job["status"], error=job.get("error"), ran_on=hosts, workers=sorted(worker_hosts),
                genotype=st.genotype(job_id) if job["status"] == "succeeded" else None)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job failed: {job.get('error')}")
    model_id = job["model_id"]
    with chk.step("weights_and_predict"):
        model = st.client.get(f"/models/{model_id}").json()
        digest, size = hashlib.sha256(), 0
        with st.client.stream("GET", f"/models/{model_id}/weights") as r:
            header = r.headers.get("x-checksum-sha256")
            for chunk in r.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        with zipfile.ZipFile(dataset) as zf:
            rows = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
            rows = [row for row in rows if row["split"] == "test"][:4]
            batch = [{"glyph": {"base64": base64.b64encode(zf.read(row["glyph"])).decode()}, "terms": row["terms"]}
                     for row in rows]
        p = st.client.post(f"/models/{model_id}/predict", json={"batch": batch})
    preds = p.json().get("predictions", []) if p.status_code == 200 else []
    chk.verdict("weights_download", digest.hexdigest() == header == model.get("weights_sha256") and size > 0,
                bytes=size, sha256=digest.hexdigest())
    chk.verdict("predict_through_api", p.status_code == 200 and len(preds) == len(batch)
                and all(set(pr["probabilities"]) == set(model["label_names"]) for pr in preds),
                status=p.status_code, predictions=len(preds), first=preds[0]["labels"] if preds else p.text[:300])
    return ds, job_id


def two_workers(chk: Check, st: Stack, ds: str, reference: dict) -> None:
    with chk.step("scale_to_2"):
        st.compose("up", "-d", "--no-build", "--scale", "worker=2", "worker")
    workers = st.containers("worker")
    with chk.step("two_jobs_at_once"):
        ids = [st.submit(ds), st.submit(ds)]
        both_running, deadline = False, time.monotonic() + 900
        while time.monotonic() < deadline:
            jobs = [st.job(i) for i in ids]
            if all(j["status"] == "running" for j in jobs):
                both_running = True
                break
            if any(j["status"] in TERMINAL for j in jobs):
                break
            time.sleep(0.3)
        hosts = [st.hosts(i) for i in ids]
        finals = [st.wait_job(i, lambda j: j["status"] in TERMINAL) for i in ids]
    genotypes = [st.genotype(i) if f["status"] == "succeeded" else None for i, f in zip(ids, finals)]
    chk.verdict("two_jobs_on_two_workers", both_running and len({h[0] for h in hosts if h}) == 2
                and all(f["status"] == "succeeded" for f in finals),
                worker_containers=len(workers), running_at_once=both_running, ran_on=hosts,
                statuses=[f["status"] for f in finals], same_genotype_as_reference=[g == reference for g in genotypes])


def kill_worker(chk: Check, st: Stack, ds: str, reference: dict) -> None:
    with chk.step("kill_worker_resume"):
        job_id = st.submit(ds)
        st.wait_job(job_id, lambda j: j["status"] != "queued", every_s=0.2)
        host = st.hosts(job_id)[-1]  # its container is found before the search starts, so the kill
        victim = next(c for c in st.containers("worker") if st.hostname(c) == host)  # comes right away
        job = st.wait_job(job_id, lambda j: j["status"] in TERMINAL or search_epoch(j) >= 2, every_s=0.1)
        sh(["docker", "kill", victim])
        epoch_at_kill = search_epoch(job)
        t_kill = time.monotonic()
        log(f"killed worker {host} at search epoch {epoch_at_kill}")
        resumed = st.wait_job(job_id, lambda j: j["status"] in TERMINAL or j["attempt"] >= 2, every_s=0.5)
        resumed_s = time.monotonic() - t_kill
        final = st.wait_job(job_id, lambda j: j["status"] in TERMINAL)
    hosts = st.hosts(job_id)
    genotype = st.genotype(job_id) if final["status"] == "succeeded" else None
    messages = st.logs(job_id)
    resumed_from = [m for m in messages if m.startswith("resuming from checkpoints")]
    chk.verdict("kill_worker_other_resumes", final["status"] == "succeeded" and job["status"] == "running"
                and len(hosts) >= 2 and hosts[-1] != host and bool(resumed_from) and genotype == reference,
                killed=host, search_epoch_at_kill=epoch_at_kill, ran_on=hosts, resumed_after_s=round(resumed_s, 1),
                attempt=resumed["attempt"], status=final["status"], same_genotype=genotype == reference,
                log=[m for m in messages if " started on " in m or m.startswith("resuming")])


def postgres_restart(chk: Check, st: Stack) -> None:
    statuses: dict[str, int] = {}
    errors: list[str] = []
    first_503 = recovered_s = None
    with chk.step("postgres_restart"):
        t0 = time.monotonic()
        # stopped, down for OUTAGE_S, started: an outage long enough to be seen on a fast machine
        proc = subprocess.Popen(["sh", "-c", f"{shlex.join([*st.base, 'stop', 'postgres'])} && sleep {OUTAGE_S} && "
                                 f"{shlex.join([*st.base, 'start', 'postgres'])}"],
                                env={**os.environ, **st.env}, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        restarted_s = None
        while time.monotonic() - t0 < 240:
            try:
                code = st.client.get("/jobs", params={"limit": 1}, timeout=10).status_code
            except httpx.HTTPError as exc:
                code = None
                errors.append(type(exc).__name__)
            statuses[str(code)] = statuses.get(str(code), 0) + 1
            if code == 503 and first_503 is None:
                first_503 = time.monotonic() - t0
            if restarted_s is None and proc.poll() is not None:
                restarted_s = time.monotonic() - t0
            if code == 200 and first_503 is not None and proc.poll() is not None:
                recovered_s = time.monotonic() - t0
                break
            time.sleep(0.1)
        proc.wait(60)
    chk.verdict("postgres_restart_503_then_recovers",
                first_503 is not None and recovered_s is not None and set(statuses) <= {"200", "503"},
                statuses=statuses, connection_errors=errors[:5], first_503_s=first_503 and round(first_503, 2),
                stop_wait_start_s=restarted_s and round(restarted_s, 2),
                api_200_again_s=recovered_s and round(recovered_s, 2))


def project_leftovers() -> dict[str, list[str]]:
    label = f"label=com.docker.compose.project={PROJECT}"
    return {"containers": sh(["docker", "ps", "-aq", "--filter", label]).stdout.split(),
            "volumes": sh(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split(),
            "networks": sh(["docker", "network", "ls", "-q", "--filter", label]).stdout.split()}


def everything() -> dict[str, set[str]]:
    return {"containers": set(sh(["docker", "ps", "-aq"]).stdout.split()),
            "volumes": set(sh(["docker", "volume", "ls", "-q"]).stdout.split()),
            "networks": set(sh(["docker", "network", "ls", "-q"]).stdout.split())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--work", type=Path, default=REPO / "bench" / "work" / "compose")
    p.add_argument("--fresh", action="store_true", help="remove our images and the build cache first")
    p.add_argument("--keep", action="store_true", help="leave the stack running at the end (no down -v)")
    p.add_argument("--official", action="store_true", help="Docker Hub's python/postgres/redis images")
    p.add_argument("--torch-wheel", default="/opt/wheels/torch-*+cpu-cp311-*.whl",
                   help="a local CPU torch wheel (glob) for the image; none: --torch-index-url")
    p.add_argument("--torch-index-url", default="https://download.pytorch.org/whl/cpu")
    p.add_argument("--ca-bundle", default="/etc/ssl/certs/ca-certificates.crt",
                   help="given to pip in the build as a secret (a TLS-intercepting proxy's CA)")
    a = p.parse_args(argv)
    build_cmd = shlex.split(os.environ.get("SSNAS_DOCKER_BUILD", "docker build"))
    compose = shlex.split(os.environ.get("SSNAS_COMPOSE", "docker compose"))
    a.work.mkdir(parents=True, exist_ok=True)
    chk = Check(a.out)
    if os.environ.get("SSNAS_DOCKER_SETUP_S"):  # installing and starting Docker (scripts/compose_check.sh)
        chk.data["timings_s"]["docker_setup"] = float(os.environ["SSNAS_DOCKER_SETUP_S"])
    chk.data["docker"] = {"server": sh(["docker", "version", "-f", "{{.Server.Version}}"]).stdout.strip(),
                          "compose": sh([*compose, "version", "--short"], check=False).stdout.strip(),
                          "build": shlex.join(build_cmd)}
    before = everything()
    port = free_port()
    env = {**image_env(a.official), "SSNAS_IMAGE": IMAGE, "API_PORT": f"127.0.0.1:{port}", "API_WORKERS": "1",
           "SSNAS_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S)}
    st = Stack(compose, env, port)
    rc = 1
    try:
        build_images(chk, a, build_cmd)
        dataset = make_dataset(a.work)
        with chk.step("up"):
            st.compose("up", "-d", "--no-build")
            st.wait_health()
        with chk.step("key"):
            out = st.compose("run", "--rm", "-T", "api", "python", "-m", "api", "keys", "create", "--owner", "check")
            key = next(line for line in out.stdout.splitlines() if line.startswith("ssnas_"))
        chk.verdict("key_documented_command", bool(key), prefix=key[:12])
        st.client = httpx.Client(base_url=st.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        ds, ref_id = first_job(chk, st, dataset)
        reference = st.genotype(ref_id)
        two_workers(chk, st, ds, reference)
        kill_worker(chk, st, ds, reference)
        postgres_restart(chk, st)
        rc = 0
    except Exception as exc:  # noqa: BLE001 - recorded, then the stack is still taken down
        chk.data["error"] = f"{type(exc).__name__}: {exc}"[:4000]
        log(f"error: {chk.data['error']}")
        chk.data["logs_tail"] = st.compose("logs", "--tail", "30", check=False).stdout[-6000:]
    finally:
        if st.client is not None:
            st.client.close()
        if not a.keep:
            with chk.step("down"):
                st.compose("down", "-v", "--remove-orphans", check=False)
            after = everything()
            left = project_leftovers()
            new = {k: sorted(after[k] - before[k]) for k in after}
            chk.verdict("down_leaves_nothing", not any(left.values()) and not any(new.values()),
                        project_objects=left, new_since_start=new)
        chk.save()
    log(f"{'PASSED' if chk.data['passed'] else 'FAILED'} in {chk.data['total_s']} s -> {a.out}")
    return 0 if rc == 0 and chk.data["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
