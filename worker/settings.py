"""Worker-only settings (SSNAS_* environment variables); shared ones (broker transport included) are store.settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Knobs of the worker process and the reaper."""

    model_config = SettingsConfigDict(env_prefix="SSNAS_", extra="ignore")

    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    # no progress event for this long -> stop heart-beating, so the reaper sees a hung job as lost
    stall_timeout_s: float = Field(default=3600.0, gt=0)
    reaper_interval_s: float = Field(default=30.0, gt=0)
    worker_threads: int | None = Field(default=None, ge=1)  # torch threads when the job sets none
    progress_min_interval_s: float = Field(default=1.0, ge=0)  # throttle of progress writes
    # a warm shutdown that has not ended after this long kills the pool and exits
    shutdown_grace_s: float = Field(default=8.0, gt=0)
    # a job waits this long for an unreachable database before its step fails
    db_patience_s: float = Field(default=120.0, ge=0)


@lru_cache
def get_worker_settings() -> WorkerSettings:
    return WorkerSettings()
