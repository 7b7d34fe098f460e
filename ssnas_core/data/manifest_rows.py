"""Reading a generic archive's manifest rows and schema.json, and the fields' kinds (see
``generic.py`` for the format)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Callable

from PIL import Image

from .raw import FIELD_KINDS, DataFormatError, LoadReport
from .safety import Archive, check_member_name

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


def sniff_member(archive: Archive, base: str, field: str, value: Any) -> str | None:
    """The kind of the archive file ``value`` names, told by its content (an image or a WAV,
    whatever its extension); None when ``value`` names no file (it is text)."""
    try:
        name = base + check_member_name(str(value).strip(), "manifest value")
    except DataFormatError:
        return None
    if not archive.exists(name):
        return None
    data = archive.read(name)
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio"
    try:
        with Image.open(io.BytesIO(data)):
            return "image"
    except Image.DecompressionBombError:
        return "image"  # an image all the same (the pixel cap rejects it later)
    except (OSError, ValueError, SyntaxError):
        raise DataFormatError(f"field {field!r}: its values name files of the archive (e.g. "
                              f"{value!r}) that are neither images nor WAV; text belongs in the "
                              f"manifest itself, or declare the kind as '{field}:image'") from None


def manifest_kinds(rows: list[tuple[str, dict]], declared: dict[str, str],
                   schema: dict[str, str], sniff: Callable[[str, Any], str | None] | None = None
                   ) -> dict[str, str]:
    """Field name -> kind from schema.json, the header suffix, or the first non-empty value
    (a value naming an archive file of no known extension: ``sniff(field, value)``)."""
    kinds = {**declared, **schema}
    for _, row in rows:
        for name, value in row.items():
            if name not in kinds and value not in (None, ""):
                kinds[name] = infer_kind(value)
                if kinds[name] == "text" and sniff is not None and name not in RESERVED:
                    kinds[name] = sniff(name, value) or "text"
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
