"""Generic multimodal archive: a manifest of samples with fields of any kind, plus files.

A zip or folder (optionally under one top-level folder) with ``manifest.csv`` or
``manifest.jsonl`` (one row per sample), the files it names, and optionally ``schema.json``.
Columns (CSV header) or keys (JSONL objects):
    id          optional sample id (default: the 0-based row number)
    label       single-label class name -> task "multiclass", labels (N,) int64
    labels      multi-label, "a|b" or (JSONL) ["a", "b"] -> task "multilabel", labels (N, K) uint8
    split       optional train | dev | test (val, valid, validation = dev); without the column a
                seeded permutation cut 60/10/30
    name:kind   a field whose kind (image, text, audio, vector) the header declares, e.g.
                ``poster:image``, ``plot:text``, ``clip:audio``, ``emb:vector``
    name        an undeclared field, kind from its first non-empty value: an image file name
                (.jpg .jpeg .png .bmp .gif .webp .tif .tiff) -> image, .wav -> audio,
                a list of numbers -> vector, anything else -> text
Image/audio values are paths relative to the manifest (audio: PCM WAV 8/16/24/32-bit, channels
averaged to mono, stdlib ``wave``); text is the text; a vector is a list of numbers (CSV:
``[0.1, 0.2]`` or ``0.1 0.2``). Exactly one of ``label`` / ``labels`` is required.
``schema.json`` may give ``{"fields": {name: kind}, "label_names": [...]}``: kinds override the
header; label_names fixes the label order (default: sorted names).

Fatal (whole upload rejected): anything in ``safety`` (hostile names, bombs, corrupt zip), a
file value that is absolute or escapes the archive, no or several manifests, no label column or
both, an unknown or conflicting kind, a malformed schema.json, unreadable CSV.
Per sample (in ``report``): invalid JSON line or ragged CSV row, a missing value, a missing or
empty file, a vector that is not numeric, has NaN/inf or not the most common length, a missing
label, a label not in schema.json, several labels in ``label``, an invalid or missing split, a
duplicate id. Images and audio are decoded in ``sample(i)``; ``deep=True`` decodes all up front
and rejects the unreadable ones.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from typing import Any

import numpy as np

from .mmimdb_raw import SPLIT_ALIASES
from .raw import FIELD_KINDS, SPLIT_CODES, DataFormatError, LoadReport, RawBase, encode_labels, seeded_split
from .safety import (
    DEFAULT_LIMITS,
    Archive,
    Limits,
    UnsafeArchiveError,
    check_member_name,
    load_from_archive,
    open_image,
)
from .values import parse_vector, read_wav

MANIFESTS = ("manifest.csv", "manifest.jsonl")
RESERVED = ("id", "label", "labels", "split")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class GenericRaw(RawBase):
    """Rows of a manifest; files are read and decoded in ``sample(i)``."""

    def __init__(self, archive: Archive, values: list[dict[str, Any]], **kw: Any):
        super().__init__(**kw)
        self.archive, self._values = archive, values

    def close(self) -> None:
        self.archive.close()

    def _load(self, row: int) -> dict[str, Any]:
        out = {}
        for name, kind in self.fields.items():
            value = self._values[row][name]
            if kind == "image":
                out[name] = open_image(self.archive.read(value), self.archive.limits)
            elif kind == "audio":
                out[name] = read_wav(self.archive.read(value))
            else:
                out[name] = value
        return out


def _read_rows(archive: Archive, name: str, report: LoadReport) -> list[tuple[str, dict]]:
    """(row label, raw dict) per manifest row; malformed rows go to the report."""
    try:
        text = archive.read(name).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{name}: not UTF-8 ({exc})") from exc
    rows = []
    if name.endswith(".jsonl"):
        for i, line in enumerate(x for x in text.splitlines() if x.strip()):
            try:
                obj = json.loads(line)
            except ValueError as exc:
                report.reject(str(i), f"invalid JSON line ({exc})")
                continue
            if isinstance(obj, dict):
                rows.append((str(i), obj))
            else:
                report.reject(str(i), "JSON line is not an object")
        return rows
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for i, row in enumerate(reader):
            if None in row or None in row.values():
                report.reject(str(i), f"CSV row has the wrong number of columns "
                              f"(line {reader.line_num})")
            else:
                rows.append((str(i), row))
    except csv.Error as exc:
        raise DataFormatError(f"{name}: unreadable CSV ({exc})") from exc
    return rows


def _infer_kind(value: Any) -> str:
    if isinstance(value, list):
        return "vector"
    low = str(value).strip().lower()
    if low.endswith(IMAGE_EXTS):
        return "image"
    return "audio" if low.endswith(".wav") else "text"


def _plain_keys(rows: list[tuple[str, dict]]) -> tuple[list[tuple[str, dict]], dict[str, str]]:
    """Rows keyed by plain field names, and the kinds declared as ``name:kind`` keys."""
    declared: dict[str, str] = {}
    out = []
    for rowname, row in rows:
        plain = {}
        for key, value in row.items():
            name, _, kind = str(key).partition(":")
            if kind and declared.setdefault(name, kind) != kind:
                raise DataFormatError(f"field {name!r} declared as {declared[name]!r} and {kind!r}")
            plain[name] = value
        out.append((rowname, plain))
    return out, declared


def _field_kinds(rows: list[tuple[str, dict]], declared: dict[str, str],
                 schema: dict[str, str]) -> dict[str, str]:
    """Field name -> kind from schema.json, the header suffix, or the first non-empty value."""
    kinds = {**declared, **schema}
    for _, row in rows:
        for name, value in row.items():
            if name not in kinds and value not in (None, ""):
                kinds[name] = _infer_kind(value)
    kinds = {n: k for n, k in kinds.items() if n not in RESERVED}
    bad = {n: k for n, k in kinds.items() if k not in FIELD_KINDS}
    if bad:
        raise DataFormatError(f"unknown field kinds {bad}; allowed: {list(FIELD_KINDS)}")
    if not kinds:
        raise DataFormatError("the manifest declares no data field")
    return kinds


def _clean(row: dict, kinds: dict[str, str], archive: Archive, base: str) -> dict[str, Any]:
    """The row's field values (file paths resolved, vectors parsed) or DataFormatError."""
    out = {}
    for name, kind in kinds.items():
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataFormatError(f"missing {name!r}")
        if kind in ("image", "audio"):
            member = base + check_member_name(str(value).strip(), f"manifest value of {name!r}")
            if not archive.exists(member):
                raise DataFormatError(f"{name!r}: file {value!r} not in the archive")
            if archive.sizes[member] == 0:
                raise DataFormatError(f"{name!r}: file {value!r} is empty")
            out[name] = member
        elif kind == "vector":
            out[name] = parse_vector(value)
        else:
            out[name] = str(value)
    return out


