"""The job spec: what a job runs, typed, built once by the API and read as is by the worker.

``JobSpec`` is stored in ``Job.spec`` (JSON). Its ``run`` section is a complete
``ssnas_core.config.RunConfig`` (``to_dict``): validated by RunConfig itself, with the search
objective that the method implies (``search_mode``) and the device that the job's queue implies
already in it, so the worker builds its config with ``JobSpec.run_config()`` and nothing else.
The MFAS settings are generated from ``ssnas_core``'s ``MFASConfig`` dataclass and its limits, and
the JSON schema of a request's ``run`` overrides from RunConfig's dataclasses (``run_schema``):
nothing is copied by hand. Torch-free (``ssnas_core.config``, ``ssnas_core.names`` and
``ssnas_core.baselines.mfas_config`` import no torch).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from ssnas_core.baselines.mfas_config import MFAS_LIMITS, MFASConfig
from ssnas_core.config import ConfigError, RunConfig

Method = Literal["ssl", "supervised", "mfas", "late_fusion", "unimodal", "random"]
Device = Literal["auto", "cpu", "gpu"]
BASELINE_METHODS = ("mfas", "late_fusion", "unimodal", "random")


def search_mode(method: str) -> str:
    """The search objective of a method: self-supervised for ``ssl``, supervised for every other
    (the baselines' own searches, where they have one, are supervised)."""
    return "ssl" if method == "ssl" else "supervised"


def _mfas_field(f: dataclasses.Field) -> tuple[Any, Any]:
    top = MFAS_LIMITS[f.name]
    if f.type == "int":
        return int, Field(f.default, ge=1, le=top)
    return float, Field(f.default, gt=0, le=top)


MfasSettings = create_model(
    "MfasSettings",
    __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
    __doc__="MFAS baseline search settings, generated from ssnas_core's MFASConfig and its limits; "
            "only used with method \"mfas\".",
    **{f.name: _mfas_field(f) for f in dataclasses.fields(MFASConfig)},
)


class BackboneSpec(BaseModel):
    """One raw field's backbone: a known name, no weights file (the packaged ones), its options."""

    model_config = ConfigDict(extra="forbid")

    name: str
    weights: None = None
    options: dict[str, Any] = Field(default_factory=dict)


class JobSpec(BaseModel):
    """A job as the worker runs it (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str | None = None
    method: Method = "ssl"
    device: Device = "auto"
    backbones: dict[str, BackboneSpec] | None = None
    modality: str | None = None
    mfas: MfasSettings | None = None  # type: ignore[valid-type]
    run: dict[str, Any] = Field(default_factory=dict, description="a complete RunConfig")

    @model_validator(mode="after")
    def _complete_run(self) -> "JobSpec":
        """``run`` made a complete RunConfig with the method's search objective and the device's
        kind (ValueError, a ConfigError, when it conflicts with them or is out of range)."""
        run = dict(self.run)
        search = dict(run.get("search") or {})
        mode = search_mode(self.method)
        if search.get("mode", mode) != mode:
            raise ValueError(f"method {self.method!r} conflicts with run.search.mode {search['mode']!r}")
        run["search"] = {**search, "mode": mode}
        device = str(run.get("device", "auto"))
        if self.device == "gpu" and not device.startswith("cuda"):
            if device != "auto":
                raise ValueError(f"device 'gpu' conflicts with run.device {device!r}")
            run["device"] = "cuda"
        elif self.device == "cpu":
            if device not in ("auto", "cpu"):
                raise ValueError(f"device 'cpu' conflicts with run.device {device!r}")
            run["device"] = "cpu"
        self.run = RunConfig.from_dict(run).to_dict()
        return self

    def to_row(self) -> dict[str, Any]:
        """The JSON of ``Job.spec``: the fields the request set (``run`` always, complete)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.run)

    def mfas_config(self) -> MFASConfig:
        return MFASConfig(**(self.mfas.model_dump() if self.mfas is not None else {}))


def read_spec(raw: Any) -> JobSpec:
    """A stored spec as a JobSpec; ConfigError (a ValueError) with the first problem's own
    message when it is not one."""
    try:
        return raw if isinstance(raw, JobSpec) else JobSpec.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = (err.get("ctx") or {}).get("error")
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise ConfigError(str(cause) if cause is not None else f"{where}: {err.get('msg')}") from exc


def _annotation_schema(annotation: str) -> dict[str, Any]:
    parts = [p.strip() for p in str(annotation).split("|")]
    kinds = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
    types: list[dict[str, Any]] = []
    for p in parts:
        if p in kinds:
            types.append({"type": kinds[p]})
        elif p.startswith("tuple[") and p.endswith("]"):
            inner = p[6:-1].split(",")[0].strip()
            types.append({"type": "array", "items": {"type": kinds.get(inner, "string")}})
        elif p == "None":
            types.append({"type": "null"})
    if not types:
        return {}
    return types[0] if len(types) == 1 else {"anyOf": types}


def dataclass_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of partial overrides of a (nested) config dataclass: every field optional,
    its kind and default from the dataclass, no other keys. The values' ranges are the
    dataclass's own checks (a 422 with its message)."""
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            sub = f.default_factory()  # type: ignore[misc]
            if dataclasses.is_dataclass(sub):
                props[f.name] = dataclass_schema(type(sub))
                continue
            default = sub
        else:
            default = f.default
        schema = _annotation_schema(f.type)
        if isinstance(default, (int, float, str, bool, tuple)) or default is None:
            schema = {**schema, "default": list(default) if isinstance(default, tuple) else default}
        props[f.name] = schema
    return {"type": "object", "title": cls.__name__, "properties": props, "additionalProperties": False}


def run_schema() -> dict[str, Any]:
    """The schema of a request's ``run`` (RunConfig overrides), generated from RunConfig."""
    return dataclass_schema(RunConfig)
