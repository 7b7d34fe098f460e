"""worker.eta: the ETA comes from the current stage's measured rate and the machine profile's
stage ratios, anticipates early stopping, and progress moves without jumps when a stage ends early."""

from __future__ import annotations

from ssnas_core.callbacks import ProgressEvent
from worker.eta import EtaModel, Profile, StagePlan

RATES = {"search:ssl": 0.01, "pretrain": 0.005, "finetune": 0.002, "evaluate": 0.001, "baselines": 0.01,
         "saving": 0.5}


def _plan(fits: int = 1):
    return {"search": StagePlan(100, 10), "pretrain": StagePlan(60, 5), "finetune": StagePlan(30, 20, fits),
            "evaluate": StagePlan(50, 1), "baselines": StagePlan(80, 1), "saving": StagePlan(1, 1)}


def _run(model: EtaModel, slow: float, ft_scores: list[float], fits: int = 1, ft_pace=lambda e: 1.0):
    """Feed a job whose stages take ``slow`` times the profile's rates (finetuning: ``fits`` fits of
    20 epochs, ``ft_scores`` over all of them, epoch ``e`` at ``ft_pace(e)`` times the rate); returns
    (t, progress, eta) rows and the end time."""
    t, rows, plan = 0.0, [], _plan()

    def step(event, seconds):
        nonlocal t
        t += seconds
        rows.append((t, *model.update(event, t)))

    for stage, steps in (("search", 4), ("pretrain", 2)):
        p = plan[stage]
        for e in range(int(p.epochs)):
            for k in range(1, steps + 1):
                step(ProgressEvent(stage, e, int(p.epochs), k, steps, {}, k == steps),
                     slow * RATES[stage if stage != "search" else "search:ssl"] * p.per_epoch / steps)
    for e, score in enumerate(ft_scores):
        step(ProgressEvent("finetune", e, 20 * fits, 1, 1, {"dev_weighted_f1": score}, True),
             slow * 0.002 * 30 * ft_pace(e))
    step(ProgressEvent("evaluate", 0, 1, 1, 1), slow * RATES["evaluate"] * plan["evaluate"].per_epoch)
    for stage in ("baselines", "saving"):  # marked at their start, like the worker does
        step(ProgressEvent(stage, 0, 1, 0, 1), 0.0)
        t += slow * RATES[stage] * plan[stage].per_epoch
    return rows, t


def test_eta_is_exact_when_stages_keep_the_profiles_ratios_on_a_slower_machine():
    profile = Profile(rates=dict(RATES), counts={k: 1 for k in RATES}, finetune_share=1.0)
    model = EtaModel(_plan(), profile, patience=3, t0=0.0, now=0.0)
    rows, end = _run(model, 2.0, [0.1 * e for e in range(20)])  # always improving: all 20 epochs
    before_finetune = rows[:4 * 10 + 2 * 5]
    for t, progress, eta in before_finetune:
        assert eta is not None and abs(eta - (end - t)) < 1e-6 * end
        assert abs(progress - t / end) < 1e-6
    assert [p for _, p, _ in rows] == sorted(p for _, p, _ in rows)
    t, _, eta = rows[-3]  # evaluate done: baselines and saving at the scaled profile
    assert abs(eta - (end - t)) < 1e-6 * end


def test_every_finetuning_fit_is_priced_before_finetuning_starts():
    """A pretrained network is finetuned three ways (probe, full, probe then full): the plan holds
    all three fits (planned as one, the ETA before finetuning missed two thirds of it)."""
    profile = Profile(rates=dict(RATES), counts={k: 1 for k in RATES}, finetune_share=1.0)
    model = EtaModel(_plan(fits=3), profile, patience=3, t0=0.0, now=0.0)
    rows, end = _run(model, 2.0, [0.1 * (e % 20) for e in range(60)], fits=3)  # each fit runs all 20 epochs
    for t, progress, eta in rows[:4 * 10 + 2 * 5]:
        assert eta is not None and abs(eta - (end - t)) < 1e-6 * end
        assert abs(progress - t / end) < 1e-6


def test_later_fits_are_priced_at_the_profile_not_at_a_cheap_first_fit():
    """The linear probe (the first fit) runs epochs far cheaper than full finetuning: while it runs,
    the later fits are priced at the profile's finetuning rate (the mix of all fits: still short of
    full fits, but no longer at the probe's pace), and each later fit at its own pace once it runs."""
    profile = Profile(rates=dict(RATES), counts={k: 1 for k in RATES}, finetune_share=1.0)
    model = EtaModel(_plan(fits=3), profile, patience=3, t0=0.0, now=0.0)
    pace = lambda e: 0.2 if e < 20 else 1.4  # noqa: E731 - the probe, then two full fits: 1.0 on average
    rows, end = _run(model, 1.0, [0.1 * (e % 20) for e in range(60)], fits=3, ft_pace=pace)
    ft = rows[4 * 10 + 2 * 5:4 * 10 + 2 * 5 + 60]
    ratios = [eta / (end - t) for t, _, eta in ft]  # ETA over the time left
    assert all(0.7 < r <= 1.0 for r in ratios[:20]), ratios[:20]  # at the probe's pace: 0.39 to 0.40
    assert all(abs(r - 1) < 0.02 for r in ratios[40:]), ratios[40:]  # the last fit, at its own pace


