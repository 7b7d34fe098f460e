"""CLI handlers for datasets, models and predict (jobs are in jobs_cli.py)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .client import Client
from .config import ConfigError
from .render import dataset_line, dataset_text, model_text, predictions_text


def _bar(total: int, desc: str, args: argparse.Namespace) -> tqdm:
    """A byte progress bar on stderr (hidden with --json or when stderr is not a terminal)."""
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, disable=args.json or not sys.stderr.isatty(), leave=False)


# -- datasets -----------------------------------------------------------------------------------
def add_dataset_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("upload", parents=[common], help="upload a dataset file (zip, HDF5, ...)")
    p.add_argument("file")
    p.add_argument("--name", help="display name (default: the file name)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the new dataset's id")
    p.set_defaults(func=dataset_upload)
    p = sub.add_parser("list", parents=[common], help="your datasets, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=dataset_list)
    for name, func, text in (("show", dataset_show, "one dataset with its summary"),
                             ("delete", dataset_delete, "delete a dataset and its files")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("id")
        p.set_defaults(func=func)


def dataset_upload(c: Client, args: argparse.Namespace, emit) -> int:
    path = Path(args.file)
    with _bar(path.stat().st_size, f"upload {path.name}", args) as bar:
        ds = c.upload_dataset(path, args.name, progress=bar.update)
    emit(args, ds.to_json(), ds.id if args.quiet else lambda: "uploaded " + dataset_text(ds))
    return 0


def dataset_list(c: Client, args: argparse.Namespace, emit) -> int:
    page = c.list_datasets(args.limit, args.offset)
    emit(args, page.to_json(), lambda: "\n".join([dataset_line(d) for d in page.items]
                                                 + [f"({len(page.items)} of {page.total})"]))
    return 0


def dataset_show(c: Client, args: argparse.Namespace, emit) -> int:
    ds = c.get_dataset(args.id)
    emit(args, ds.to_json(), lambda: dataset_text(ds))
    return 0


def dataset_delete(c: Client, args: argparse.Namespace, emit) -> int:
    c.delete_dataset(args.id)
    emit(args, {"deleted": args.id}, f"deleted dataset {args.id}")
    return 0


# -- models -------------------------------------------------------------------------------------
def add_model_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("list", parents=[common], help="your models, newest first").set_defaults(func=model_list)
    p = sub.add_parser("show", parents=[common], help="a model: metrics, labels, threshold, genotype")
    p.add_argument("id")
    p.set_defaults(func=model_show)
    p = sub.add_parser("download", parents=[common], help="weights (sha256 checked) + genotype JSON and SVG")
    p.add_argument("id")
    p.add_argument("-o", "--out", default=".", help="folder to write into (created)")
    p.set_defaults(func=model_download)


def model_list(c: Client, args: argparse.Namespace, emit) -> int:
    models = c.list_models()
    emit(args, {"items": [m.to_json() for m in models]},
         lambda: "\n".join(f"{m.id}  job {m.job_id}  {len(m.label_names)} labels  {m.created_at}"
                           for m in models) or "(no models)")
    return 0


def model_show(c: Client, args: argparse.Namespace, emit) -> int:
    m = c.get_model(args.id)
    emit(args, m.to_json(), lambda: model_text(m))
    return 0


def model_download(c: Client, args: argparse.Namespace, emit) -> int:
    m = c.get_model(args.id)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"model-{m.id}.safetensors"
    with _bar(m.weights_size, "weights", args) as bar:
        sha = c.download_weights(m.id, weights, progress=bar.update)
    files = {"weights": str(weights), "sha256": sha}
    (out / "genotype.json").write_text(json.dumps(m.genotype, indent=1))
    files["genotype"] = str(out / "genotype.json")
    if m.job_id:
        (out / "genotype.svg").write_text(c.genotype_svg(m.job_id))
        files["genotype_svg"] = str(out / "genotype.svg")
    (out / "model.json").write_text(json.dumps(m.to_json(), indent=1))
    files["model"] = str(out / "model.json")
    emit(args, files, lambda: "\n".join(f"{k:12s} {v}" for k, v in files.items()) + "\n(sha256 checked)")
    return 0


# -- predict ------------------------------------------------------------------------------------
def add_predict_parser(top: Any, common: argparse.ArgumentParser) -> None:
    p = top.add_parser("predict", parents=[common], help="labels with probabilities from a model",
                       description="One sample from --poster/--plot/--field/--file, or many from "
                       "--batch (CSV with a header or JSONL; a value naming an existing file, relative "
                       "to the batch file, is sent as that file's bytes).")
    p.add_argument("model")
    p.add_argument("--poster", help="image file for the field 'poster'")
    p.add_argument("--plot", help="text for the field 'plot'")
    p.add_argument("--field", action="append", default=[], metavar="NAME=TEXT", help="a text/value field")
    p.add_argument("--file", action="append", default=[], metavar="NAME=PATH", help="an image/audio field")
    p.add_argument("--batch", help="CSV or JSONL file, one sample per row")
    p.add_argument("--top", type=int, default=5, help="probabilities shown per sample")
    p.set_defaults(func=predict)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--{what} {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def single_sample(args: argparse.Namespace) -> dict[str, Any]:
    sample: dict[str, Any] = dict(_pairs(args.field, "field"))
    sample.update({k: Path(v) for k, v in _pairs(args.file, "file").items()})
    if args.poster:
        sample["poster"] = Path(args.poster)
    if args.plot is not None:
        sample["plot"] = args.plot
    for k, v in sample.items():
        if isinstance(v, Path) and not v.is_file():
            raise ConfigError(f"{k}: no such file {v}")
    return sample


def read_batch(path: str) -> list[dict[str, Any]]:
    """Rows of a CSV (header = field names) or JSONL file; file names become ``Path``s."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise ConfigError(f"--batch {path}: no rows")

    def value(v: Any) -> Any:
        if isinstance(v, str) and v and len(v) < 1024 and (p.parent / v).is_file():
            return p.parent / v
        return v

    return [{k: value(v) for k, v in row.items() if k} for row in rows]


def predict(c: Client, args: argparse.Namespace, emit) -> int:
    if args.batch:
        result = c.predict_batch(args.model, read_batch(args.batch))
    else:
        sample = single_sample(args)
        if not sample:
            raise ConfigError("give inputs: --poster/--plot, --field/--file, or --batch")
        result = c.predict(args.model, sample)
    emit(args, result.to_json(), lambda: predictions_text(result, args.top))
    return 0