def _row_labels(row: dict, multi: bool) -> list[str]:
    value = row.get("labels" if multi else "label")
    if isinstance(value, list):
        names = [str(v).strip() for v in value]
    else:
        names = [s.strip() for s in str(value if value is not None else "").split("|")]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        raise DataFormatError("missing label")
    if not multi and len(names) > 1:
        raise DataFormatError(f"several labels {names} in the single-label column 'label'")
    return names


def _find_manifest(archive: Archive) -> tuple[str, str]:
    """(manifest member, folder prefix) at the root or one folder down; exactly one allowed."""
    found = [n for n in archive.names
             if n.rsplit("/", 1)[-1] in MANIFESTS and n.count("/") <= 1]
    if not found:
        raise DataFormatError(f"{archive.label}: no manifest.csv or manifest.jsonl")
    if len(found) > 1:
        raise DataFormatError(f"{archive.label}: several manifests {found}")
    name = found[0]
    return name, name[: len(name) - len(name.rsplit("/", 1)[-1])]


def _read_schema(archive: Archive, name: str) -> tuple[dict[str, str], list[str] | None]:
    if not archive.exists(name):
        return {}, None
    try:
        schema = json.loads(archive.read(name).decode("utf-8"))
        fields, labels = schema.get("fields", {}), schema.get("label_names")
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise ValueError("'fields' must map names to kinds")
        if labels is not None and (not isinstance(labels, list) or not labels
                                   or len(set(map(str, labels))) != len(labels)):
            raise ValueError("'label_names' must be a non-empty list of distinct names")
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{name}: malformed ({exc})") from exc
    return fields, None if labels is None else [str(x) for x in labels]


