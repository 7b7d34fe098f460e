"""Raw dataset -> cached feature directory with frozen backbones (METHOD.md sections 1-2).

``build_features(raw, backbones, out_dir)`` runs every field of ``raw`` through its
backbone in batches and writes one node per tap, named ``<field>.<backbone>.<tap>`` with
``modality = <field>``, in float16 (maps max-pooled to 4 x 4). The result lives in
``out_dir/<key>/`` where ``key = hash(dataset fingerprint, backbone specs + weight ids,
extractor version)``:

- a second call with the same inputs finds the finished directory and returns it;
- an interrupted call (crash, or a callback that raises) leaves a partial directory whose
  ``rows_done`` lets the next call continue where it stopped; the manifest only appears
  once every row is written, so a partial directory is never read as features;
- concurrent calls for the same key wait on a lock file instead of writing twice;
- a sample whose data cannot be decoded (an image Pillow cannot read...) is left out and
  recorded in ``raw.report`` (so in the manifest's ``load_report``), and the extraction starts
  again without it: one bad sample never fails the whole extraction.

``extract_one(samples, backbones)`` runs the same preprocessing and backbones on a few raw
samples (for ``/predict``), with the models loaded once per process.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..backbones import DEFAULT_BY_KIND, Backbone, BackboneError, BackboneSpec, cached_backbone
from ..callbacks import Callback, ProgressEvent
from .features import MANIFEST, FeatureDataset, FeatureWriter, Manifest, NodeSpec
from .fingerprint import BadSample, CacheLock, cache_key, dataset_fingerprint, sample_or_bad
from .raw import DataFormatError, RawDataset
from .values import check_kind

log = logging.getLogger("ssnas_core.extract")
EXTRACTOR_VERSION = 1  # bump when preprocessing or a backbone's computation changes
FP16_MAX = 65504.0


def resolve_specs(fields: dict[str, str], backbones: dict[str, Any] | None
                  ) -> dict[str, BackboneSpec]:
    """field -> backbone spec: the given ones, the default of the field's kind for the rest.

    A field mapped to ``None`` is left out. Unknown field names are an error.
    """
    backbones = dict(backbones or {})
    unknown = sorted(set(backbones) - set(fields))
    if unknown:
        raise BackboneError(f"backbones given for unknown fields {unknown}; fields: {list(fields)}")
    specs = {}
    for name, kind in fields.items():
        value = backbones.get(name, DEFAULT_BY_KIND[kind])
        if value is not None:
            specs[name] = BackboneSpec.parse(value)
    if not specs:
        raise BackboneError("no field left to extract")
    return specs


def load_backbones(specs: dict[str, BackboneSpec], fields: dict[str, str], device: str,
                   example: dict[str, Any] | None = None) -> dict[str, Backbone]:
    """field -> loaded backbone (cached per process); checks kinds; sizes identity from data."""
    out = {}
    for field, spec in specs.items():
        if spec.name == "identity" and "dim" not in spec.options:
            if example is None:
                raise BackboneError(f"{field}: identity needs options.dim")
            dim = int(np.asarray(example[field]).size)
            spec = specs[field] = BackboneSpec(spec.name, spec.weights, spec.options | {"dim": dim})
        bb = cached_backbone(spec, device)
        if bb.kind != fields[field]:
            raise BackboneError(f"field {field!r} is {fields[field]}, but backbone {bb.name} "
                                f"takes {bb.kind} values")
        out[field] = bb
    return out


def node_specs(backbones: dict[str, Backbone]) -> tuple[NodeSpec, ...]:
    return tuple(NodeSpec(f"{field}.{bb.name}.{tap}", field, shape)
                 for field, bb in backbones.items() for tap, shape in bb.taps)


def _run_field(field: str, bb: Backbone, samples: list[dict[str, Any]],
               ids: list[str] | None) -> dict[str, np.ndarray]:
    items = []
    for j, s in enumerate(samples):
        try:
            items.append(bb.preprocess(s[field]))
        except (BackboneError, KeyError, ValueError, TypeError) as exc:
            if ids is not None:  # extraction: the sample is left out (see build_features)
                raise BadSample(j, f"field {field!r}: {exc}") from exc
            raise DataFormatError(f"sample {j}, field {field!r}: {exc}") from exc
    with torch.inference_mode():
        taps = bb.forward(bb.collate(items))
    return {f"{field}.{bb.name}.{tap}": np.clip(arr.numpy(), -FP16_MAX, FP16_MAX)
            for tap, arr in taps.items()}


def run_batch(samples: list[dict[str, Any]], backbones: dict[str, Backbone],
              ids: list[str] | None = None, pool: ThreadPoolExecutor | None = None
              ) -> dict[str, np.ndarray]:
    """Raw samples -> {node name: float32 array (B, *shape)}, clipped to the float16 range.

    With ``pool``, the fields run concurrently (one thread each; torch releases the GIL).
    """
    if pool is None:
        parts = [_run_field(f, bb, samples, ids) for f, bb in backbones.items()]
    else:
        jobs = [pool.submit(_run_field, f, bb, samples, ids) for f, bb in backbones.items()]
        parts = [job.result() for job in jobs]
    return {name: arr for part in parts for name, arr in part.items()}


@contextmanager
def field_parallel(backbones: dict[str, Backbone], enabled: bool | None) -> Iterator[Any]:
    """A thread pool running the fields side by side, each with one torch thread.

    On a shared 2-core machine this beats torch's intra-op threads by a wide margin (its
    threads spin-wait on each other when a core is taken away); ``None`` enables it on
    the CPU when there are several fields and several torch threads. The previous thread
    count is restored on exit.
    """
    threads = torch.get_num_threads()
    on_cpu = all(bb.device.type == "cpu" for bb in backbones.values())
    if enabled is None:
        enabled = on_cpu and len(backbones) > 1 and threads > 1
    if not enabled:
        yield None
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=len(backbones), thread_name_prefix="field") as pool:
            yield pool
    finally:
        torch.set_num_threads(threads)


def extract_one(samples: list[dict[str, Any]], backbones: dict[str, Any],
                device: str = "cpu", pool: ThreadPoolExecutor | None = None) -> dict[str, np.ndarray]:
    """Features of raw samples for prediction: {node: float32 (B, *shape)}.

    ``backbones`` is ``manifest.info["backbones"]`` (field -> spec), so the nodes and the
    preprocessing match the cache the model was trained on. Models stay loaded per process.
    """
    if not samples:
        raise DataFormatError("no samples given")
    specs = {f: BackboneSpec.parse(v) for f, v in backbones.items()}
    missing = sorted({f for f in specs for s in samples if f not in s})
    if missing:
        raise DataFormatError(f"samples lack the fields {missing} (expected {sorted(specs)})")
    loaded = {f: cached_backbone(s, device) for f, s in specs.items()}
    for sample in samples:
        for field, bb in loaded.items():
            check_kind(field, bb.kind, sample[field])
    return run_batch(samples, loaded, pool=pool)


def field_kinds(backbones: dict[str, Any], device: Any = "cpu") -> dict[str, str]:
    """field -> the kind of value its backbone takes (``manifest.info["backbones"]`` given)."""
    return {f: cached_backbone(BackboneSpec.parse(v), device).kind for f, v in backbones.items()}


def _manifest(raw: RawDataset, backbones: dict[str, Backbone], specs: dict[str, BackboneSpec],
              fingerprint: str, key: str) -> Manifest:
    info = getattr(raw, "info", {}) or {}
    report = raw.report.to_json() if getattr(raw, "report", None) is not None else {}
    report["rejected"] = report.get("rejected", [])[:50]
    return Manifest(
        nodes=node_specs(backbones), label_names=tuple(raw.label_names), task=raw.task,
        num_samples=len(raw),
        info={"source_format": info.get("format", type(raw).__name__),
              "source": info.get("source"), "dataset_fingerprint": fingerprint,
              "cache_key": key, "extractor_version": EXTRACTOR_VERSION, "dtype": "float16",
              "backbones": {f: s.to_json() for f, s in specs.items()},
              "backbone_details": {f: bb.describe() for f, bb in backbones.items()},
              "fields": dict(raw.fields), "load_report": report})


def _open_writer(path: Path, manifest: Manifest) -> FeatureWriter:
    """A writer on ``path``, resuming a partial file; a corrupt partial file is restarted."""
    try:
        return FeatureWriter(path, manifest)
    except (OSError, KeyError):
        shutil.rmtree(path, ignore_errors=True)
        return FeatureWriter(path, manifest)


def _batches(start: int, n: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(start, n, size):
        yield lo, min(n, lo + size)


def build_features(raw: RawDataset, backbones: dict[str, Any] | None, out_dir: str | os.PathLike,
                   callback: Callback | None = None, batch_size: int = 128, device: str = "cpu",
                   progress: bool = False, parallel: bool | None = None) -> FeatureDataset:
    """Extract (or reuse) the cached features of ``raw``; see the module docstring.

    backbones: field -> spec (name or {"name", "weights", "options"}); None or a missing
    field uses ``DEFAULT_BY_KIND``. callback gets ``ProgressEvent(stage="features")`` after
    every batch and may raise to stop (the rows written so far are kept for resuming).
    progress: show a tqdm bar on stderr. parallel: run the fields side by side on one torch
    thread each (``field_parallel``; None = automatic). Returns the opened FeatureDataset.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(raw) == 0:
        raise DataFormatError("the dataset has no samples")
    specs = resolve_specs(raw.fields, backbones)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            return _build_once(raw, specs, out_dir, device, callback, batch_size, progress, parallel)
        except BadSample as bad:  # leave it out (recorded in the report) and start again
            _leave_out(raw, bad)


