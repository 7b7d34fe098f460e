"""What is missing when an upload is close to a known format (``detect`` raises these words).

Each ``*_hint`` returns one sentence naming the closest format and what it lacks, or a
general one listing what the known formats look like.
"""

from __future__ import annotations

import os
from collections import Counter

META_JSON = ("genres.json", "split.json", "schema.json", "manifest.json")
TABLE_EXTS = (".csv", ".tsv", ".jsonl", ".json", ".txt")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
KNOWN = ("a generic archive (manifest.csv or manifest.jsonl + files), an MM-IMDB raw archive "
         "(dataset/<id>.json + dataset/<id>.jpeg), a zipped feature folder (manifest.json + "
         "features.h5), the AV-MNIST pack (mnist.npz + fsdd.npz) or MM-IMDB's HDF5 file")


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _shallow(name: str) -> bool:
    return name.count("/") <= 1


def _folder_formats(names: list[str]) -> str | None:
    bases = {_base(n) for n in names if _shallow(n)}
    if {"manifest.json", "features.h5"} <= bases:
        return ("a zipped feature folder (manifest.json + features.h5): the service takes this "
                "zip as it is; to inspect it here, unzip it and inspect the folder")
    if {"mnist.npz", "fsdd.npz"} <= bases:
        return ("a zipped AV-MNIST folder: the service takes this zip as it is; to inspect it "
                "here, unzip it and inspect the folder")
    for have, lack, what in (("features.h5", "manifest.json", "the feature format"),
                             ("manifest.json", "features.h5", "the feature format"),
                             ("mnist.npz", "fsdd.npz", "AV-MNIST"),
                             ("fsdd.npz", "mnist.npz", "AV-MNIST")):
        if have in bases and lack not in bases:
            return f"close to {what}: {have} is there but {lack} is missing next to it"
    return None


def _mmimdb_like(names: list[str]) -> str | None:
    in_dataset = [n for n in names if "dataset/" in n]
    if in_dataset and not any(n.endswith(".json") for n in in_dataset):
        images = sum(n.lower().endswith(IMAGE_EXTS) for n in in_dataset)
        return (f"close to the MM-IMDB raw format: dataset/ holds {len(in_dataset)} files "
                f"({images} images) but no <id>.json; each movie needs dataset/<id>.json with "
                '"plot" and "genres" next to its poster dataset/<id>.jpeg')
    loose = [n for n in names if n.endswith(".json") and _base(n) not in META_JSON]
    if len(loose) >= 2:
        where = Counter(os.path.dirname(n) or "the top" for n in loose).most_common(1)[0][0]
        return (f"close to the MM-IMDB raw format: {len(loose)} <id>.json files in {where}, but "
                "they must sit in a folder named dataset/ (dataset/<id>.json + dataset/<id>.jpeg)")
    return None


def _generic_like(names: list[str]) -> str | None:
    deep = [n for n in names if _base(n) in ("manifest.csv", "manifest.jsonl") and not _shallow(n)]
    if deep:
        return (f"close to the generic format: {deep[0]} is too deep; the manifest must be at the "
                "top of the archive or one folder down")
    tables = [n for n in names if _shallow(n) and n.lower().endswith(TABLE_EXTS)
              and _base(n) not in META_JSON]
    if tables:
        return (f"close to the generic format: found {tables[0]}, but the manifest must be named "
                "manifest.csv (or manifest.jsonl), with a 'labels' or 'label' column and one "
                "column per field")
    images = sum(n.lower().endswith(IMAGE_EXTS) for n in names)
    if images:
        return (f"{images} images but no manifest: add manifest.csv naming each file with its "
                "labels (generic format), or use dataset/<id>.json + dataset/<id>.jpeg (MM-IMDB "
                "raw format)")
    return None


def archive_hint(names: list[str]) -> str:
    """What a zip or folder with these member names lacks, in one sentence."""
    for rule in (_folder_formats, _mmimdb_like, _generic_like):
        hint = rule(names)
        if hint:
            return hint
    return f"an archive in no known format; expected {KNOWN}"


def hdf5_hint(keys: list[str]) -> str:
    """What an HDF5 file with these top-level keys lacks."""
    if {"nodes", "labels", "split"} & set(keys) and "features" not in keys:
        return ("this looks like the feature format's features.h5: upload a zip of its folder, "
                "with manifest.json next to it")
    missing = [k for k in ("features", "genres") if k not in keys]
    return (f"close to MM-IMDB's HDF5 file, which needs datasets 'features' (N, 300) and 'genres' "
            f"(N, K) with 'target_names': missing {missing}; found {sorted(keys)[:10]}")


def file_hint(head: bytes) -> str:
    """What a lone file (neither zip nor HDF5) is, and what to send instead."""
    text = head.lstrip()[:1].decode("latin-1")
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8")) or head[8:12] == b"WEBP":
        return "a single image; send a zip of the dataset (images with a manifest or JSON files)"
    if text in ("{", "[") or b"," in head[:200] or b"\t" in head[:200]:
        return ("a lone manifest or JSON file; zip it together with the files it names "
                "(generic: manifest.csv + files; MM-IMDB raw: dataset/<id>.json + .jpeg)")
    return f"not a zip, folder or HDF5 file; expected {KNOWN}"
