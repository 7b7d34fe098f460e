"""Job spec: the validated request -> ``store.spec.JobSpec`` (with a full RunConfig), which the
worker reads as it is."""

from __future__ import annotations

import copy
import re
from typing import Any

from ssnas_core.config import ConfigError, RunConfig
from ssnas_core.names import KNOWN_BACKBONES
from store.settings import Settings
from store.spec import JobSpec, search_mode

from ..errors import Invalid
from ..schemas import JobCreate
from .spec_limits import check_options, check_sizes, check_threads

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _section(run: dict[str, Any], name: str) -> dict[str, Any]:
    sec = run.setdefault(name, {})
    if not isinstance(sec, dict):
        raise Invalid(f"run.{name} must be an object")
    return sec


def _apply_shortcuts(body: JobCreate, run: dict[str, Any]) -> None:
    if body.label_fraction is not None:
        _section(run, "finetune")["label_fraction"] = body.label_fraction
    if body.search_epochs is not None:
        _section(run, "search")["epochs"] = body.search_epochs
    if body.pretrain_epochs is not None:
        _section(run, "pretrain")["epochs"] = body.pretrain_epochs
    if body.finetune_epochs is not None:
        _section(run, "finetune")["epochs"] = body.finetune_epochs
    if body.seed is not None:
        run["seed"] = body.seed
    mode = search_mode(body.method)
    search = _section(run, "search")
    if search.get("mode", mode) != mode:
        raise Invalid(f"method {body.method!r} conflicts with run.search.mode {search['mode']!r}")
    search["mode"] = mode


def _device_and_queue(body: JobCreate, run: dict[str, Any], default_queue: str) -> str:
    if body.device == "gpu":
        if not str(run.get("device", "cuda")).startswith("cuda"):
            raise Invalid(f"device 'gpu' conflicts with run.device {run['device']!r}")
        run.setdefault("device", "cuda")
        return "gpu"
    if body.device == "cpu":
        if run.get("device", "cpu") != "cpu":
            raise Invalid(f"device 'cpu' conflicts with run.device {run['device']!r}")
        run["device"] = "cpu"
        return "cpu"
    dev = str(run.get("device", "auto"))
    return "gpu" if dev.startswith("cuda") else "cpu" if dev == "cpu" else default_queue


def _backbones(body: JobCreate) -> dict[str, Any] | None:
    """Field -> backbone spec ({"name", "weights": None, "options"}); 422 for unknown names."""
    if body.backbones is None:
        return None
    out = {}
    for field, choice in body.backbones.items():
        name, options = (choice, {}) if isinstance(choice, str) else (choice.name, choice.options)
        if not _NAME.match(field):
            raise Invalid(f"backbones: bad field name {field!r}")
        if name not in KNOWN_BACKBONES:
            raise Invalid(f"backbones: unknown backbone {name!r} for field {field!r}; "
                          f"known: {list(KNOWN_BACKBONES)}")
        check_options(field, name, options)
        out[field] = {"name": name, "weights": None, "options": dict(options)}
    return out


def build_spec(body: JobCreate, settings: Settings) -> tuple[JobSpec, str]:
    """(the job's spec, queue name); 422 with the config's own message when out of range."""
    run = copy.deepcopy(body.run)
    _apply_shortcuts(body, run)
    queue = _device_and_queue(body, run, settings.default_queue)
    try:
        cfg = RunConfig.from_dict(run)
    except ConfigError as exc:
        raise Invalid(f"invalid run config: {exc}") from exc
    check_threads(cfg, settings.max_job_threads)
    check_sizes(cfg)
    spec = {"dataset_id": body.dataset_id, "method": body.method,
            "backbones": _backbones(body), "device": body.device, "run": cfg.to_dict()}
    if body.method == "unimodal" and body.modality is None:
        raise Invalid("method 'unimodal' needs a modality, e.g. \"modality\": \"text\"")
    if body.method != "unimodal" and body.modality is not None:
        raise Invalid(f"'modality' given for method {body.method!r}; only method 'unimodal' takes one")
    if body.modality is not None:
        spec["modality"] = body.modality
    if body.mfas is not None:
        if body.method != "mfas":
            raise Invalid(f"'mfas' settings given for method {body.method!r}")
        spec["mfas"] = body.mfas.model_dump(exclude_unset=True)
    return JobSpec.model_validate(spec), queue
