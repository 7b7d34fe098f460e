"""Name -> factory registry of frozen backbones (timm-style), plus backbone specs.

Factories are imported lazily, so listing names costs nothing and only the backbones a
run uses load their code and weights. A *spec* names a backbone with its weights and
options, JSON-serialisable so that it can be recorded in a manifest or checkpoint::

    "efficientnet_lite0"                                   # name only: default weights
    {"name": "vgg19", "weights": "/models/vgg19.pth", "options": {"taps": ["pool5"]}}
"""

from __future__ import annotations

import importlib
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from ..names import BACKBONE_FACTORIES
from .base import Backbone, BackboneError

Factory = Callable[..., Backbone]

_FACTORIES: dict[str, str | Factory] = dict(BACKBONE_FACTORIES)

DEFAULT_BY_KIND = {"image": "efficientnet_lite0", "text": "minilm", "audio": "audio_cnn",
                   "vector": "identity"}


def register(name: str, factory: Factory) -> None:
    """Add (or replace) a backbone factory ``factory(weights=None, **options) -> Backbone``."""
    _FACTORIES[name] = factory


def list_backbones() -> list[str]:
    return sorted(_FACTORIES)


def _factory(name: str) -> Factory:
    if name not in _FACTORIES:
        raise BackboneError(f"unknown backbone {name!r}; known: {list_backbones()}")
    target = _FACTORIES[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target


def get_backbone(name: str, weights: str | None = None, device: str = "cpu",
                 **options: Any) -> Backbone:
    """A fresh backbone in eval mode on ``device``; options are the factory's keywords."""
    try:
        bb = _factory(name)(weights=weights, **options)
    except TypeError as exc:  # an option the factory does not take
        raise BackboneError(f"backbone {name!r}: bad options {sorted(options)} ({exc})") from exc
    return bb.to(device)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    weights: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: "str | dict | BackboneSpec") -> "BackboneSpec":
        if isinstance(value, BackboneSpec):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            unknown = set(value) - {"name", "weights", "options"}
            if unknown:
                raise BackboneError(f"backbone spec: unknown keys {sorted(unknown)}")
            opts = dict(value.get("options") or {})
            return cls(value["name"], value.get("weights"), opts)
        raise BackboneError(f"backbone spec must be a name or {{'name': ..}}, got {value!r}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weights": self.weights, "options": dict(self.options)}

    def key(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


@lru_cache(maxsize=16)
def _cached(spec_key: str, device: str) -> Backbone:
    spec = json.loads(spec_key)
    return get_backbone(spec["name"], spec["weights"], device, **spec["options"])


_LOCK = threading.Lock()


def cached_backbone(spec: "str | dict | BackboneSpec", device: str = "cpu") -> Backbone:
    """The same Backbone object for the same spec and device within this process.

    Thread-safe: concurrent callers (e.g. API request threads) load a model once.
    """
    key = BackboneSpec.parse(spec).key()
    with _LOCK:
        return _cached(key, str(device))


def clear_backbone_cache() -> None:
    _cached.cache_clear()
