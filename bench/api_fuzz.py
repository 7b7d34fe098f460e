"""Schema fuzz of the whole OpenAPI with schemathesis (``st run --checks all``) against the real
app: uvicorn on Postgres, the Redis broker, seeded with a dataset, a queued job, a finished job
with a genotype and a model with real weights, so generated requests also reach existing rows.

Every check runs (server errors, undocumented statuses, schema and header conformance, negative
data rejected, positive data accepted, unsupported methods, auth, ...). One allowance, in the
generated ``schemathesis.toml``: the bodies of POST /datasets (a file), POST /jobs (``run`` holds
RunConfig overrides) and POST /models/{id}/predict (inputs that must fit the model) are checked
by content beyond what a JSON schema can say, so a schema-valid body may get 413/415/422 there.

    python bench/reliability.py --fuzz   # -> bench/results/reliability.json ("fuzz")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
for extra in (REPO, REPO / "tests" / "api"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

CONTENT_CHECKED = "^/datasets$|^/jobs$|/predict$"
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "413", "415", "422", "429"]


def seed(url: str, key: str, tmp: Path) -> dict[str, list[str]]:
    """Rows of the key's owner ('olga') for the fuzzer to hit: ids by path parameter name."""
    from api_factories import make_features_zip, make_job, make_model

    headers = {"Authorization": f"Bearer {key}"}
    zipped = make_features_zip(tmp)
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        ds = c.post("/datasets", files={"file": (zipped.name, zipped.read_bytes())})
        ds.raise_for_status()
        queued = c.post("/jobs", json={"dataset_id": ds.json()["id"], "search_epochs": 1})
        queued.raise_for_status()
    model = make_model("olga", tmp, [("img", "image", (8,)), ("txt", "text", (6,))])
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        done_job = c.get(f"/models/{model}").json()["job_id"]
        warm = c.post(f"/models/{model}/predict", json={"features": {"img": [[0.0] * 8], "txt": [[0.0] * 6]}})
        warm.raise_for_status()  # the first prediction loads torch and the model
    failed = make_job("olga", ds.json()["id"], status="failed", error="seeded")
    return {"dataset_id": [ds.json()["id"]], "job_id": [queued.json()["id"], done_job, failed],
            "model_id": [model]}


def write_config(path: Path, ids: dict[str, list[str]]) -> Path:
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    lines.append('"body.dataset_id" = { dictionary = "dataset_id", probability = 0.5 }')
    lines += ["", "[[operations]]", f'include-path-regex = "{CONTENT_CHECKED}"', 'include-method = "POST"',
              "checks.positive_data_acceptance.expected-statuses = " + json.dumps(ACCEPTED), ""]
    path.write_text("\n".join(lines))
    return path


def run_schemathesis(url: str, key: str, config: Path, report: Path, max_examples: int,
                     max_time_s: int, seed_value: int) -> tuple[int, str]:
    # one worker: hypothesis describes strategies with ast.parse, which CPython 3.11 may break
    # when threads do it at once ("AST constructor recursion depth mismatch")
    cmd = [str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run", f"{url}/openapi.json",
           "--checks", "all", "-n", str(max_examples), "--max-time", str(max_time_s), "--seed", str(seed_value),
           "--workers", "1", "-H", f"Authorization: Bearer {key}", "--no-color", "--generation-database", "none",
           "--report", "json", "--report-json-path", str(report), "--request-timeout", "60"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=str(config.parent))
    return out.returncode, out.stdout[-15000:] + out.stderr[-3000:]


def figures(report: Path, rc: int) -> dict:
    doc = json.loads(report.read_text())
    return {"exit_code": rc, "cases": doc["test_cases"]["generated"],
            "cases_with_failures": doc["test_cases"]["with_failures"],
            "unique_failures": doc["test_cases"]["unique_failures"],
            "failures": doc["failures"], "errors": doc["errors"], "operations": doc["operations"]["tested"],
            "phases": {k: v["status"] for k, v in doc["phases"].items()}, "running_s": round(doc["running_time"], 1),
            "missing_test_data": doc["warnings"].get("missing_test_data", [])}


def fuzz(tmp: Path, database_url: str, broker_url: str, max_examples: int = 25, max_time_s: int = 240,
         seed_value: int = 0) -> tuple[dict, str]:
    """Start the API on ``database_url`` (this process's settings point there too, for seeding),
    seed it, fuzz it; returns (figures, schemathesis output)."""
    from live_api import live_api

    from store.db import reset_engines
    from store.settings import get_settings

    prefix = f"fuzz-{uuid.uuid4().hex[:8]}:"
    os.environ.update(SSNAS_DATABASE_URL=database_url, SSNAS_DATA_DIR=str(tmp / "data"),
                      SSNAS_BROKER_URL=broker_url, SSNAS_BROKER_KEY_PREFIX=prefix)
    get_settings.cache_clear()
    reset_engines()
    try:
        with live_api(tmp, database_url, broker_url, SSNAS_BROKER_KEY_PREFIX=prefix, SSNAS_LOG_LEVEL="WARNING",
                      SSNAS_MAX_QUEUED_JOBS="100000") as (url, key):
            config = write_config(tmp / "schemathesis.toml", seed(url, key, tmp))
            rc, output = run_schemathesis(url, key, config, tmp / "report.json", max_examples, max_time_s,
                                          seed_value)
    finally:
        import redis

        r = redis.Redis.from_url(broker_url)
        for k in r.scan_iter(f"{prefix}*"):
            r.delete(k)
    return figures(tmp / "report.json", rc), output
