"""A real multimodal, multi-label example dataset that pip alone can fetch: Font Awesome Free.

Each icon is one sample: its glyph rendered from the webfont (image), its name and search terms
(text), and the Font Awesome categories it belongs to (labels; an icon is in 1-9 categories).
Written as a *generic archive* (``manifest.jsonl`` + ``schema.json`` + PNG files in one zip) that
``POST /datasets`` accepts. Source: the ``fontawesomefree`` wheel (Font Awesome Free 6.x: icons
CC BY 4.0, fonts SIL OFL 1.1, metadata MIT; see its LICENSE.txt), a dev extra of the project
(``bash scripts/setup.sh`` installs it).

    python scripts/example_icons.py --out icons.zip [--categories 10] [--max-icons 600] [--size 64]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

PACKAGE = "fontawesomefree==6.6.0"
FONTS = {"solid": "fa-solid-900.ttf", "regular": "fa-regular-400.ttf", "brands": "fa-brands-400.ttf"}


def fa_root() -> Path:
    """The Font Awesome Free package folder inside the installed ``fontawesomefree`` wheel."""
    try:
        import fontawesomefree
    except ImportError as exc:
        raise SystemExit(f"the example dataset needs the pip package {PACKAGE!r}: run "
                         "`bash scripts/setup.sh` (or `pip install fontawesomefree`)") from exc
    return (Path(fontawesomefree.__file__).parent / "static" / "fontawesomefree" / "js-packages"
            / "@fortawesome" / "fontawesome-free")


def load_icons(root: Path, num_categories: int, max_icons: int | None = None) -> tuple[list[dict], list[str]]:
    """Icons in at least one of the ``num_categories`` largest categories, with their labels
    (at most ``max_icons``, a stable selection by name hash)."""
    import yaml

    cats = yaml.safe_load((root / "metadata" / "categories.yml").read_text())
    icons = yaml.safe_load((root / "metadata" / "icons.yml").read_text())
    members: dict[str, set[str]] = {}
    for cat, entry in cats.items():
        for name in entry.get("icons", []):
            members.setdefault(name, set()).add(cat)
    counts = Counter(c for cs in members.values() for c in cs)
    keep = sorted(c for c, _ in counts.most_common(num_categories))
    rows = []
    for name in sorted(members):
        labels = sorted(members[name] & set(keep))
        meta = icons.get(name)
        if not labels or meta is None:
            continue
        style = next(s for s in ("solid", "regular", "brands") if s in meta.get("styles", []))
        terms = [t for t in (meta.get("search") or {}).get("terms", []) if isinstance(t, str)]
        rows.append({"id": name, "labels": labels, "style": style, "unicode": meta["unicode"],
                     "text": f"{meta.get('label', name)}. " + ", ".join(terms)})
    if max_icons is not None and len(rows) > max_icons:
        rows = sorted(sorted(rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())[:max_icons],
                      key=lambda r: r["id"])
    return rows, keep


def render(root: Path, style: str, unicode_hex: str, size: int) -> bytes:
    """The glyph, black on white, centred in a size x size RGB PNG."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(root / "webfonts" / FONTS[style]), int(size * 0.75))
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    glyph = chr(int(unicode_hex, 16))
    left, top, right, bottom = draw.textbbox((0, 0), glyph, font=font)
    draw.text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top), glyph,
              font=font, fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def split_of(name: str) -> str:
    """A stable 70/10/20 split from the icon name's hash."""
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
    return "train" if h < 70 else ("dev" if h < 80 else "test")


def build(out: Path, num_categories: int = 10, size: int = 64, max_icons: int | None = 600) -> dict:
    """Write the zip; returns a summary (samples, label names, split counts)."""
    root = fa_root()
    rows, labels = load_icons(root, num_categories, max_icons)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    splits: Counter = Counter()
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        lines = []
        for r in rows:
            zf.writestr(f"glyphs/{r['id']}.png", render(root, r["style"], r["unicode"], size))
            split = split_of(r["id"])
            splits[split] += 1
            lines.append(json.dumps({"id": r["id"], "glyph": f"glyphs/{r['id']}.png", "terms": r["text"],
                                     "labels": r["labels"], "split": split}))
        zf.writestr("manifest.jsonl", "\n".join(lines) + "\n")
        zf.writestr("schema.json", json.dumps({"fields": {"glyph": "image", "terms": "text"},
                                               "label_names": labels}))
        zf.writestr("LICENSE.txt", (root / "LICENSE.txt").read_text())
    tmp.replace(out)
    return {"path": str(out), "samples": len(rows), "labels": labels, "splits": dict(splits)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--categories", type=int, default=10)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--max-icons", type=int, default=600)
    a = p.parse_args(argv)
    print(json.dumps(build(a.out, a.categories, a.size, a.max_icons), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
