"""/predict: decode raw inputs or features, run the model's Predictor (loaded lazily, cached).

Only this module imports torch (through ssnas_core.predict), and only on the first prediction.
With ``SSNAS_PREDICT_SERVER`` set (``ssnas serve`` sets it), an API process loads nothing: it
hands each request's raw values to the prediction process (``api/predict_server.py``), which runs
the same functions below on one copy of the models for all API processes (``Remote``).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from store.settings import get_settings
from store.storage import read_blob_to_file
from store.tables import Model

from .. import errors
from .. import predict_ipc as ipc
from ..errors import Invalid, PayloadTooLarge, Unavailable
from ..memory import gc_freeze, page_out_gpu_libraries, release_freed_memory
from ..schemas import Prediction, PredictOut
from .batcher import MicroBatcher
from .models import get_model

CPU_MS = {"decode": 0.0, "backbones": 0.0, "fusion": 0.0, "samples": 0, "batches": 0}
_cpu_lock = threading.Lock()


def count_cpu(phase: str, since: float, samples: int = 0) -> None:
    """Add this thread's CPU time since ``since`` (``time.thread_time()``) to ``CPU_MS[phase]``:
    where a process's /predict CPU goes, for bench/service_latency.py (the prediction
    process answers ``{"op": "stats"}`` with it)."""
    ms = (time.thread_time() - since) * 1000
    with _cpu_lock:
        CPU_MS[phase] += ms
        if samples:
            CPU_MS["samples"] += samples
            CPU_MS["batches"] += 1


class _TimedPool:
    """The field threads' pool, with each backbone job's CPU counted as ``backbones``."""

    def __init__(self, pool: ThreadPoolExecutor):
        self.pool = pool

    def submit(self, fn, *args):
        return self.pool.submit(self._run, fn, args)

    @staticmethod
    def _run(fn, args):
        t0 = time.thread_time()
        try:
            return fn(*args)
        finally:
            count_cpu("backbones", t0)

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


class Loaded:
    """A Predictor plus the batcher that serialises its raw-input forward passes.

    On the CPU the fields' backbones (poster, plot) run side by side on a thread each, so a
    lone request waits for the slower backbone rather than for both in turn.
    """

    def __init__(self, predictor, max_batch: int, name: str):
        import torch

        self.predictor = predictor
        fields = len(predictor.backbones)
        threads = get_settings().predict_threads or torch.get_num_threads()
        self.pool = None
        if fields > 1 and predictor.device.type == "cpu":
            self.pool = _TimedPool(ThreadPoolExecutor(fields, thread_name_prefix=f"predict-{name}-field"))
            threads = max(1, threads // fields)  # the field threads share this process's cores
        torch.set_num_threads(threads)
        s = get_settings()
        self.raw = MicroBatcher(self._forward, min(max_batch, s.predict_batch), name, s.predict_batch_wait_ms / 1000,
                                on_idle=release_freed_memory)
        self._kinds: dict[str, str] | None = None

    def _forward(self, samples: list[dict[str, Any]]) -> np.ndarray:
        t0 = time.thread_time()
        try:
            return self.predictor.predict_raw(samples, pool=self.pool)
        finally:  # with the field threads, this thread runs the fusion network (and glue)
            count_cpu("fusion" if self.pool is not None else "backbones", t0, len(samples))

    @property
    def kinds(self) -> dict[str, str]:
        """field -> kind (image, text, audio, vector) of the raw inputs (the backbones load once)."""
        if self._kinds is None:
            from ssnas_core.data.extract import field_kinds

            try:
                self._kinds = field_kinds(self.predictor.backbones, self.predictor.device)
            except (ValueError, OSError, RuntimeError):  # a backbone that does not load: the
                return {}  # values are told by their content, and infer() reports the backbone
        return self._kinds

    def close(self) -> None:
        self.raw.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False)


class PredictorCache:
    """Least-recently-used Predictors by checkpoint id; one load per checkpoint at a time."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, key: str, load):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = load()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)[1].close()
                self._loading.pop(key, None)
            return value


_cache: PredictorCache | None = None


