"""Pydantic request and response bodies (these become the OpenAPI schema at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["ssl", "supervised", "mfas"]
Device = Literal["auto", "cpu", "gpu"]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DatasetOut(_Out):
    id: str
    name: str
    format: str = Field(description="mmimdb_h5, mmimdb_raw, generic or features")
    size: int = Field(description="bytes uploaded")
    sha256: str
    summary: dict[str, Any] = Field(description="samples per split, modalities, label names, ...")
    created_at: datetime


class DatasetList(BaseModel):
    items: list[DatasetOut]
    total: int
    limit: int
    offset: int


class BackboneChoice(BaseModel):
    """A backbone by name with factory options (weights files are not selectable over HTTP)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class MfasSettings(BaseModel):
    """MFAS baseline search settings (ssnas_core.baselines.mfas.MFASConfig; a test keeps the
    names equal); only used with method "mfas"."""

    model_config = ConfigDict(extra="forbid")

    depth: int = Field(4, ge=1, le=16, description="fusion layers L")
    k: int = Field(15, ge=1, le=200, description="candidates per round and beam width")
    iterations: int = Field(3, ge=1, le=50)
    epochs: int = Field(3, ge=1, le=1000, description="training epochs per candidate")
    hidden: int = Field(64, ge=1, le=8192)
    t0: float = Field(10.0, gt=0)
    tf: float = Field(0.2, gt=0)
    s: float = Field(4.0, gt=0)
    surrogate_hidden: int = Field(100, ge=1, le=8192)
    surrogate_steps: int = Field(200, ge=1, le=100_000)


class JobCreate(BaseModel):
    """A search job. ``run`` holds RunConfig overrides (space, ssl, search, pretrain, finetune,
    seed, amp, num_threads); the top-level shortcuts win over the same keys in ``run``."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    method: Method = Field("ssl", description="ssl: self-supervised BM-NAS; supervised: "
                           "supervised BM-NAS; mfas: the MFAS baseline")
    backbones: dict[str, str | BackboneChoice] | None = Field(
        None, description="raw field -> backbone name (e.g. poster: efficientnet_lite0) or "
        "{name, options}; default per modality; ignored for feature datasets")
    device: Device = Field("auto", description="gpu or cpu worker queue; auto = server default")
    label_fraction: float | None = Field(None, gt=0, le=1, description="labeled fraction r")
    search_epochs: int | None = Field(None, ge=1, le=1000)
    pretrain_epochs: int | None = Field(None, ge=0, le=1000)
    finetune_epochs: int | None = Field(None, ge=1, le=1000)
    seed: int | None = Field(None, ge=0, lt=2**31)
    run: dict[str, Any] = Field(default_factory=dict, description="RunConfig overrides")
    mfas: MfasSettings | None = Field(None, description="MFAS settings (method mfas only)")


class MetricOut(_Out):
    seq: int
    stage: str
    epoch: int
    metrics: dict[str, Any]
    created_at: datetime


class MetricPage(BaseModel):
    items: list[MetricOut]
    next_after: int = Field(description="pass as ?after= to get only newer rows")


class LogOut(_Out):
    seq: int
    level: str
    message: str
    created_at: datetime


class LogPage(BaseModel):
    items: list[LogOut]
    next_after: int


class JobOut(_Out):
    id: str
    dataset_id: str | None
    status: Status
    stage: str | None
    progress: float = Field(description="0-1 over the whole job")
    eta_s: float | None
    attempt: int
    max_attempts: int
    error: str | None
    cancel_requested: bool
    queue: str
    spec: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    heartbeat_at: datetime | None
    latest_metrics: MetricOut | None = None
    model_id: str | None = None


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class ModelOut(_Out):
    id: str
    job_id: str | None
    genotype: dict[str, Any]
    metrics: dict[str, Any]
    label_names: list[Any]
    threshold: float
    node_specs: list[Any]
    backbones: dict[str, Any] | None
    created_at: datetime
    weights_size: int = 0
    weights_sha256: str = ""


class ModelList(BaseModel):
    items: list[ModelOut]


class PredictRequest(BaseModel):
    """Exactly one of: ``inputs`` (one raw sample), ``batch`` (raw samples) or ``features``.

    Raw values: text as a string, images/audio as ``{"base64": "..."}``, vectors as lists.
    Features: node name -> nested list of shape (B, *node shape).
    """

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] | None = None
    batch: list[dict[str, Any]] | None = None
    features: dict[str, Any] | None = None


class Prediction(BaseModel):
    probabilities: dict[str, float]
    labels: list[str]


class PredictOut(BaseModel):
    model_id: str
    task: str
    threshold: float
    label_names: list[str]
    predictions: list[Prediction]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    broker: str
