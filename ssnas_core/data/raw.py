"""The raw-sample interface every input format implements.

A raw dataset is an indexable collection of multimodal samples with labels and a split.
Format loaders (MM-IMDB HDF5, MM-IMDB raw archive, generic manifest) return one; the
feature extractor turns one into the feature format with frozen backbones.

Field kinds and the Python values ``sample(i)`` returns for them:
    image   PIL.Image.Image (RGB)
    text    str
    audio   (np.ndarray float32 mono waveform in [-1, 1], sample_rate: int)
    vector  np.ndarray float32 of shape (d,)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

FIELD_KINDS = ("image", "text", "audio", "vector")


class DataFormatError(ValueError):
    """Input data is malformed; the message names the sample and the problem."""


@dataclass
class LoadReport:
    """What a loader kept and what it rejected, and why (nothing is dropped silently)."""

    total: int = 0
    kept: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)  # {"id": ..., "problem": ...}

    def reject(self, sample_id: str, problem: str) -> None:
        self.rejected.append({"id": str(sample_id), "problem": problem})

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "kept": self.kept, "rejected": self.rejected}


@runtime_checkable
class RawDataset(Protocol):
    fields: dict[str, str]  # field name -> kind (one of FIELD_KINDS)
    label_names: list[str]
    task: str  # "multilabel" or "multiclass"
    ids: list[str]
    labels: np.ndarray  # (N, K) uint8 multi-hot or (N,) int64
    split: np.ndarray  # (N,) uint8: 0 train, 1 dev, 2 test
    report: LoadReport

    def __len__(self) -> int: ...

    def sample(self, i: int) -> dict[str, Any]: ...


# --- Shared plumbing for the format loaders (additions; the names above are the contract) ---

SPLIT_CODES = {"train": 0, "dev": 1, "test": 2}


def _unprefixed(message: str, sample_id: str) -> str:
    """The problem without the "sample 'x': " prefix (the report names the sample already)."""
    return message.removeprefix(f"sample {sample_id!r}: ")


def no_usable_samples(report: LoadReport) -> str:
    """The message when every sample was rejected: how many, and the first problems."""
    shown = "; ".join(f"{r['id']}: {r['problem']}" for r in report.rejected[:3])
    return f"no usable samples: all {len(report.rejected)} were rejected, e.g. {shown}"


class UnknownFormatError(DataFormatError):
    """The path is in none of the formats we read (the service answers 415)."""


def seeded_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)
                 ) -> np.ndarray:
    """(n,) uint8 split codes: a seeded permutation cut at the given train/dev/test fractions."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = round(n * fractions[0])
    n_dev = round(n * (fractions[0] + fractions[1])) - n_train
    split = np.full(n, 2, dtype=np.uint8)
    split[order[:n_train]] = 0
    split[order[n_train:n_train + n_dev]] = 1
    return split


def encode_labels(names: list[list[str]], label_names: list[str], multilabel: bool) -> np.ndarray:
    """Per-sample label names -> (N, K) uint8 multi-hot, or (N,) int64 class indices."""
    col = {n: k for k, n in enumerate(label_names)}
    if not multilabel:
        return np.array([col[n[0]] for n in names], dtype=np.int64)
    out = np.zeros((len(names), len(label_names)), dtype=np.uint8)
    for i, row in enumerate(names):
        out[i, [col[n] for n in row]] = 1
    return out


