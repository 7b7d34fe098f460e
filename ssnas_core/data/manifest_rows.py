"""Reading a generic archive's manifest rows and schema.json, and the fields' kinds (see
``generic.py`` for the format)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .raw import FIELD_KINDS, DataFormatError, LoadReport
from .safety import Archive

RESERVED = ("id", "label", "labels", "split")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def read_rows(archive: Archive, name: str, report: LoadReport) -> list[tuple[str, dict]]:
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


def infer_kind(value: Any) -> str:
    if isinstance(value, list):
        return "vector"
    low = str(value).strip().lower()
    if low.endswith(IMAGE_EXTS):
        return "image"
    return "audio" if low.endswith(".wav") else "text"


def plain_keys(rows: list[tuple[str, dict]]) -> tuple[list[tuple[str, dict]], dict[str, str]]:
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


def manifest_kinds(rows: list[tuple[str, dict]], declared: dict[str, str],
                 schema: dict[str, str]) -> dict[str, str]:
    """Field name -> kind from schema.json, the header suffix, or the first non-empty value."""
    kinds = {**declared, **schema}
    for _, row in rows:
        for name, value in row.items():
            if name not in kinds and value not in (None, ""):
                kinds[name] = infer_kind(value)
    kinds = {n: k for n, k in kinds.items() if n not in RESERVED}
    bad = {n: k for n, k in kinds.items() if k not in FIELD_KINDS}
    if bad:
        raise DataFormatError(f"unknown field kinds {bad}; allowed: {list(FIELD_KINDS)}")
    if not kinds:
        raise DataFormatError("the manifest declares no data field")
    return kinds


def read_schema(archive: Archive, name: str) -> tuple[dict[str, str], list[str] | None]:
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