def test_the_job_plan_counts_the_finetuning_fits(tmp_path):
    from factories import make_features

    from ssnas_core.config import RunConfig
    from worker.progress import job_plan

    ds = make_features(tmp_path / "f", n=120)

    def fits(mode: str, pretrain_epochs: int, probe: str) -> int:
        cfg = RunConfig.from_dict({"search": {"epochs": 2, "mode": mode}, "pretrain": {"epochs": pretrain_epochs},
                                   "finetune": {"epochs": 10, "label_fraction": 0.5, "probe": probe}})
        return job_plan(ds, cfg, {"method": "ssl" if mode == "ssl" else "supervised"})[0]["finetune"].fits

    assert fits("ssl", 2, "auto") == 3  # probe, full, probe then full
    assert fits("ssl", 0, "auto") == fits("ssl", 2, "full") == fits("supervised", 0, "auto") == 1


SCORES = [0.1, 0.2, 0.3, 0.3, 0.3, 0.3]  # best at epoch 2: stops after epoch 5 (patience 3)


def _jumps(rows, end):
    """How much more progress moved than time did between consecutive rows, from finetuning on."""
    ft = rows[4 * 10 + 2 * 5 - 1:]
    return [(b[1] - a[1]) - (b[0] - a[0]) / end for a, b in zip(ft, ft[1:])]


def test_an_early_stop_is_anticipated_and_progress_does_not_jump():
    profile = Profile(rates=dict(RATES), counts={k: 1 for k in RATES}, finetune_share=0.3)
    rows, end = _run(EtaModel(_plan(), profile, patience=3, t0=0.0, now=0.0), 1.0, SCORES)
    assert max(abs(j) for j in _jumps(rows, end)) < 1e-6  # the typical early stop: progress is time
    t, _, eta = rows[-4]  # the last finetuning epoch
    assert abs(eta - (end - t)) < 1e-6 * end
    fresh = Profile(rates=dict(RATES), counts={k: 1 for k in RATES})  # no finetuning share yet
    rows, end = _run(EtaModel(_plan(), fresh, patience=3, t0=0.0, now=0.0), 1.0, SCORES)
    assert max(_jumps(rows, end)) < 0.05  # a full-length plan jumped from about 0.8 to the end


def test_an_improving_finetuning_runs_past_its_typical_length_without_going_back():
    profile = Profile(rates=dict(RATES), counts={k: 1 for k in RATES}, finetune_share=0.3)
    rows, end = _run(EtaModel(_plan(), profile, patience=3, t0=0.0, now=0.0), 1.0, [0.05 * e for e in range(20)])
    assert [p for _, p, _ in rows] == sorted(p for _, p, _ in rows) and rows[-1][1] < 1.0


def test_the_profile_learns_this_machines_rates_and_finetuning_share():
    profile = Profile()
    model = EtaModel(_plan(), profile, patience=3, t0=0.0, now=0.0)
    _, end = _run(model, 3.0, [0.1, 0.2, 0.3, 0.3, 0.3, 0.3])
    model.finish(end)
    assert abs(profile.rates["search:ssl"] - 0.03) < 1e-9 and abs(profile.rates["finetune"] - 0.006) < 1e-9
    assert abs(profile.finetune_share - 6 / 20) < 1e-9
    nxt = EtaModel(_plan(), profile, patience=3, t0=0.0, now=0.0)
    assert nxt.plan["finetune"].epochs == 6  # the next job expects the same early stop


def test_a_marked_stage_is_timed_from_its_mark_to_the_next_one():
    """``mark`` announces baselines and saving at their start: each is timed from its own mark on
    (the panel's time was recorded under saving, one stage late, and priced saving 3x too long)."""
    profile = Profile()
    model = EtaModel(_plan(), profile, patience=3, t0=0.0, now=0.0)
    _, end = _run(model, 3.0, [0.1, 0.2, 0.3, 0.3, 0.3, 0.3])
    model.finish(end)
    assert abs(profile.rates["evaluate"] - 3 * RATES["evaluate"]) < 1e-9
    assert abs(profile.rates["baselines"] - 3 * RATES["baselines"]) < 1e-9
    assert abs(profile.rates["saving"] - 3 * RATES["saving"]) < 1e-9


def test_job_progress_switches_to_the_plan_once_the_features_are_open(tmp_path):
    """JobProgress (no database needed for the estimate): fixed shares before the plan, then the
    EtaModel with this machine's profile file; a finished job's rates are saved for the next."""
    from factories import make_features

    from ssnas_core.config import RunConfig
    from worker.progress import JobProgress

    cfg = RunConfig.from_dict({"search": {"epochs": 4}, "pretrain": {"epochs": 2},
                               "finetune": {"epochs": 10, "label_fraction": 0.5, "min_dev_samples": 24}})
    path = tmp_path / "eta" / "host.json"
    jp = JobProgress("job", 1, cfg, with_features=True, profile_path=path)
    p0, eta0 = jp.estimate(ProgressEvent("features", 0, 1, 1, 2))
    assert 0 < p0 < 0.2 and eta0 is None
    jp.set_plan(make_features(tmp_path / "f", n=120), {"method": "ssl"}, extracted=True)
    assert set(jp.model.plan) == {"search", "pretrain", "finetune", "evaluate", "baselines", "saving"}
    assert jp.model.plan["search"].per_epoch == 72 + 24 and jp.model.plan["pretrain"].per_epoch == 72
    seen = [jp.estimate(ProgressEvent("search", e, 4, k, 2)) for e in range(4) for k in (1, 2)]
    assert all(eta is not None for _, eta in seen) and [p for p, _ in seen] == sorted(p for p, _ in seen)
    assert seen[0][0] >= p0  # progress never goes back at the switch
    jp.save_profile()
    assert "search:ssl" in Profile.load(path).rates and "features" in Profile.load(path).rates
