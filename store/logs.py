"""Structured JSON logs of every ssnas process; a line carries the request id (set by the API's
middleware, ``api.logs``) and the job id where known."""

from __future__ import annotations

import contextvars
import json
import logging

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_EXTRA = ("request_id", "job_id", "owner_id", "method", "path", "status", "duration_ms", "queue",
          "dataset_id", "model_id", "bytes")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(),
               "logger": record.name, "msg": record.getMessage()}
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key in _EXTRA[1:]:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    """Route the ssnas loggers to stderr, as JSON lines unless ``as_json`` is False."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("ssnas")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