def _build_once(raw: RawDataset, specs: dict[str, BackboneSpec], out_dir: Path, device: str,
                callback: Callback | None, batch_size: int, progress: bool,
                parallel: bool | None) -> FeatureDataset:
    loaded = load_backbones(specs, raw.fields, device, example=sample_or_bad(raw, 0))
    fingerprint = dataset_fingerprint(raw)
    key = cache_key(fingerprint, loaded, specs, EXTRACTOR_VERSION)
    path = out_dir / key
    with CacheLock(out_dir / f".{key}.lock"):
        if (path / MANIFEST).exists():
            return FeatureDataset(path)
        manifest = _manifest(raw, loaded, specs, fingerprint, key)
        try:
            with _open_writer(path, manifest) as writer:
                _fill(raw, loaded, writer, callback, batch_size, progress, parallel)
        except BadSample:
            shutil.rmtree(path, ignore_errors=True)  # its key names a dataset with that sample
            raise
        if not (path / MANIFEST).exists():
            raise DataFormatError(f"{path}: extraction ended before every row was written")
    return FeatureDataset(path)


def _refuse_nonfinite(nodes: dict[str, np.ndarray], lo: int) -> None:
    """BadSample for the first row of the batch whose features hold NaN or infinities."""
    for name, arr in nodes.items():
        finite = np.isfinite(arr.reshape(len(arr), -1)).all(1)
        if not finite.all():
            raise BadSample(lo + int(np.flatnonzero(~finite)[0]),
                            f"its features hold NaN or infinite values (node {name!r})")