def _checkpoint_file(session: Session, model: Model) -> Path:
    """The model's checkpoint as a file; copied out of its chunk rows once per machine."""
    path = Path(get_settings().storage_dir).resolve() / "cache" / f"{model.checkpoint_id}.safetensors"
    if not path.exists():
        read_blob_to_file(session, model.checkpoint_id, path)
    return path


def load_checkpoint(checkpoint_id: str, path: Path) -> Loaded:
    """The checkpoint's Predictor in this process (loaded once, least recently used dropped)."""
    global _cache
    if _cache is None:
        _cache = PredictorCache(get_settings().predict_cache_size)

    def load():
        from ssnas_core.predict import Predictor

        s = get_settings()
        loaded = Loaded(Predictor.load(path, device=s.predict_device), s.predict_max_batch, checkpoint_id[:8])
        gc_freeze()  # torch and the backbones bring many long-lived objects
        if loaded.predictor.device.type == "cpu":
            page_out_gpu_libraries()
        return loaded

    return _cache.get(checkpoint_id, load)


def predictor_for(session: Session, model: Model) -> Loaded:
    """The model's Predictor in this process."""
    return load_checkpoint(model.checkpoint_id, _checkpoint_file(session, model))


class Remote:
    """A model served by the prediction process: requests go there over its Unix socket.

    Values are passed on undecoded (file bytes as blobs, JSON values as they came); the
    prediction process decodes them as an API process would, so errors read the same. When
    the prediction process cannot be reached (not started yet, died, restarting), /predict
    answers 503 with Retry-After, never 500.
    """

    _idle: list = []
    _lock = threading.Lock()

    def __init__(self, model_id: str, checkpoint_id: str, path: Path):
        self.model_id, self.checkpoint_id, self.path = model_id, checkpoint_id, path

    def infer(self, samples: list[dict[str, Any]] | None, features: dict[str, Any] | None) -> PredictOut:
        message = {"model_id": self.model_id, "checkpoint_id": self.checkpoint_id, "path": str(self.path),
                   "samples": samples, "features": features}
        reply = self._call(message)
        if "ok" in reply:
            return PredictOut.model_validate(reply["ok"])
        cls = getattr(errors, reply["error"], None)
        if isinstance(cls, type) and issubclass(cls, errors.ApiError) and cls is not Unavailable:
            raise cls(reply["detail"])
        raise RuntimeError(f"prediction process: {reply['detail']}")  # a 500, as in-process

    @classmethod
    def _call(cls, message: dict) -> dict:
        """Send on an idle connection (once more on a fresh one if that one was stale)."""
        from ..predict_server import connect

        s = get_settings()
        with cls._lock:
            sock = cls._idle.pop() if cls._idle else None
        for attempt in range(2):
            reused = sock is not None
            try:
                if sock is None:
                    sock = connect(s.predict_server, s.predict_timeout_s)
                ipc.send(sock, message)
                reply = ipc.recv(sock)
            except (OSError, EOFError, ValueError) as exc:
                if sock is not None:
                    sock.close()
                sock = None
                if reused and attempt == 0:
                    continue  # the process may have been restarted since this connection was made
                raise Unavailable(f"the prediction service is not available ({type(exc).__name__}); "
                                  "it restarts on its own: try again in a few seconds") from None
            with cls._lock:
                cls._idle.append(sock)
            return reply
        raise AssertionError("unreachable")


def _kind(loaded: Loaded | None, field: str) -> str | None:
    """The kind of value the model's backbone for ``field`` takes (None when unknown)."""
    return loaded.kinds.get(field) if loaded is not None and loaded.predictor.backbones else None


def decode_bytes(field: str, data: bytes, loaded: Loaded | Remote | None = None) -> Any:
    """File bytes -> the raw value the field's backbone takes: an image (anything Pillow reads,
    whatever its name), a WAV waveform, UTF-8 text or a JSON list of numbers. Without the
    model, WAV is told by its header and anything else must be an image. For a Remote model
    the bytes are passed on (the prediction process decodes them)."""
    if isinstance(loaded, Remote):
        return ipc.Blob(data)
    from ssnas_core.data.images import ImageError, open_image
    from ssnas_core.data.raw import DataFormatError
    from ssnas_core.data.values import parse_vector

    kind = _kind(loaded, field)
    if kind == "text":
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid(f"the {field} must be UTF-8 text, and this file is not") from None
    if kind == "vector":
        try:
            return parse_vector(data.decode("utf-8"))
        except (UnicodeDecodeError, DataFormatError) as exc:
            raise Invalid(f"the {field} must be a list of numbers ({exc})") from None
    if kind == "audio" or (kind is None and data[:4] == b"RIFF"):
        return _decode_wav(field, data)
    try:
        return open_image(data)
    except ImageError as exc:
        raise Invalid(f"the {field} is {exc}") from None


