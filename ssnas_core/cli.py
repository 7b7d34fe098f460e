"""Command line: ``python -m ssnas_core search|pretrain|finetune|evaluate|predict|run|data``.

Run parameters come from a JSON or YAML file (the fields of ``RunConfig``), optionally
overridden with ``--set search.epochs=3``. Results are written as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from .callbacks import ProgressEvent
from .config import ConfigError, RunConfig
from .data.features import SPLITS, FeatureDataset
from .genotype import Genotype


class TqdmCallback:
    """One progress bar per stage, advanced by the training loops' events."""

    def __init__(self, quiet: bool = False):
        self.bar, self.stage, self.quiet = None, None, quiet

    def __call__(self, ev: ProgressEvent) -> None:
        if self.quiet:
            return
        if ev.stage != self.stage:
            if self.bar:
                self.bar.close()
            self.bar, self.stage = tqdm(total=1000, desc=ev.stage, unit="‰", leave=True), ev.stage
        self.bar.n = int(1000 * ev.progress)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in list(ev.metrics.items())[:4]}, refresh=True)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def load_config(path: str | None, overrides: list[str]) -> RunConfig:
    data: dict[str, Any] = {}
    if path:
        text = Path(path).read_text()
        data = json.loads(text) if path.endswith(".json") else (yaml.safe_load(text) or {})
    for item in overrides:
        key, _, raw = item.partition("=")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw)
    return RunConfig.from_dict(data)


def _write(result: dict, out: str | None) -> None:
    text = json.dumps(result, indent=1, default=float)
    if out:
        Path(out).write_text(text)
    else:
        print(text)


def _genotype(args, workdir: Path) -> Genotype:
    if args.genotype:
        return Genotype.from_json(Path(args.genotype).read_text())
    res = workdir / "search_result.json"
    if not res.exists():
        raise SystemExit(f"no genotype: run `search` with --workdir {workdir} first, or pass --genotype FILE")
    return Genotype.from_json(json.loads(res.read_text())["genotype"])


def cmd_train(args) -> dict:
    from . import pipeline

    cfg, ds, workdir = load_config(args.config, args.set), FeatureDataset(args.features), Path(args.workdir)
    cb = TqdmCallback(args.quiet)
    try:
        if args.command == "run":
            return pipeline.run_pipeline(ds, cfg, workdir, cb)
        if args.command == "search":
            g, res = pipeline.search_stage(ds, cfg, workdir, cb)
            return {"genotype": g.to_json(), **{k: v for k, v in res.items() if k != "genotype"}}
        genotype = _genotype(args, workdir)
        if args.command == "pretrain":
            _, hist = pipeline.pretrain_stage(ds, cfg, workdir, genotype, cb)
            return {"pretrain": hist, "state": str(workdir / pipeline.PRETRAIN_STATE)}
        return pipeline.finetune_stage(ds, cfg, workdir, genotype, cb)
    finally:
        cb.close()


def cmd_evaluate(args) -> dict:
    from .checkpoint import load_model
    from .data.summary import INFO_KEY, SUFFIX, SummarizedDataset
    from .finetune import evaluate

    model, meta = load_model(args.checkpoint)
    ds = FeatureDataset(args.features)
    if meta.get(INFO_KEY) and not any(n.name.endswith(SUFFIX) for n in ds.node_specs):
        ds = SummarizedDataset(ds, meta[INFO_KEY])  # the summaries with the statistics the model was trained on
    threshold = meta.get("thresholds") or meta.get("threshold")  # the one chosen on dev at finetuning
    return {"split": args.split, "metrics": evaluate(model, ds, ds.split_indices(args.split), "cpu", threshold)}


def cmd_predict(args) -> dict:
    from .predict import Predictor

    pred = Predictor.load(args.checkpoint)
    ds = FeatureDataset(args.features)
    idx = ds.split_indices(args.split)[: args.limit]
    probs = pred.predict_features(ds.get(idx))
    return {"label_names": pred.label_names, "threshold": pred.threshold,
            "predictions": [{"id": ds.ids[i], "probabilities": np.round(p, 5).tolist(), "labels": lab}
                            for i, p, lab in zip(idx, probs, pred.labels(probs))]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ssnas_core", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in [("run", "search + pretrain + finetune + evaluate"), ("search", "architecture search"),
                        ("pretrain", "contrastive pretraining of the found network"),
                        ("finetune", "finetune on the labeled fraction and evaluate")]:
        s = sub.add_parser(name, help=help_)
        s.add_argument("--features", required=True, help="feature directory (manifest.json + features.h5)")
        s.add_argument("--config", help="JSON or YAML file with RunConfig fields")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. search.epochs=3")
        s.add_argument("--workdir", required=True, help="stage outputs and resumable state")
        s.add_argument("--genotype", help="genotype JSON (pretrain/finetune; default: the workdir's search result)")
        s.add_argument("--out", help="write the result JSON here (default: stdout)")
        s.add_argument("--quiet", action="store_true", help="no progress bar")
    for name in ("evaluate", "predict"):
        s = sub.add_parser(name, help=f"{name} with a model checkpoint on a feature directory")
        s.add_argument("--checkpoint", required=True)
        s.add_argument("--features", required=True)
        s.add_argument("--split", default="test", choices=SPLITS)
        s.add_argument("--limit", type=int, default=None)
        s.add_argument("--out")
    sub.add_parser("data", help="dataset formats, backbones and feature caches (see `data --help`)",
                   add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        from .data.cli import main as data_main
        return data_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        handler = {"evaluate": cmd_evaluate, "predict": cmd_predict}.get(args.command, cmd_train)
        _write(handler(args), getattr(args, "out", None))
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
