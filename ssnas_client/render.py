"""Plain-text views of the client's results for the CLI (``--json`` prints the raw JSON instead)."""

from __future__ import annotations

from typing import Any

from .types import Dataset, Job, Metric, Model, PredictResult


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def number(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def metrics_line(m: Metric | None, limit: int = 4) -> str:
    """``search ep 2: train_loss=1.23 arch_loss=1.1 ...`` (the first few numeric values)."""
    if m is None:
        return ""
    vals = [(k, v) for k, v in (m.metrics or {}).items()
            if isinstance(v, (int, float)) and k != "epoch" and not k.endswith("_time_s")]
    return f"{m.stage} ep {m.epoch}: " + " ".join(f"{k}={number(v)}" for k, v in vals[:limit])


def dataset_line(d: Dataset) -> str:
    n = (d.summary or {}).get("num_samples", "?")
    return f"{d.id}  {d.name:24s} {d.format:12s} {n:>7} samples  {d.size:>12,d} B  {d.created_at}"


def dataset_text(d: Dataset) -> str:
    s = d.summary or {}
    lines = [f"dataset {d.id}  {d.name}", f"  {'format':12s} {d.format}", f"  {'size':12s} {d.size:,d} bytes",
             f"  {'sha256':12s} {d.sha256}"]
    for key in ("num_samples", "splits", "modalities", "task", "label_names", "label_counts"):
        if key in s:
            lines.append(f"  {key:12s} {_short(s[key])}")
    return "\n".join(lines)


def _short(v: Any, limit: int = 200) -> str:
    text = ", ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else (
        ", ".join(map(str, v)) if isinstance(v, list) else str(v))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def job_line(j: Job) -> str:
    stage = j.stage or "-"
    return (f"{j.id}  {j.status:9s} {stage:9s} {100 * (j.progress or 0):5.1f}%  {j.method:10s} "
            f"dataset {j.dataset_id}  {j.created_at}")


def job_text(j: Job) -> str:
    eta = "" if j.done else f", ETA {duration(j.eta_s)}"
    lines = [f"job {j.id}", f"  status   {j.status} (stage {j.stage or '-'}, {100 * (j.progress or 0):.1f}%"
             f"{eta}, attempt {j.attempt}/{j.max_attempts})",
             f"  method   {j.method}   dataset {j.dataset_id}   queue {j.queue}"]
    if j.latest_metrics:
        lines.append(f"  latest   {metrics_line(j.latest_metrics, 8)}")
    if j.error:
        lines.append(f"  error    {j.error}")
    if j.model_id:
        lines.append(f"  model    {j.model_id}")
    if j.result:
        lines.extend(result_lines(j.result))
    return "\n".join(lines)


def result_lines(result: dict[str, Any]) -> list[str]:
    """The result panel: the verdict per metric against the baselines, then the warnings."""
    lines = []
    test = {k: v for k, v in (result.get("test_metrics") or {}).items() if isinstance(v, (int, float))}
    if test:
        lines.append("  test     " + " ".join(f"{k}={number(v)}" for k, v in list(test.items())[:6]))
    for metric, v in (result.get("verdict") or {}).items():
        if not isinstance(v, dict):
            continue
        best = f"best baseline {v.get('best_baseline')} {number(v.get('best_value'))}" if v.get("best_baseline") else ""
        lost = f"; loses to {', '.join(v['loses_to'])}" if v.get("loses_to") else ""
        lines.append(f"  verdict  {v.get('key', metric)}: model {number(v.get('model'))} vs {best}, "
                     f"beats {len(v.get('beats') or [])} baseline(s){lost}")
    if result.get("modalities_read"):
        lines.append(f"  reads    {', '.join(result['modalities_read'])}")
    lines.extend(f"  warning  {w}" for w in result.get("warnings") or [])
    known = {"test_metrics", "verdict", "modalities_read", "warnings", "baselines", "protocol"}
    if not lines and not known & set(result):
        lines.append(f"  result   {_short(result, 600)}")
    return lines


def model_text(m: Model) -> str:
    test = (m.metrics or {}).get("test", {})
    shown = {k: v for k, v in test.items() if isinstance(v, (int, float))}
    lines = [f"model {m.id} (job {m.job_id})", f"  labels    {len(m.label_names)}: {_short(m.label_names)}",
             f"  threshold {m.threshold}", f"  weights   {m.weights_size:,d} bytes, sha256 {m.weights_sha256}",
             f"  inputs    {_short(m.backbones or {})}"]
    if shown:
        lines.append("  test      " + " ".join(f"{k}={number(v)}" for k, v in list(shown.items())[:8]))
    return "\n".join(lines)


def predictions_text(r: PredictResult, top: int = 5) -> str:
    lines = []
    for i, p in enumerate(r.predictions):
        lines.append(f"[{i}] labels: {', '.join(p.labels) or '(none)'}")
        for name, prob in p.top(top):
            bar = "#" * int(round(prob * 30))
            lines.append(f"    {name:20s} {prob:6.3f} {bar}")
    return "\n".join(lines)
