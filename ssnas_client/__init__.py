"""Python client and CLI for the ssnas service (HTTP only: no torch, no service code)."""

from .client import Client
from .errors import ApiError, ChecksumMismatch, Conflict, ConnectionFailed, NotFound, Unauthorized, Unavailable
from .types import Dataset, Job, LogLine, Metric, Model, Prediction, PredictResult

__all__ = ["Client", "ApiError", "ChecksumMismatch", "Conflict", "ConnectionFailed", "NotFound",
           "Unauthorized", "Unavailable", "Dataset", "Job", "LogLine", "Metric", "Model", "Prediction",
           "PredictResult"]
