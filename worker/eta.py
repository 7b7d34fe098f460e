"""Progress and ETA of a job from measured rates (pure: no database, no torch).

A job's plan gives each stage a number of *units* (sample passes): per epoch, the samples the
stage reads (search: train + dev, or the labeled and dev subsets for a supervised search; an MFAS
candidate: its epochs times those subsets; pretraining: train; finetuning: labeled + dev subset;
feature extraction: every sample; evaluation, the baseline panel and saving: one unit each),
times its planned epochs. A ``Profile`` holds, per machine, the seconds per unit each
stage took in finished jobs (a running mean) and the share of its planned epochs finetuning ran
before early stopping.

While a stage runs, its own measured rate (seconds per unit from its first event on) prices what
is left of it, and later stages are priced by the profile's rates scaled by this attempt's time so
far over the profile time of the same work, so a busy machine or a larger network slows every
later stage alike (scaling them by the current stage's rate alone, a few epochs' sample, made the
median ETA error at 25 % progress 38 % instead of 27 % on the same recorded jobs). Finetuning is
planned as all its fits (a pretrained network is finetuned up to three ways: ``StagePlan.fits``),
each at the profile's ran share of its epochs (a prior of one half on a new machine) and, once
it runs, at the later of that and the epoch where it stops if the dev score no longer improves
(best epoch + patience + 1, per fit): its early stop is anticipated, not a jump to the end. A
stage announced at its start (an event at progress 0: the worker's ``mark``, e.g. the baseline
panel) begins at that event; a stage that reports its own progress begins where the previous
one's last event left off. Progress is the time done over time done + ETA, never decreasing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ssnas_core.callbacks import ProgressEvent

STAGES = ("features", "search", "pretrain", "finetune", "evaluate", "baselines", "saving")
# seconds per unit measured on a 2-core CPU machine (bench/eta.py); only their ratios matter
# until a machine has its own profile
DEFAULT_RATE = {"features": 0.05, "search": 0.01, "search:supervised": 0.01, "search:mfas": 0.004,
                "pretrain": 0.004, "finetune": 0.004, "evaluate": 12.0, "baselines": 25.0, "saving": 0.5}


@dataclass
class StagePlan:
    per_epoch: float  # units per epoch
    epochs: float  # planned epochs (positions are in epochs)
    fits: int = 1  # finetuning: fits of ``epochs`` each (full, probe, probe then full)


@dataclass
class Profile:
    """Per-machine stage rates (seconds per unit) and finetuning's ran share, from finished jobs."""

    rates: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    finetune_share: float = 0.5  # a prior until this machine has finished a job

    def rate(self, key: str) -> float:
        base = key.split(":")[0]
        return self.rates.get(key) or self.rates.get(base) or DEFAULT_RATE.get(key) or DEFAULT_RATE[base]

    def record(self, key: str, seconds: float, units: float, keep: int = 10) -> None:
        """Running mean over the last ``keep`` jobs (older ones fade)."""
        if units <= 0 or seconds <= 0:
            return
        n = min(self.counts.get(key, 0), keep - 1)
        self.rates[key] = (self.rates.get(key, 0.0) * n + seconds / units) / (n + 1)
        self.counts[key] = n + 1

    @classmethod
    def load(cls, path: Path) -> "Profile":
        try:
            d = json.loads(Path(path).read_text())
            return cls({k: float(v) for k, v in d["rates"].items()}, {k: int(v) for k, v in d["counts"].items()},
                       float(d.get("finetune_share", 0.5)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"rates": self.rates, "counts": self.counts,
                                   "finetune_share": self.finetune_share}))
        os.replace(tmp, path)


def stage_key(stage: str, search_kind: str) -> str:
    """Profile key: searches are priced by kind (ssl, supervised, mfas), other stages alone."""
    return f"search:{search_kind}" if stage == "search" else stage


