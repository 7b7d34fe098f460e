"""Schema fuzz of the whole OpenAPI (schemathesis, every check) against the real app: uvicorn on
the test Postgres with the Redis broker, seeded with real rows. 0 server errors, 0 undocumented
statuses, 0 schema violations (bench/api_fuzz.py; bounded to a few minutes)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import REDIS_URL

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import api_fuzz  # noqa: E402

MAX_EXAMPLES, MAX_TIME_S = 15, 150


def test_schemathesis_finds_no_failure(db, tmp_path, monkeypatch):
    for key in ("SSNAS_DATABASE_URL", "SSNAS_DATA_DIR", "SSNAS_BROKER_URL", "SSNAS_BROKER_KEY_PREFIX"):
        monkeypatch.setenv(key, "")  # api_fuzz.fuzz points this process's settings at the live API's
    figures, output = api_fuzz.fuzz(tmp_path, db, REDIS_URL, MAX_EXAMPLES, MAX_TIME_S, seed_value=0)
    assert figures["cases"] > 0 and figures["operations"] == 18, output
    assert figures["failures"] == [] and figures["errors"] == [], output
    assert figures["exit_code"] == 0, output