def _label_column(rows: list[tuple[str, dict]]) -> bool:
    """True for multi-label ('labels'), False for single-label ('label')."""
    keys = {k for _, row in rows for k in row}
    if "label" in keys and "labels" in keys:
        raise DataFormatError("manifest has both 'label' and 'labels' columns; keep one")
    if "label" not in keys and "labels" not in keys:
        raise DataFormatError("manifest has no 'label' or 'labels' column (missing labels)")
    return "labels" in keys


def _row_split(row: dict, required: bool) -> str | None:
    value = row.get("split")
    if value is None:
        if required:
            raise DataFormatError("missing split (other rows have one)")
        return None
    key = str(value).strip().lower()
    if key not in SPLIT_ALIASES:
        raise DataFormatError(f"invalid split {value!r} (train, dev or test)")
    return SPLIT_ALIASES[key]


def _collect(rows, kinds, archive, base, multi, label_names, report):
    """Validate each row; returns the kept (id, values, labels, split) tuples."""
    kept, seen = [], set()
    has_split = any("split" in row for _, row in rows)
    for rowname, row in rows:
        sid = str(row.get("id", rowname)).strip() or rowname
        try:
            if sid in seen:
                raise DataFormatError("duplicate id")
            values = _clean(row, kinds, archive, base)
            names = _row_labels(row, multi)
            unknown = [n for n in names if label_names is not None and n not in label_names]
            if unknown:
                raise DataFormatError(f"unknown labels {unknown} (not in schema.json)")
            kept.append((sid, values, names, _row_split(row, has_split)))
            seen.add(sid)
        except UnsafeArchiveError:
            raise
        except DataFormatError as exc:
            report.reject(sid, str(exc))
    return kept


def _vector_lengths(kept: list, kinds: dict[str, str], report: LoadReport) -> list:
    """Drop rows whose vector length differs from the field's most common length."""
    for name in [n for n, k in kinds.items() if k == "vector"]:
        common = Counter(len(v[1][name]) for v in kept).most_common(1)
        d = common[0][0] if common else 0
        for entry in [v for v in kept if len(v[1][name]) != d]:
            report.reject(entry[0], f"vector {name!r} has {len(entry[1][name])} values, "
                                    f"expected {d}")
        kept = [v for v in kept if len(v[1][name]) == d]
    return kept


def _build(archive: Archive, path: str | os.PathLike, seed: int) -> GenericRaw:
    manifest, base = _find_manifest(archive)
    schema_fields, label_names = _read_schema(archive, base + "schema.json")
    report = LoadReport()
    rows = _read_rows(archive, manifest, report)
    if not rows:
        raise DataFormatError(f"{manifest}: no sample rows")
    rows, declared = _plain_keys(rows)
    kinds = _field_kinds(rows, declared, schema_fields)
    multi = _label_column(rows)
    kept = _collect(rows, kinds, archive, base, multi, label_names, report)
    kept = _vector_lengths(kept, kinds, report)
    report.total = len(kept) + len(report.rejected)
    if label_names is None:
        label_names = sorted({n for v in kept for n in v[2]})
    labels = encode_labels([v[2] for v in kept], label_names, multi)
    if kept and kept[0][3] is None:  # no split column
        split = seeded_split(len(kept), seed)
    else:
        split = np.array([SPLIT_CODES[v[3]] for v in kept], dtype=np.uint8)
    ds = GenericRaw(archive, [v[1] for v in kept], fields=kinds, label_names=label_names,
                    task="multilabel" if multi else "multiclass", ids=[v[0] for v in kept],
                    labels=labels, split=split, report=report,
                    info={"format": "generic", "source": str(path), "manifest": manifest})
    return ds


def load_generic(path: str | os.PathLike, *, seed: int = 0, deep: bool = False,
                 limits: Limits = DEFAULT_LIMITS) -> GenericRaw:
    """Open a generic manifest archive (zip or folder); see the module docstring."""
    return load_from_archive(path, _build, seed=seed, deep=deep, limits=limits)