class EtaModel:
    """Feed it every progress event (``update``); it answers (progress, eta_s or None).

    ``t0``: when the attempt started (its time before the plan counts as spent); ``done``:
    stages finished before the plan existed, stage -> (seconds, units) (feature extraction).
    """

    def __init__(self, plan: dict[str, StagePlan], profile: Profile, patience: int,
                 search_kind: str = "ssl", t0: float | None = None, now: float | None = None,
                 done: dict[str, tuple[float, float]] | None = None):
        self.plan, self.profile, self.patience, self.kind = dict(plan), profile, patience, search_kind
        now = time.monotonic() if now is None else now
        ft = self.plan.get("finetune")
        self.ft_len = ft.epochs if ft else 0.0  # epochs of one finetuning fit
        self.ft_expect = max(1.0, round(self.ft_len * profile.finetune_share))  # what a fit runs, typically
        self.ft_fits = ft.fits if ft else 1
        if ft is not None:  # every fit, each at its typical length: early stopping anticipated from past jobs
            ft.epochs = min(ft.epochs, self.ft_expect) * self.ft_fits
        self.ft_ran, self.ft_seg = 0, -1
        self.ft_later = 0.0  # epochs planned for the fits after the current one
        self.fit_start: tuple[float, float] | None = None  # (time, position) where a later fit began
        self.t0 = now if t0 is None else t0
        self.stage: str | None = None
        self.stage_start = self.last_t = now
        self.pos = self.pos0 = 0.0
        self.first = None
        self.paced: dict[str, tuple[float, float]] = {}  # stage -> (seconds, units) after its first event
        self.done_time = {k: v[0] for k, v in (done or {}).items()}  # stages finished in this attempt
        self.done_units = {k: v[1] for k, v in (done or {}).items()}
        self.best = (-1.0, -1)  # finetuning: best dev score and its epoch
        self.progress = 0.0

    def _units(self, stage: str, epochs: float | None = None) -> float:
        p = self.plan.get(stage)
        return 0.0 if p is None else p.per_epoch * (p.epochs if epochs is None else epochs)

    def _cost(self, stage: str, epochs: float | None = None) -> float:
        """Profile seconds of ``epochs`` (default: all planned) of ``stage``."""
        return self._units(stage, epochs) * self.profile.rate(stage_key(stage, self.kind))

    def _switch(self, stage: str, event: ProgressEvent) -> None:
        if self.stage is not None:
            if self.pos <= self.pos0 and self.stage in self.plan:  # a marked stage: no events, ran whole
                self.pos = self.pos0 + self.plan[self.stage].epochs
            self.done_time[self.stage] = self.last_t - self.stage_start
            self.done_units[self.stage] = self._units(self.stage, self.pos - self.pos0)
            if self.first is not None and self.pos > self.first[1]:  # its pace without the warm-up
                units = self._units(self.stage, self.pos - self.first[1])
                self.paced[self.stage] = (self.last_t - self.first[0], units)
            if self.stage in self.plan:  # a stage that ended early has nothing left
                self.plan[self.stage].epochs = self.pos
        self.stage, self.stage_start = stage, self.last_t
        resumed = event.epochs > 0 and stage != "finetune"  # finetuning always starts afresh
        self.pos = self.pos0 = float(event.epoch) if resumed else 0.0
        self.first: tuple[float, float] | None = None  # (time, position) of the stage's first event

    def _finetune(self, event: ProgressEvent, before: float) -> None:
        """Finetuning runs one or more fits of ``ft_len`` epochs (event epochs count them all), each
        stopping early: position = epochs run; plan = those + the rest of this fit (to its typical
        length, or later to where it stops if the dev score does not improve any more) + the later
        fits at their typical length."""
        if not event.end_of_epoch or self.ft_len <= 0:
            return
        seg, local = divmod(event.epoch, int(self.ft_len))
        self.ft_fits = max(1, round(event.epochs / self.ft_len))
        if seg != self.ft_seg:
            if self.ft_seg >= 0:  # a new fit began after the previous one's last event
                self.fit_start = (before, float(self.ft_ran))
            self.ft_seg, self.best = seg, (-1.0, -1)
        self.ft_ran += 1
        score = event.metrics.get("dev_weighted_f1")
        if score is not None and score > self.best[0]:
            self.best = (float(score), local)
        horizon = min(self.ft_len, self.best[1] + self.patience + 1) if self.best[1] >= 0 else self.ft_len
        stop_at = max(horizon, self.ft_expect)  # a fit runs its typical length unless it stalls later
        self.ft_later = max(0, self.ft_fits - seg - 1) * self.ft_expect
        rest = max(0.0, stop_at - local - 1) + self.ft_later
        self.pos = float(self.ft_ran)
        self.plan["finetune"].epochs = self.pos + rest

    def scale(self) -> float | None:
        """This attempt's seconds over the profile's seconds for the same work (None: no work yet)."""
        t = sum(self.done_time.values()) + (self.last_t - self.stage_start)
        work = sum(self.done_units[s] * self.profile.rate(stage_key(s, self.kind)) for s in self.done_time)
        if self.stage is not None:
            work += self._cost(self.stage, self.pos - self.pos0)
        return t / work if work > 0 and t > 0 else None

    def _later(self) -> tuple[str, ...]:
        return STAGES[STAGES.index(self.stage) + 1:] if self.stage in STAGES else STAGES

    def remaining(self) -> float | None:
        """Seconds left: the current stage at its own rate, later stages at the profile scaled by
        this attempt's pace over all its work so far (``scale``). Not by the current stage's pace
        alone: a stage's first epochs are a small, noisy sample (a finetuning fit timed over its
        first epochs priced the whole baseline panel), and the later stages that do not run the
        network (evaluation, the panel) follow the machine, not this network's step time."""
        k = self.scale()
        if k is None:
            return None
        left = 0.0
        if self.stage is not None:
            done_here, elapsed = self._units(self.stage, self.pos - self.pos0), self.last_t - self.stage_start
            if self.first is not None and self.pos > self.first[1]:  # pace after the first event: no warm-up
                done_here, elapsed = self._units(self.stage, self.pos - self.first[1]), self.last_t - self.first[0]
            rate = elapsed / done_here if done_here > 0 and elapsed > 0 else None
            rest = max(0.0, self.plan[self.stage].epochs - self.pos) if self.stage in self.plan else 0.0
            later = 0.0  # finetuning: the later fits, at the profile (the fits differ: a probe is cheap)
            if self.stage == "finetune":
                later = min(rest, self.ft_later)
                if self.fit_start is not None and self.pos > self.fit_start[1]:  # this fit's own pace
                    done_here = self._units(self.stage, self.pos - self.fit_start[1])
                    rate = (self.last_t - self.fit_start[0]) / done_here
            left = self._units(self.stage, rest - later) * rate if rate else k * self._cost(self.stage, rest - later)
            left += k * self._cost(self.stage, later)
        return left + k * sum(self._cost(s) for s in self._later() if s not in self.done_time)

    def update(self, event: ProgressEvent, now: float | None = None) -> tuple[float, float | None]:
        now = time.monotonic() if now is None else now
        before = self.last_t
        if event.stage != self.stage:
            if event.progress <= 0.0:  # a stage announced at its start (``mark``): the previous one
                self.last_t = now      # ran until now, not until its own last event
            self._switch(event.stage, event)
        self.last_t = now
        if event.stage == "finetune" and "finetune" in self.plan:
            self._finetune(event, before)
        else:
            self.pos = event.progress * event.epochs if event.epochs > 0 else 1.0
        if self.first is None and self.pos > self.pos0:
            self.first = (now, self.pos)
        eta = self.remaining()
        self.progress = max(self.progress, self._fraction(eta))
        return self.progress, eta

    def _fraction(self, eta: float | None) -> float:
        """Time spent (with an estimate of earlier attempts' share) over spent + left."""
        earlier = [s for s in STAGES if s not in self._later() and s != self.stage and s not in self.done_time]
        prior = sum(self._cost(s) for s in earlier) + (self._cost(self.stage, self.pos0) if self.stage else 0.0)
        k = self.scale()
        if eta is None or k is None:  # no pace yet: the profile's shares
            total = sum(self._cost(s) for s in self.plan)
            done = prior + (self._cost(self.stage, self.pos - self.pos0) if self.stage else 0.0)
            return min(0.999, done / total) if total > 0 else 0.0
        spent = self.last_t - self.t0 + k * prior
        return min(0.999, spent / (spent + eta)) if spent + eta > 0 else 0.0

    def finish(self, now: float | None = None) -> None:
        """The job ended: record the stages this attempt ran into the profile."""
        self.last_t = time.monotonic() if now is None else now
        if self.stage is not None:
            self._switch("done", ProgressEvent("done", 0, 0, 0, 0))
        for stage, seconds in self.done_time.items():
            if stage in self.plan or stage == "features":
                seconds, units = self.paced.get(stage, (seconds, self.done_units.get(stage, 0.0)))
                self.profile.record(stage_key(stage, self.kind), seconds, units)
        if "finetune" in self.done_time and self.ft_len > 0 and self.ft_ran > 0:
            share = min(1.0, self.ft_ran / (self.ft_len * self.ft_fits))
            n = min(self.profile.counts.get("finetune", 1), 10)
            self.profile.finetune_share = (self.profile.finetune_share * (n - 1) + share) / n
