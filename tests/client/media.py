"""A small raw dataset in the generic archive format: a poster image and a plot text per sample,
labelled with genres that both the colour of the poster and words of the plot reveal."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

GENRES = {"action": (220, 40, 30), "comedy": (240, 200, 40), "drama": (40, 70, 210), "horror": (30, 30, 30)}
WORDS = {"action": "explosions and a chase", "comedy": "a funny wedding mishap", "drama": "a family torn apart",
         "horror": "a haunted house at night"}


def poster(genres: list[str], i: int) -> bytes:
    img = Image.new("RGB", (64, 96), "white")
    d = ImageDraw.Draw(img)
    for k, g in enumerate(genres):
        d.rectangle((4 + 3 * (i % 4), 6 + 44 * k, 58, 44 + 44 * k), fill=GENRES[g])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def sample_genres(i: int) -> list[str]:
    """One genre by i, and a second (never the same) on every third sample."""
    names = list(GENRES)
    first = names[i % 4]
    return [first, names[(i % 4 + 1 + (i // 4) % 3) % 4]] if i % 3 == 0 else [first]


def plot(genres: list[str], i: int) -> str:
    return f"Movie {i}: " + " and ".join(WORDS[g] for g in genres) + "."


def split_of(i: int, n: int) -> str:
    return "train" if i < 0.6 * n else ("dev" if i < 0.8 * n else "test")


def label_counts(n: int = 60) -> dict[str, dict[str, int]]:
    """Split -> genre -> samples, as write_archive(n) labels them."""
    out = {s: dict.fromkeys(GENRES, 0) for s in ("train", "dev", "test")}
    for i in range(n):
        for g in sample_genres(i):
            out[split_of(i, n)][g] += 1
    return out


def write_archive(path: Path, n: int = 60) -> Path:
    lines = []
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            g = sample_genres(i)
            zf.writestr(f"posters/{i}.png", poster(g, i))
            split = split_of(i, n)
            lines.append(json.dumps({"id": f"m{i}", "poster": f"posters/{i}.png", "plot": plot(g, i),
                                     "labels": g, "split": split}))
        zf.writestr("manifest.jsonl", "\n".join(lines) + "\n")
        zf.writestr("schema.json", json.dumps({"fields": {"poster": "image", "plot": "text"}}))
    return path


TINY = {"space": {"C": 8, "L": 4}, "search": {"batch_size": 12}, "pretrain": {"batch_size": 12},
        "finetune": {"batch_size": 12, "min_dev_samples": 12}, "num_threads": 1}


def zip_folder(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return dest
