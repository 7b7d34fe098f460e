"""Settings shared by the API, the workers and the launcher, read once from SSNAS_* environment
variables (see api/README.md; the worker's own knobs are ``worker.settings``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the API and the shared ones (database, broker, storage, job attempts)."""

    model_config = SettingsConfigDict(env_prefix="SSNAS_", extra="ignore")

    data_dir: Path = Path(".ssnas")
    database_url: str = ""  # empty -> sqlite:///<data_dir>/ssnas.db
    broker_url: str = "redis://127.0.0.1:6379/0"
    storage_dir: Path | None = None  # None -> <data_dir>/storage
    work_dir: Path | None = None  # None -> <data_dir>/work

    max_upload_bytes: int = Field(default=20 * 1024**3, ge=1)
    max_storage_bytes: int = Field(default=100 * 1024**3, ge=1)  # per owner: datasets + checkpoints
    max_queued_jobs: int = Field(default=8, ge=1)  # per owner: jobs queued or running
    # a job's run.num_threads at most this (each worker also caps it at its own core count)
    max_job_threads: int = Field(default=64, ge=1, le=1024)
    upload_chunk_bytes: int = Field(default=1024 * 1024, ge=4096)

    # Redis key prefix for every broker key (queues, unacked sets): isolates deployments and test runs
    broker_key_prefix: str = ""
    # a message unacked this long is redelivered by Redis: must exceed the longest job
    visibility_timeout_s: int = Field(default=7 * 24 * 3600, ge=60)

    default_queue: str = Field(default="cpu", pattern="^(cpu|gpu)$")
    # attempts granted to a job per submission (see store.jobs: a lost worker spends one)
    job_max_attempts: int = Field(default=3, ge=1)
    heartbeat_timeout_s: float = Field(default=120.0, gt=0)
    broker_timeout_s: float = Field(default=3.0, gt=0)
    auth_cache_s: float = Field(default=5.0, ge=0)  # a revoked key may work this long elsewhere

    predict_device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?|mps)$")
    predict_cache_size: int = Field(default=4, ge=1)
    predict_max_batch: int = Field(default=64, ge=1)
    # torch threads per API process for /predict (0: torch's default, one per core). With N API
    # processes on C cores, C // N avoids N x C threads fighting over C cores.
    predict_threads: int = Field(default=0, ge=0)
    # concurrent /predict samples share one forward pass: up to predict_batch of them (the cheapest
    # size per sample for the default backbones on this machine's CPUs), waiting at most this long
    predict_batch: int = Field(default=4, ge=1)
    predict_batch_wait_ms: float = Field(default=2.0, ge=0, le=1000)
    # Unix socket of the prediction process (api/predict_server.py; ssnas serve starts one): the
    # API processes send /predict there and load no model themselves. Empty: predict in-process
    predict_server: str = ""
    predict_timeout_s: float = Field(default=300.0, gt=0)
    db_pool_size: int = Field(default=20, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _fill_paths(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'ssnas.db').resolve()}"
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "storage"
        if self.work_dir is None:
            self.work_dir = self.data_dir / "work"
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
