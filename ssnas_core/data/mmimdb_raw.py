"""MM-IMDB's raw archive layout (also the "posters + plots" upload format; movies23 uses it).

A zip file or a folder, optionally with everything under one top-level folder::

    genres.json        optional: ["Drama", "Comedy", ...], the label order
    split.json         optional: {"train": [ids], "dev": [ids], "test": [ids]}
    dataset/<id>.json  {"plot": [str, ...] | str, "genres": [str, ...], ...}
    dataset/<id>.jpeg  the poster: any image Pillow reads (JPEG, PNG, WebP, GIF: first frame,
                       BMP, TIFF), told by its content; when <id>.jpeg is absent, <id>.jpg,
                       .png, .webp, .gif, .bmp, .tif, .tiff or any other non-JSON <id>.* file

Fields: ``poster`` (image) and ``plot`` (text: the longest element of the ``plot`` list, as
MM-IMDB's own loader does). Task: multilabel, labels (N, K) uint8 multi-hot. Without
genres.json the label order is by frequency (most frequent first, ties by name). Without
split.json the split is a seeded permutation cut 60/10/30 (MM-IMDB's proportions).

Loading reads the archive index and the small JSON files only; posters are decoded in
``sample(i)`` (``deep=True`` decodes them all up front and rejects the unreadable ones).

Fatal (whole archive rejected): anything in ``safety`` (hostile names, bombs, corrupt zip),
no ``dataset/*.json`` at all, a malformed genres.json or split.json, an id listed in two
splits, several candidate top-level folders, no usable sample left, genre names that are
lists joined with a separator ("Comedy, Romance" next to "Comedy"; ``label_names.py``).
Per sample (recorded in ``report``, sample left out): invalid JSON, missing/empty plot,
missing/empty genres, a genre not in genres.json, missing or empty poster, an id missing
from split.json, an id in split.json without a JSON file; with ``deep``: unreadable or
oversized poster (upload validation decodes every poster: ``deep=True``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .label_names import refuse_misplaced_separator
from .raw import SPLIT_CODES, DataFormatError, LoadReport, RawBase, encode_labels, seeded_split
from .safety import DEFAULT_LIMITS, Archive, Limits, check_image, load_from_archive, open_image

IMAGE_EXTS = (".jpeg", ".jpg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
SPLIT_ALIASES = {"train": "train", "dev": "dev", "val": "dev", "valid": "dev",
                 "validation": "dev", "test": "test"}


class MMIMDBRaw(RawBase):
    """Posters decoded lazily from the archive; plots kept in memory."""

    def __init__(self, archive: Archive, posters: list[str], plots: list[str], **kw: Any):
        super().__init__(fields={"poster": "image", "plot": "text"}, **kw)
        self.archive = archive
        self._posters = posters
        self._plots = plots

    def close(self) -> None:
        self.archive.close()

    def _poster(self, row: int, check: bool) -> Any:
        name = self._posters[row]
        if not self.archive.sizes[name]:
            raise DataFormatError(f"empty poster {name}")
        try:
            if check:  # streamed: the member is never held whole
                with self.archive.open_member(name) as f:
                    return check_image(f, self.archive.limits)
            return open_image(self.archive.read(name), self.archive.limits)
        except DataFormatError as exc:
            raise DataFormatError(f"poster {name} is {exc}") from exc

    def _load(self, row: int) -> dict[str, Any]:
        return {"poster": self._poster(row, check=False), "plot": self._plots[row]}

    def _check(self, row: int) -> None:
        self._poster(row, check=True)


def find_prefix(archive: Archive, marker: str) -> str:
    """'' or 'top/' : where ``marker`` (e.g. 'dataset/') sits, at the root or one folder down."""
    prefixes = set()
    for name in archive.names:
        head, sep, _ = name.partition(marker)
        if sep and (head == "" or (head.endswith("/") and head.count("/") == 1)):
            prefixes.add(head)
    if len(prefixes) > 1:
        raise DataFormatError(f"{archive.label}: several {marker} folders: {sorted(prefixes)}")
    if not prefixes:
        raise DataFormatError(f"{archive.label}: no {marker} folder")
    return prefixes.pop()


def _read_json(archive: Archive, name: str) -> Any:
    try:
        return json.loads(archive.read(name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{name}: invalid JSON ({exc})") from exc


def _read_genres(archive: Archive, name: str) -> list[str] | None:
    if not archive.exists(name):
        return None
    genres = _read_json(archive, name)
    if (not isinstance(genres, list) or not genres
            or not all(isinstance(g, str) and g for g in genres) or len(set(genres)) != len(genres)):
        raise DataFormatError(f"{name}: must be a non-empty list of distinct genre names")
    return genres


def _read_split(archive: Archive, name: str) -> dict[str, str] | None:
    """id -> split name, or None when there is no split.json."""
    if not archive.exists(name):
        return None
    raw = _read_json(archive, name)
    if not isinstance(raw, dict) or not raw or any(k not in SPLIT_ALIASES for k in raw):
        raise DataFormatError(f"{name}: must map train/dev/test to lists of ids, got keys "
                              f"{list(raw)[:5] if isinstance(raw, dict) else type(raw).__name__}")
    out: dict[str, str] = {}
    for key, ids in raw.items():
        if not isinstance(ids, list):
            raise DataFormatError(f"{name}: {key!r} must be a list of ids")
        for sid in map(str, ids):
            if sid in out:
                raise DataFormatError(f"{name}: id {sid!r} is in both {out[sid]!r} and {key!r}")
            out[sid] = SPLIT_ALIASES[key]
    return out


def _keys(meta: dict) -> str:
    return ", ".join(repr(k) for k in list(meta)[:12]) or "none"


def _parse_movie(meta: Any) -> tuple[str, list[str]]:
    """(plot, genres) of one movie JSON; DataFormatError names the problem."""
    if not isinstance(meta, dict):
        raise DataFormatError("JSON is not an object")
    plot = meta.get("plot")
    if isinstance(plot, str):
        plot = [plot]
    if not isinstance(plot, list) or not any(isinstance(p, str) and p.strip() for p in plot):
        raise DataFormatError(f"missing plot (key \"plot\": a text or a list of texts; keys "
                              f"found: {_keys(meta)})")
    plot_text = max((p.strip() for p in plot if isinstance(p, str)), key=len)
    genres = meta.get("genres")
    if isinstance(genres, str):
        raise DataFormatError(f"genres must be a list of names, e.g. [\"Comedy\", \"Romance\"], "
                              f"not the text {genres[:60]!r}")
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise DataFormatError(f"missing labels (key \"genres\": a list of names; keys found: "
                              f"{_keys(meta)})")
    genres = list(dict.fromkeys(g.strip() for g in genres if g.strip()))
    if not genres:
        raise DataFormatError("missing labels (no genres)")
    return plot_text, genres


def _stems(archive: Archive, base: str) -> dict[str, dict[str, str]]:
    """id -> {extension: member} for the files directly under ``base``."""
    stems: dict[str, dict[str, str]] = {}
    for name in archive.names:
        if name.startswith(base) and "/" not in name[len(base):]:
            stem, ext = os.path.splitext(name[len(base):])
            stems.setdefault(stem, {}).setdefault(ext.lower(), name)
    if not any(".json" in v for v in stems.values()):
        raise DataFormatError(f"{archive.label}: no {base}<id>.json files")
    return {sid: found for sid, found in stems.items()
            if ".json" in found or any(e in IMAGE_EXTS for e in found)}


def _poster_of(found: dict[str, str]) -> str | None:
    """The poster member: a known image extension first, else any other non-JSON file (the
    content decides whether it is an image)."""
    known = next((found[e] for e in IMAGE_EXTS if e in found), None)
    return known or next((m for e, m in sorted(found.items()) if e != ".json"), None)


def _scan(archive: Archive, prefix: str, report: LoadReport) -> dict[str, tuple[str, list, str]]:
    """id -> (plot, genres, poster member) for every movie that parses; rejects the rest."""
    base = prefix + "dataset/"
    movies = {}
    for sid, found in sorted(_stems(archive, base).items()):
        poster = _poster_of(found)
        try:
            if ".json" not in found:
                raise DataFormatError(f"poster without {base}{sid}.json")
            if poster is None:
                raise DataFormatError(f"missing poster {base}{sid}.jpeg (or .jpg, .png, .webp, "
                                      ".gif, ...)")
            if archive.sizes[poster] == 0:
                raise DataFormatError(f"empty poster {poster}")
            plot, genres = _parse_movie(_read_json(archive, found[".json"]))
        except DataFormatError as exc:
            report.reject(sid, str(exc))
            continue
        movies[sid] = (plot, genres, poster)
    return movies


def _build(archive: Archive, path: str | os.PathLike, seed: int) -> MMIMDBRaw:
    prefix = find_prefix(archive, "dataset/")
    genre_order = _read_genres(archive, prefix + "genres.json")
    split_map = _read_split(archive, prefix + "split.json")
    report = LoadReport()
    movies = _scan(archive, prefix, report)
    if genre_order is not None:
        for sid in list(movies):
            unknown = [g for g in movies[sid][1] if g not in genre_order]
            if unknown:
                report.reject(sid, f"unknown genres {unknown} (not in genres.json)")
                del movies[sid]
    if split_map is not None:
        for sid in sorted(set(split_map) - set(movies) - {r["id"] for r in report.rejected}):
            report.reject(sid, "listed in split.json but has no dataset JSON")
        for sid in [s for s in movies if s not in split_map]:
            report.reject(sid, "not listed in split.json")
            del movies[sid]
    report.total = len(movies) + len(report.rejected)
    ids = sorted(movies)
    if genre_order is None:
        refuse_misplaced_separator(
            {g for sid in ids for g in movies[sid][1]}, None, "dataset/<id>.json \"genres\"",
            'write each genre as its own element, e.g. "genres": ["Comedy", "Romance"]',
            "list them in genres.json")
        counts: dict[str, int] = {}
        for sid in ids:
            for g in movies[sid][1]:
                counts[g] = counts.get(g, 0) + 1
        genre_order = sorted(counts, key=lambda g: (-counts[g], g))
    labels = encode_labels([movies[s][1] for s in ids], genre_order, True)
    if split_map is not None:
        split = np.array([SPLIT_CODES[split_map[s]] for s in ids], dtype=np.uint8)
    else:
        split = seeded_split(len(ids), seed)
    ds = MMIMDBRaw(archive, [movies[s][2] for s in ids], [movies[s][0] for s in ids],
                   label_names=genre_order, task="multilabel", ids=ids, labels=labels,
                   split=split, report=report,
                   info={"format": "mmimdb_raw", "source": str(path),
                         "split": "split.json" if split_map is not None else f"seeded 60/10/30 seed={seed}"})
    return ds


def load_mmimdb_raw(path: str | os.PathLike, *, seed: int = 0, deep: bool = False,
                    limits: Limits = DEFAULT_LIMITS) -> MMIMDBRaw:
    """Open a raw MM-IMDB archive (zip or folder); see the module docstring for the rules."""
    return load_from_archive(path, _build, seed=seed, deep=deep, limits=limits)
