"""CLI handlers for jobs: submit, list, show, logs, cancel, retry and the live ``watch``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from tqdm import tqdm

from .client import Client
from .config import job_spec
from .render import duration, job_line, job_text, metrics_line
from .types import Job


def add_job_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("submit", parents=[common], help="submit a search job (202 at once)")
    p.add_argument("--dataset", required=True, help="dataset id")
    p.add_argument("--method", default=None, help="ssl (default), supervised, mfas, ...")
    p.add_argument("--config", help="YAML/JSON: POST /jobs fields and/or RunConfig sections")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override, e.g. search.epochs=3, space.C=64, label_fraction=0.1 (repeatable)")
    p.add_argument("--label-fraction", type=float)
    p.add_argument("--search-epochs", type=int)
    p.add_argument("--pretrain-epochs", type=int)
    p.add_argument("--finetune-epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "gpu"])
    p.add_argument("--watch", action="store_true", help="then follow it like `jobs watch`")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the job id (with --watch: "
                   "then, without a live view, the model id when it succeeds)")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=submit)
    p = sub.add_parser("list", parents=[common], help="your jobs, newest first")
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(func=list_jobs)
    p = sub.add_parser("logs", parents=[common], help="the job's log lines")
    p.add_argument("id")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the job ends")
    p.set_defaults(func=logs)
    for name, func, text in (("show", show, "status, stage, progress, ETA, metrics, result"),
                             ("cancel", cancel, "cancel (a running job stops at its next step)"),
                             ("retry", retry, "requeue a failed or cancelled job"),
                             ("watch", watch_cmd, "live progress bar; Ctrl-C detaches (the job keeps running)")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("id")
        if name == "watch":
            p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
            p.add_argument("-q", "--quiet", action="store_true",
                           help="no live view; print the model id when the job succeeds (for scripts)")
        p.set_defaults(func=func)


def submit(c: Client, args: argparse.Namespace, emit) -> int:
    base = {"method": args.method, "label_fraction": args.label_fraction, "search_epochs": args.search_epochs,
            "pretrain_epochs": args.pretrain_epochs, "finetune_epochs": args.finetune_epochs,
            "seed": args.seed, "device": args.device}
    body = job_spec(args.config, args.set, base)
    body.pop("dataset_id", None)
    job = c.submit_job(args.dataset, **{"method": "ssl", **body})
    emit(args, job.to_json(), job.id if args.quiet else f"submitted job {job.id} ({job.method}, queue {job.queue})")
    return watch(c, job.id, args) if args.watch else 0


def list_jobs(c: Client, args: argparse.Namespace, emit) -> int:
    page = c.list_jobs(args.status, args.limit, args.offset)
    emit(args, page.to_json(), lambda: "\n".join([job_line(j) for j in page.items]
                                                 + [f"({len(page.items)} of {page.total})"]))
    return 0


def show(c: Client, args: argparse.Namespace, emit) -> int:
    job = c.get_job(args.id)
    emit(args, job.to_json(), lambda: job_text(job))
    return 0


def cancel(c: Client, args: argparse.Namespace, emit) -> int:
    job = c.cancel_job(args.id)
    emit(args, job.to_json(), f"job {job.id}: {job.status}" + (" (cancel requested)" if job.cancel_requested else ""))
    return 0


def retry(c: Client, args: argparse.Namespace, emit) -> int:
    job = c.retry_job(args.id)
    emit(args, job.to_json(), f"job {job.id}: {job.status} (attempt {job.attempt}/{job.max_attempts})")
    return 0


def logs(c: Client, args: argparse.Namespace, emit) -> int:
    after = 0
    while True:
        page = c.job_logs(args.id, after)
        for line in page.items:
            emit(args, line.to_json(), f"{line.created_at}  {line.level:7s} {line.message}")
        after = page.next_after if page.items else after
        if not args.follow or (not page.items and c.get_job(args.id).done):
            return 0
        if not page.items:
            time.sleep(1.0)


def watch_cmd(c: Client, args: argparse.Namespace, emit) -> int:
    return watch(c, args.id, args)


class _View:
    """The live display: a tqdm bar on a terminal, else one plain line per change (logs, CI)."""

    def __init__(self, as_json: bool, quiet: bool = False):
        self.json, self.quiet, self.tty = as_json, quiet, sys.stderr.isatty() and not (as_json or quiet)
        self.bar = tqdm(total=100, file=sys.stderr, bar_format="{desc} |{bar}| {percentage:5.1f}% {postfix}",
                        dynamic_ncols=True) if self.tty else None
        self.last = ""

    def job(self, job: Job) -> None:
        if self.json:
            print(json.dumps(job.to_json(), default=str), flush=True)
            return
        if self.quiet:
            return
        desc = f"{job.status} {job.stage or '-'}"
        tail = ("" if job.done else f"ETA {duration(job.eta_s)}  ") + metrics_line(job.latest_metrics)
        if self.bar is not None:
            self.bar.set_description_str(desc, refresh=False)
            self.bar.set_postfix_str(tail, refresh=False)
            self.bar.n = round(100 * (job.progress or 0), 1)
            self.bar.refresh()
        else:
            line = f"{desc:20s} {100 * (job.progress or 0):5.1f}%  {tail}"
            if line != self.last:
                print(line, file=sys.stderr, flush=True)
                self.last = line

    def log(self, message: str) -> None:
        if not (self.json or self.quiet):
            (self.bar.write if self.bar is not None else lambda m: print(m, file=sys.stderr, flush=True))(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def watch(c: Client, job_id: str, args: argparse.Namespace) -> int:
    """Follow a job (ETag polls + new log lines) until it ends: exit 0 if it succeeded, 1 if not.
    Ctrl-C detaches: the job is left as it is and the exit code is 130."""
    quiet = getattr(args, "quiet", False)
    view, etag, job, after = _View(args.json, quiet), None, None, 0
    try:
        while True:
            new, etag = c.poll_job(job_id, etag)
            if new is not None:
                job = new
                view.job(job)
            page = c.job_logs(job_id, after)
            for line in page.items:
                view.log(f"  [{line.level.lower()}] {line.message}")
            after = page.next_after if page.items else after
            if job.done:
                break
            time.sleep(args.interval)
    except KeyboardInterrupt:
        view.close()
        state = f" ({job.status}, {100 * job.progress:.0f}%)" if job else ""
        print(f"detached from job {job_id}{state}; it keeps running. Follow again: ssnas jobs watch {job_id}",
              file=sys.stderr, flush=True)
        return 130
    view.close()
    if quiet and not args.json:
        print(job.model_id or "") if job.status == "succeeded" else print(job_text(job), file=sys.stderr)
    elif not args.json:
        print(job_text(job))
    return 0 if job.status == "succeeded" else 1
