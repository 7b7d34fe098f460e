"""Pydantic request and response bodies (these become the OpenAPI schema at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.spec import Device, Method, MfasSettings, run_schema  # noqa: F401 - the job spec's own types

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
    """A backbone by name with factory options (weights files are not selectable over HTTP).
    Options: taps (list of names), map_size, image_size, seed, dim, max_tokens, in_dim, hidden,
    k, dropout; each bounded (422 beyond)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(max_length=64)
    options: dict[str, Any] = Field(default_factory=dict, max_length=16)


class JobCreate(BaseModel):
    """A search job. ``run`` holds RunConfig overrides (space, ssl, search, pretrain, finetune,
    seed, amp, num_threads); the top-level shortcuts win over the same keys in ``run``.
    Every number is bounded (422 beyond), NaN and infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset_id: str = Field(max_length=64)
    method: Method = Field("ssl", description="ssl: self-supervised BM-NAS; supervised: "
                           "supervised BM-NAS; mfas: the MFAS baseline; late_fusion: every modality's "
                           "last tap, pooled, concatenated, an MLP; unimodal: the same on one modality "
                           "(give `modality`); random: a seeded random architecture of the search space. "
                           "Every method ends with a model, its test metrics and the baseline panel")
    modality: str | None = Field(None, max_length=64, description="the modality of method unimodal "
                                 "(e.g. image, text; the dataset's summary lists them)")
    backbones: dict[str, str | BackboneChoice] | None = Field(
        None, max_length=16, description="raw field -> backbone name (e.g. poster: efficientnet_lite0) or "
        "{name, options}; default per modality; ignored for feature datasets")
    device: Device = Field("auto", description="gpu or cpu worker queue; auto = server default")
    label_fraction: float | None = Field(None, gt=0, le=1, description="labeled fraction r")
    search_epochs: int | None = Field(None, ge=1, le=1000)
    pretrain_epochs: int | None = Field(None, ge=0, le=1000)
    finetune_epochs: int | None = Field(None, ge=1, le=1000)
    seed: int | None = Field(None, ge=0, lt=2**31)
    run: dict[str, Any] = Field(default_factory=dict, description="RunConfig overrides (ssnas_core.config; "
                                "each value checked by RunConfig itself)", json_schema_extra=run_schema())
    mfas: MfasSettings | None = Field(None, description="MFAS settings (method mfas only)")  # type: ignore[valid-type]


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


class Verdict(BaseModel):
    key: str = Field(description="the metric compared, at the model's selected threshold when it has one")
    model: float
    best_baseline: str | None
    best_value: float | None
    beats: list[str]
    loses_to: list[str]


class JobResult(BaseModel):
    """What a finished job measured: the model's test metrics beside the baseline panel fitted
    on the same split and labeled subset, and what they mean."""

    method: str | None = None
    model_id: str | None = None
    threshold: float | None = Field(None, description="the decision threshold /predict applies")
    thresholds: list[float] | None = Field(None, description="per-label thresholds, when selected per label")
    test_metrics: dict[str, float] = Field(default_factory=dict, description="the model on test")
    baselines: dict[str, Any] = Field(
        default_factory=dict, description="name -> {kind: trivial | probe, threshold, test metrics}: "
        "trivial predictors and logistic probes per modality and on all modalities (probe_concat)")
    verdict: dict[str, Verdict] = Field(
        default_factory=dict, description="weighted_f1, micro_f1, macro_f1 -> which baselines the model beats")
    modalities_read: list[str] = Field(default_factory=list,
                                       description="modalities whose inputs the architecture reads")
    protocol: list[str] = Field(default_factory=list,
                                description="where the data could not meet the evaluation protocol")
    warnings: list[str] = Field(default_factory=list)
    params: int | None = None
    labeled_samples: int | None = None
    wall_time_s: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_results(cls, data: Any) -> Any:
        """Results stored before the panel existed: their test metrics are under metrics.test."""
        if isinstance(data, dict) and "test_metrics" not in data:
            test = (data.get("metrics") or {}).get("test")
            data = {**data, "test_metrics": test} if isinstance(test, dict) else data
        return data


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
    result: JobResult | None = Field(None, description="finished jobs: test metrics, baselines, verdict")
    warnings: list[str] = Field(default_factory=list, description="what the user should know about "
                                "this result (also in result.warnings and the job's logs)")


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


class ErrorOut(BaseModel):
    """Every error: ``detail`` is a message, or for a request the schema refuses, a list of
    {loc, msg, type, ...} items."""

    detail: str | list[dict[str, Any]]
    request_id: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "unavailable"]
