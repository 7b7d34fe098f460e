"""Where the CLI finds the service and its key, first match wins:

- URL: ``--url``, ``$SSNAS_URL``, else ``http://127.0.0.1:8000`` (``ssnas serve``'s default);
- key: ``--key``, ``$SSNAS_API_KEY``, else ``<data dir>/api_key``, the admin key ``ssnas serve``
  writes, with the data dir from ``--data-dir``, ``$SSNAS_DATA_DIR`` or ``./.ssnas``.
- A job spec: ``--config FILE`` (YAML/JSON) then each ``--set dotted.key=value``; keys that are
  fields of ``POST /jobs`` go to the top level, all others into ``run`` (RunConfig overrides).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_URL = "http://127.0.0.1:8000"
JOB_FIELDS = {"dataset_id", "method", "backbones", "device", "label_fraction", "search_epochs",
              "pretrain_epochs", "finetune_epochs", "seed", "mfas", "modality", "run"}


class ConfigError(Exception):
    """A setting the CLI cannot use (no key found, unreadable config, bad --set)."""


def resolve_url(arg: str | None) -> str:
    return (arg or os.environ.get("SSNAS_URL") or DEFAULT_URL).rstrip("/")


def resolve_key(arg: str | None, data_dir: str | Path | None) -> str | None:
    """The API key, or None when there is none anywhere (the service will answer 401)."""
    if arg:
        return arg
    if os.environ.get("SSNAS_API_KEY"):
        return os.environ["SSNAS_API_KEY"]
    folder = Path(data_dir or os.environ.get("SSNAS_DATA_DIR") or ".ssnas")
    path = folder / "api_key"
    if path.is_file():
        return path.read_text().strip()
    return None


def parse_set(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as a YAML scalar: 3, 0.1, true, [1, 2], text)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part!r} is not a section")
        target = nxt
    target[path[-1]] = value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _device(value: Any) -> Any:
    """RunConfig's ``cuda[:n]`` means the service's ``gpu`` queue."""
    return "gpu" if isinstance(value, str) and value.startswith("cuda") else value


def job_spec(config_file: str | None, sets: list[str], base: dict[str, Any]) -> dict[str, Any]:
    """The POST /jobs body from a config file, ``--set`` items and the explicit options in ``base``."""
    tree: dict[str, Any] = {}
    if config_file:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"--config {config_file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {config_file}: expected a mapping at the top")
        tree = loaded
    for item in sets:
        _put(tree, *parse_set(item))
    body: dict[str, Any] = {"run": {}}
    for key, value in tree.items():
        if key == "run" and isinstance(value, dict):
            body["run"] = _merge(body["run"], value)
        elif key in JOB_FIELDS:
            body[key] = _device(value) if key == "device" else value
        else:
            body["run"][key] = value
    body.update({k: v for k, v in base.items() if v is not None})
    if not body["run"]:
        body.pop("run")
    return body
