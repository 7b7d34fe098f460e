"""Generic multimodal archive: a manifest of samples with fields of any kind, plus files.

A zip or folder (optionally under one top-level folder) with ``manifest.csv`` or
``manifest.jsonl`` (one row per sample), the files it names, and optionally ``schema.json``.
Columns (CSV header) or keys (JSONL objects):
    id          optional sample id (default: the 0-based row number)
    label       single-label class name -> task "multiclass", labels (N,) int64
    labels      multi-label, "a|b" or (JSONL) ["a", "b"] -> task "multilabel", labels (N, K) uint8;
                names that look like lists joined with another separator ("a, b" next to
                "a" and "b") refuse the upload, naming the separator to use
    split       optional train | dev | test (val, valid, validation = dev); without the column a
                seeded permutation cut 60/10/30
    name:kind   a field whose kind (image, text, audio, vector) the header declares, e.g.
                ``poster:image``, ``plot:text``, ``clip:audio``, ``emb:vector``
    name        an undeclared field, kind from its first non-empty value: an image file name
                (.jpg .jpeg .png .bmp .gif .webp .tif .tiff) -> image, .wav -> audio,
                a list of numbers -> vector, the name of another file of the archive -> image
                or audio by its content, anything else -> text
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

import os
from collections import Counter
from typing import Any

import numpy as np

from .label_names import refuse_misplaced_separator
from .manifest_rows import manifest_kinds, plain_keys, read_rows, read_schema, sniff_member
from .mmimdb_raw import SPLIT_ALIASES
from .raw import SPLIT_CODES, DataFormatError, LoadReport, RawBase, encode_labels, seeded_split
from .safety import (
    DEFAULT_LIMITS,
    Archive,
    Limits,
    UnsafeArchiveError,
    check_image,
    check_member_name,
    load_from_archive,
    open_image,
)
from .values import parse_vector, read_wav

MANIFESTS = ("manifest.csv", "manifest.jsonl")


class GenericRaw(RawBase):
    """Rows of a manifest; files are read and decoded in ``sample(i)``."""

    def __init__(self, archive: Archive, values: list[dict[str, Any]], **kw: Any):
        super().__init__(**kw)
        self.archive, self._values = archive, values

    def close(self) -> None:
        self.archive.close()

    def _image(self, member: str, check: bool) -> Any:
        if check:  # streamed: the member is never held whole
            with self.archive.open_member(member) as f:
                return check_image(f, self.archive.limits)
        return open_image(self.archive.read(member), self.archive.limits)

    def _decoded(self, row: int, check: bool) -> dict[str, Any]:
        out = {}
        for name, kind in self.fields.items():
            value = self._values[row][name]
            try:
                if kind == "image":
                    out[name] = self._image(value, check)
                elif kind == "audio":
                    out[name] = read_wav(self.archive.read(value))
                else:
                    out[name] = value
            except DataFormatError as exc:
                raise DataFormatError(f"{name!r}: file {value} is {exc}") from exc
        return out

    def _load(self, row: int) -> dict[str, Any]:
        return self._decoded(row, check=False)

    def _check(self, row: int) -> None:
        self._decoded(row, check=True)


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


def _check_separator(names: list[str], multi: bool, manifest: str) -> None:
    """Refuse label names that are label lists joined with the wrong separator."""
    if multi:
        how = ("separate the labels of a sample with '|', e.g. 'Comedy|Romance'"
               if manifest.endswith(".csv") else
               'write "labels" as a JSON list, e.g. ["Comedy", "Romance"] (or join them with \'|\')')
    else:
        how = ("the 'label' column takes one label per sample: for several, name the column "
               "'labels' and separate them with '|', e.g. 'Comedy|Romance'")
    refuse_misplaced_separator(names, "|" if multi else None, f"{manifest} '{'labels' if multi else 'label'}'",
                               how, "list every label name in schema.json's \"label_names\"")


def _build(archive: Archive, path: str | os.PathLike, seed: int) -> GenericRaw:
    manifest, base = _find_manifest(archive)
    schema_fields, label_names = read_schema(archive, base + "schema.json")
    report = LoadReport()
    rows = read_rows(archive, manifest, report)
    if not rows:
        raise DataFormatError(f"{manifest}: no sample rows")
    rows, declared = plain_keys(rows)
    kinds = manifest_kinds(rows, declared, schema_fields,
                           lambda field, value: sniff_member(archive, base, field, value))
    multi = _label_column(rows)
    kept = _collect(rows, kinds, archive, base, multi, label_names, report)
    kept = _vector_lengths(kept, kinds, report)
    report.total = len(kept) + len(report.rejected)
    if label_names is None:
        label_names = sorted({n for v in kept for n in v[2]})
        _check_separator(label_names, multi, manifest)
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