class RawBase:
    """Common implementation of the RawDataset protocol for the format loaders.

    Subclasses pass the per-sample arrays and implement ``_load(row)``, where ``row`` is the
    sample's position in the source (stable under rejection). ``sample(i)`` turns any decode
    failure into a DataFormatError naming the sample, and ``validate_all()`` decodes every
    sample once, moving the failures into the report (nothing is dropped silently).
    """

    def __init__(self, *, fields: dict[str, str], label_names: list[str], task: str,
                 ids: list[str], labels: np.ndarray, split: np.ndarray, report: LoadReport,
                 rows: np.ndarray | None = None, info: dict[str, Any] | None = None):
        bad = {k: v for k, v in fields.items() if v not in FIELD_KINDS}
        if bad:
            raise DataFormatError(f"unknown field kinds {bad}; allowed: {FIELD_KINDS}")
        if not len(ids):
            raise DataFormatError(no_usable_samples(report))
        self.fields = dict(fields)
        self.label_names = list(label_names)
        self.task = task
        self.ids = list(ids)
        self.labels = np.asarray(labels)
        self.split = np.asarray(split, dtype=np.uint8)
        self.rows = np.arange(len(ids)) if rows is None else np.asarray(rows, dtype=np.int64)
        self.report = report
        self.report.kept = len(self.ids)
        self.info = dict(info or {})

    def __len__(self) -> int:
        return len(self.ids)

    def _load(self, row: int) -> dict[str, Any]:
        raise NotImplementedError

    def _check(self, row: int) -> None:
        """Prove the sample at ``row`` decodes; loaders override it with a cheaper check."""
        self._load(row)

    def _named(self, i: int, fn: Any) -> Any:
        row = int(self.rows[i])  # IndexError for a bad i, as for any sequence
        try:
            return fn(row)
        except DataFormatError as exc:
            raise DataFormatError(f"sample {self.ids[i]!r}: {exc}") from exc
        except (OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as exc:
            raise DataFormatError(f"sample {self.ids[i]!r}: unreadable ({exc})") from exc

    def sample(self, i: int) -> dict[str, Any]:
        """The sample's field values (kinds as in the module docstring)."""
        return self._named(i, self._load)

    def split_counts(self) -> dict[str, int]:
        return {name: int((self.split == code).sum()) for name, code in SPLIT_CODES.items()}

    def label_counts(self) -> dict[str, dict[str, int]]:
        """Split -> label name -> samples carrying that label (the dashboard's label table)."""
        out = {}
        for name, code in SPLIT_CODES.items():
            rows = self.labels[self.split == code]
            per = (rows.sum(axis=0) if self.task == "multilabel"
                   else np.bincount(rows, minlength=len(self.label_names)))
            out[name] = {label: int(n) for label, n in zip(self.label_names, per)}
        return out

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the samples where ``mask`` is true (callers record the others first)."""
        mask = np.asarray(mask, dtype=bool)
        self.ids = [s for s, m in zip(self.ids, mask) if m]
        self.labels, self.split, self.rows = self.labels[mask], self.split[mask], self.rows[mask]
        self.report.kept = len(self.ids)
        if not self.ids:
            raise DataFormatError(no_usable_samples(self.report))

    def validate_all(self) -> RawBase:
        """Decode every sample (``_check``); reject the ones that fail (recorded in the report)."""
        ok = np.ones(len(self), dtype=bool)
        for i in range(len(self)):
            try:
                self._named(i, self._check)
            except DataFormatError as exc:
                self.report.reject(self.ids[i], _unprefixed(str(exc), self.ids[i]))
                ok[i] = False
        if not ok.all():
            self.keep(ok)
        return self

    def exclude(self, problems: dict[str, str]) -> RawBase:
        """Leave out the samples ``problems`` names (id -> problem, e.g. the ones an upload's
        validation rejected), recording them in the report; unknown ids are ignored."""
        mask = np.array([sid not in problems for sid in self.ids], dtype=bool)
        for sid in [s for s, m in zip(self.ids, mask) if not m]:
            self.report.reject(sid, problems[sid])
        if not mask.all():
            self.keep(mask)
        return self

    def close(self) -> None:
        """Release open files (loaders reopen them on the next ``sample``)."""

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (what ``detect.inspect`` returns for raw formats)."""
        return {"num_samples": len(self), "split_counts": self.split_counts(),
                "label_counts": self.label_counts(),
                "fields": dict(self.fields), "modalities": sorted(set(self.fields.values())),
                "label_names": list(self.label_names), "task": self.task,
                "report": self.report.to_json()}