def _decode_wav(field: str, data: bytes) -> tuple[np.ndarray, int]:
    from ssnas_core.data.raw import DataFormatError
    from ssnas_core.data.values import read_wav

    try:
        return read_wav(data)
    except DataFormatError as exc:
        raise Invalid(f"the {field} is {exc}") from None


def decode_value(field: str, value: Any, loaded: Loaded | Remote | None = None) -> Any:
    """JSON (or multipart text) value -> raw sample value: text, {"base64": ...} file bytes, or a
    number list (a vector field also takes "[1, 2]" text). For a Remote model only base64 is
    decoded here; the rest is passed on as it came."""
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        try:
            data = base64.b64decode(value["base64"], validate=True)
        except binascii.Error as exc:
            raise Invalid(f"field {field!r}: invalid base64 ({exc})") from exc
        return decode_bytes(field, data, loaded)
    if isinstance(loaded, Remote):
        return value
    from ssnas_core.data.raw import DataFormatError
    from ssnas_core.data.values import parse_vector

    kind = _kind(loaded, field)
    if kind in ("image", "audio"):
        what = "an image" if kind == "image" else "a WAV file"
        raise Invalid(f"the {field} must be {what}: send the file's bytes as "
                      f'{{"base64": "..."}} in JSON or as a file part of a multipart request, '
                      f"not {type(value).__name__} {str(value)[:40]!r}")
    if isinstance(value, str) and kind == "vector":
        try:
            return parse_vector(value)
        except DataFormatError as exc:
            raise Invalid(f"the {field} must be a list of numbers ({exc})") from None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        try:
            return np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"field {field!r}: a vector must be a list of numbers") from exc
    raise Invalid(f"field {field!r}: expected text, {{'base64': ...}} or a list of numbers")


def load(session: Session, owner_id: str, model_id: str) -> Loaded | Remote:
    """The owner's model, loaded (404 for others); the only step that needs the database."""
    model = get_model(session, owner_id, model_id)
    if get_settings().predict_server:
        return Remote(model_id, model.checkpoint_id, _checkpoint_file(session, model))
    return predictor_for(session, model)


def infer(loaded: Loaded | Remote, model_id: str, samples: list[dict[str, Any]] | None = None,
          features: dict[str, Any] | None = None) -> PredictOut:
    """Probabilities and labels at the model's threshold for raw samples or node features."""
    if isinstance(loaded, Remote):
        return loaded.infer(samples, features)
    from ssnas_core.predict import PredictError

    limit = get_settings().predict_max_batch
    if samples is not None and len(samples) > limit:
        raise PayloadTooLarge(f"batch of {len(samples)} samples; at most {limit} per request")
    predictor = loaded.predictor
    try:
        if features is not None:
            arrays = {k: np.asarray(v, dtype=np.float32) for k, v in features.items()}
            if any(a.shape[:1] and a.shape[0] > limit for a in arrays.values()):
                raise PayloadTooLarge(f"at most {limit} samples per request")
            probs = predictor.predict_features(arrays)
        else:
            probs = loaded.raw.submit(samples)
    except (PredictError, ValueError, TypeError, KeyError) as exc:
        raise Invalid(f"cannot predict: {exc}") from exc
    labels = predictor.labels(probs)
    names = [str(n) for n in predictor.label_names]
    preds = [Prediction(probabilities={n: float(p) for n, p in zip(names, row)}, labels=lab)
             for row, lab in zip(probs, labels)]
    return PredictOut(model_id=model_id, task=predictor.task, threshold=float(predictor.threshold),
                      label_names=names, predictions=preds)