def _leave_out(raw: RawDataset, bad: BadSample) -> None:
    """Record the bad sample in the report and drop it (DataFormatError when none is left, or
    when the raw dataset cannot drop samples)."""
    sid = raw.ids[bad.index]
    if not hasattr(raw, "keep"):
        raise DataFormatError(f"sample {sid!r}: {bad.problem}") from bad
    log.warning("feature extraction: sample %r left out: %s", sid, bad.problem)
    raw.report.reject(sid, bad.problem)
    mask = np.ones(len(raw), dtype=bool)
    mask[bad.index] = False
    raw.keep(mask)


def _fill(raw: RawDataset, backbones: dict[str, Backbone], writer: FeatureWriter,
          callback: Callback | None, batch_size: int, progress: bool,
          parallel: bool | None) -> None:
    n, start = len(raw), writer.rows_done
    steps = -(-n // batch_size)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, initial=start, unit="sample", desc="features")
    try:
        with field_parallel(backbones, parallel) as pool:
            for lo, hi in _batches(start, n, batch_size):
                ids = raw.ids[lo:hi]
                samples = [sample_or_bad(raw, i) for i in range(lo, hi)]
                try:
                    nodes = run_batch(samples, backbones, ids, pool)
                except BadSample as bad:  # its index counts within the batch
                    raise BadSample(lo + bad.index, bad.problem) from bad
                _refuse_nonfinite(nodes, lo)
                writer.write(lo, nodes, raw.labels[lo:hi], raw.split[lo:hi], ids)
                if bar is not None:
                    bar.update(hi - lo)
                if callback is not None:
                    callback(ProgressEvent("features", 0, 1, -(-hi // batch_size), steps,
                                           {"rows_done": float(hi), "rows": float(n)}))
    finally:
        if bar is not None:
            bar.close()
