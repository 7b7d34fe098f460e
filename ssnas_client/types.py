"""Typed results of the client: frozen dataclasses built from the API's JSON.

Each keeps the whole JSON object in ``raw`` so fields the service adds later (e.g. a job's
``result``) are never lost; ``to_json()`` gives it back for ``--json`` output.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T", bound="_Typed")
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class _Typed:
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)} - {"raw"}
        return cls(raw=data, **{k: data.get(k) for k in names})

    def to_json(self) -> dict[str, Any]:
        return self.raw


@dataclass(frozen=True)
class Dataset(_Typed):
    id: str
    name: str
    format: str
    size: int
    sha256: str
    summary: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Metric(_Typed):
    seq: int
    stage: str
    epoch: int
    metrics: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class LogLine(_Typed):
    seq: int
    level: str
    message: str
    created_at: str


@dataclass(frozen=True)
class Job(_Typed):
    id: str
    dataset_id: str | None
    status: str
    stage: str | None
    progress: float
    eta_s: float | None
    attempt: int
    max_attempts: int
    error: str | None
    cancel_requested: bool
    queue: str
    spec: dict[str, Any]
    created_at: str
    updated_at: str
    model_id: str | None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def method(self) -> str:
        return (self.spec or {}).get("method", "ssl")

    @property
    def latest_metrics(self) -> Metric | None:
        m = self.raw.get("latest_metrics")
        return Metric.from_json(m) if m else None

    @property
    def result(self) -> dict[str, Any] | None:
        """The result panel (test metrics, baselines, verdict) when the service provides one."""
        return self.raw.get("result")


@dataclass(frozen=True)
class Model(_Typed):
    id: str
    job_id: str | None
    genotype: dict[str, Any]
    metrics: dict[str, Any]
    label_names: list[Any]
    threshold: float
    node_specs: list[Any]
    backbones: dict[str, Any] | None
    created_at: str
    weights_size: int
    weights_sha256: str


@dataclass(frozen=True)
class Prediction(_Typed):
    probabilities: dict[str, float]
    labels: list[str]

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]


@dataclass(frozen=True)
class PredictResult(_Typed):
    model_id: str
    task: str
    threshold: float
    label_names: list[str]

    @property
    def predictions(self) -> list[Prediction]:
        return [Prediction.from_json(p) for p in self.raw.get("predictions", [])]


@dataclass(frozen=True)
class Page(_Typed):
    """One page of a list: ``items`` typed, ``total`` when the route counts them."""

    items: list[Any]
    total: int | None
    limit: int | None
    offset: int | None

    @classmethod
    def of(cls, data: dict[str, Any], item: type[_Typed]) -> Page:
        """The page with typed items; ``raw`` (and ``to_json()``) stays the API's JSON."""
        return cls(raw=data, items=[item.from_json(x) for x in data["items"]], total=data.get("total"),
                   limit=data.get("limit"), offset=data.get("offset"))


@dataclass(frozen=True)
class Cursor(_Typed):
    """Metrics or log rows after a cursor; pass ``next_after`` to get only newer ones."""

    items: list[Any]
    next_after: int

    @classmethod
    def of(cls, data: dict[str, Any], item: type[_Typed]) -> Cursor:
        return cls(raw=data, items=[item.from_json(x) for x in data["items"]], next_after=data["next_after"])
