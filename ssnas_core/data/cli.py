"""``python -m ssnas_core data ...``: build benchmark caches, inspect and convert datasets.

    data build movies23|avmnist [--data-root ../shared/data] --out DIR [backbone flags]
    data inspect PATH [--deep]
    data convert PATH --out DIR [backbone flags]

``--out`` is a cache root: the features land in ``DIR/<cache key>/`` (printed as JSON on
stdout with the time taken), a finished key is reused, an interrupted one resumed.
Backbone flags: ``--image-backbone NAME --image-weights PATH`` (and ``text``, ``audio``,
``vector``) apply to every field of that kind; ``--backbone FIELD=SPEC`` sets one field,
where SPEC is a name or a JSON spec ``{"name": .., "weights": .., "options": {..}}``, or
``none`` to leave the field out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..backbones import DEFAULT_BY_KIND, KINDS, BackboneError, list_backbones
from .extract import build_features
from .features import FeatureFormatError
from .formats import format_lines
from .raw import DataFormatError

# Per-benchmark defaults: movies23 uses the offline defaults (efficientnet_lite0 on posters at
# 256 x 160, minilm on plots). AV-MNIST digits are 28 x 28: 64 x 64 input is enough, and
# fewer taps keep the 70,000-sample cache near 1.3 GB (linear probes on 2,000 train / 500 test
# pairs: digit s4 98.4%, s6 97.2%, head 91.2%; speech mel 95.6%, c3 96.4%, c4 95.4%).
BENCHMARKS: dict[str, dict[str, Any]] = {
    "movies23": {"path": "movies23/mmimdb_style.zip", "backbones": {}},
    "avmnist": {"path": "avmnist", "backbones": {
        "digit": {"name": "efficientnet_lite0",
                  "options": {"image_size": 64, "taps": ["s4", "s6", "head"]}},
        "speech": {"name": "audio_cnn", "options": {"taps": ["mel", "c2", "c3"]}}}},
}


def _add_backbone_flags(p: argparse.ArgumentParser) -> None:
    for kind in KINDS:
        p.add_argument(f"--{kind}-backbone", metavar="NAME", help=f"backbone for {kind} fields")
        p.add_argument(f"--{kind}-weights", metavar="PATH", help=f"weights for the {kind} backbone")
    p.add_argument("--backbone", action="append", default=[], metavar="FIELD=SPEC",
                   help="backbone of one field: a name, a JSON spec, or none")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--parallel", choices=["auto", "fields", "ops"], default="auto",
                   help="fields: one thread per field side by side; ops: torch's own threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def help_epilog() -> str:
    """Formats and backbones, listed by ``data --help``."""
    defaults = {name: kind for kind, name in DEFAULT_BY_KIND.items()}
    bbs = "\n".join(f"  {name:<19}" + (f"default for {defaults[name]} fields" if name in defaults else "")
                    for name in list_backbones())
    return (f"formats (detected by content; `inspect` names what is missing):\n{format_lines()}\n\n"
            f"backbones (--{{image,text,audio,vector}}-backbone NAME, --backbone FIELD=SPEC):\n{bbs}\n\n"
            "every format, with examples: api/README.md, 'Upload formats'")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ssnas_core data", description=__doc__.split("\n")[0],
                                epilog=help_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="feature cache of a benchmark pack")
    b.add_argument("benchmark", choices=sorted(BENCHMARKS))
    b.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--limit", type=int, default=None,
                   help="at most N samples per split (a seeded subset; for quick runs)")
    _add_backbone_flags(b)
    i = sub.add_parser("inspect", help="format and summary of a dataset or feature directory")
    i.add_argument("path", type=Path)
    i.add_argument("--deep", action="store_true", help="decode every sample")
    c = sub.add_parser("convert", help="any raw format -> feature directory")
    c.add_argument("path", type=Path)
    c.add_argument("--out", type=Path, required=True)
    _add_backbone_flags(c)
    return p


def _parse_spec(text: str) -> Any:
    text = text.strip()
    if text.lower() == "none":
        return None
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BackboneError(f"--backbone: invalid JSON spec {text!r} ({exc})") from exc
    return text


def backbone_choice(args: argparse.Namespace, fields: dict[str, str],
                    defaults: dict[str, Any]) -> dict[str, Any]:
    """field -> spec from the benchmark defaults, the per-kind flags and --backbone FIELD=SPEC."""
    chosen = dict(defaults)
    for field, kind in fields.items():
        name, weights = getattr(args, f"{kind}_backbone"), getattr(args, f"{kind}_weights")
        if name or weights:
            base = chosen.get(field)
            base_name = base["name"] if isinstance(base, dict) else base
            if not (name or base_name):
                raise BackboneError(f"--{kind}-weights needs --{kind}-backbone")
            spec = {"name": name or base_name, "weights": weights}
            if isinstance(base, dict) and not name:
                spec["options"] = base.get("options", {})
            chosen[field] = spec
    for item in args.backbone:
        field, sep, spec = item.partition("=")
        if not sep or field not in fields:
            raise BackboneError(f"--backbone {item!r}: expected FIELD=SPEC with FIELD in {list(fields)}")
        chosen[field] = _parse_spec(spec)
    return chosen


def _open_benchmark(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    bench = BENCHMARKS[args.benchmark]
    path = args.data_root / bench["path"]
    if not path.exists():
        raise DataFormatError(f"{path}: not found (is --data-root the shared data folder?)")
    if args.benchmark == "avmnist":
        from .avmnist import load_avmnist

        return load_avmnist(path, limit=args.limit), bench["backbones"]
    from .mmimdb_raw import load_mmimdb_raw

    raw = load_mmimdb_raw(path)
    if args.limit is not None:
        raw.keep(_per_split_subset(raw.split, args.limit))
    return raw, bench["backbones"]


def _per_split_subset(split: Any, limit: int, seed: int = 0) -> Any:
    """Mask keeping a seeded random ``limit`` samples of each split."""
    import numpy as np

    if limit < 1:
        raise DataFormatError(f"--limit must be >= 1, got {limit}")
    rng, keep = np.random.default_rng(seed), np.zeros(len(split), dtype=bool)
    for code in np.unique(split):
        keep[rng.permutation(np.flatnonzero(split == code))[:limit]] = True
    return keep


def _extract(raw: Any, args: argparse.Namespace, defaults: dict[str, Any]) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    backbones = backbone_choice(args, raw.fields, defaults)
    batches = []
    start = time.perf_counter()
    fd = build_features(raw, backbones, args.out, callback=batches.append,
                        batch_size=args.batch_size, device=args.device, progress=not args.quiet,
                        parallel={"auto": None, "fields": True, "ops": False}[args.parallel])
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in fd.path.iterdir() if f.is_file())
    return {"features": str(fd.path), "cached": not batches, "seconds": round(seconds, 2),
            "num_samples": len(fd), "bytes": size, "split_counts": fd.manifest.split_counts,
            "nodes": [{"name": n.name, "modality": n.modality, "shape": list(n.shape)}
                      for n in fd.node_specs],
            "backbones": fd.manifest.info["backbones"]}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "inspect":
            from .detect import inspect

            result = inspect(args.path, deep=args.deep)
        elif args.command == "build":
            raw, defaults = _open_benchmark(args)
            result = _extract(raw, args, defaults)
        else:
            from .detect import open_raw

            result = _extract(open_raw(args.path), args, {})
    except (DataFormatError, BackboneError, FeatureFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the rows written so far are kept; run again to resume", file=sys.stderr)
        return 130
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
