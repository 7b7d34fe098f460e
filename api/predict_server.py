"""The prediction process: one copy of the backbones and models for every API process.

``python -m api.predict_server [--socket PATH]`` (default ``$SSNAS_PREDICT_SERVER``) listens on a
Unix socket; ``ssnas serve`` runs it as a supervised child and points the API processes at it
(``SSNAS_PREDICT_SERVER``), which then never import torch. A request carries the checkpoint's
path (the API copies it out of the database first) and the request's raw values; this process
decodes them with the same functions as an API process without it (``predictions.decode_*``),
so the 4xx answers and their words are the same, and concurrent requests from all API processes
share forward passes (``MicroBatcher``: up to ``predict_batch`` samples, waiting at most
``predict_batch_wait_ms`` for them).

Replies: ``{"ok": PredictOut JSON}`` or ``{"error": class name, "detail": ..., "status": ...}``
for an ApiError (the API raises the same error). If this process dies, the API answers 503
until the supervisor has started it again.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path

from . import predict_ipc as ipc
from .errors import ApiError

log = logging.getLogger("ssnas.predict")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            try:
                message = ipc.recv(self.request)
            except (EOFError, OSError, ValueError):  # closed, or not our frames: drop the connection
                return
            ipc.send(self.request, answer(message))


def answer(message: dict) -> dict:
    """One request of an API process -> its reply (never raises for a bad request)."""
    from .services import predictions

    if message.get("op") == "stats":
        with predictions._cpu_lock:
            return {"stats": dict(predictions.CPU_MS)}
    try:
        loaded = predictions.load_checkpoint(message["checkpoint_id"], Path(message["path"]))
        features = message.get("features")
        samples = None
        if features is None:
            t0 = time.thread_time()
            try:
                samples = [{k: predictions.decode_bytes(k, v, loaded) if isinstance(v, ipc.Blob)
                            else predictions.decode_value(k, v, loaded) for k, v in s.items()}
                           for s in message["samples"]]
            finally:
                predictions.count_cpu("decode", t0)
        out = predictions.infer(loaded, message["model_id"], samples, features)
        return {"ok": out.model_dump(mode="json")}
    except ApiError as exc:
        return {"error": type(exc).__name__, "status": exc.status, "detail": exc.detail}
    except Exception as exc:  # noqa: BLE001 - the API answers 500 as it would have in-process
        log.exception("prediction failed")
        return {"error": "internal", "status": 500, "detail": f"{type(exc).__name__}: {exc}"[:300]}


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """Bind to a temporary name and rename it into place: a client sees either the old
        (refused) socket or this listening one, never a half-made one."""
        path = Path(self.server_address)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        self.socket.bind(str(tmp))
        self.socket.listen(128)
        os.replace(tmp, path)
        self.server_address = str(path)

    def server_activate(self) -> None:
        pass  # listening since server_bind


def serve(path: Path, ready: threading.Event | None = None) -> None:
    import torch  # before the socket exists: the API answers 503 while this loads

    from store.settings import get_settings

    from .memory import gc_freeze, page_out_gpu_libraries

    if get_settings().predict_device == "cpu":
        page_out_gpu_libraries()
    del torch
    path.parent.mkdir(parents=True, exist_ok=True)
    with Server(str(path), _Handler) as server:
        gc_freeze()
        log.info("prediction process listening on %s", path)
        if ready is not None:
            ready.set()
        server.serve_forever(poll_interval=0.5)


def main(argv: list[str] | None = None) -> int:
    from store.settings import get_settings

    p = argparse.ArgumentParser(prog="python -m api.predict_server", description=__doc__.split("\n")[0])
    p.add_argument("--socket", type=Path, default=None, help="default: $SSNAS_PREDICT_SERVER")
    a = p.parse_args(argv)
    path = a.socket or (Path(get_settings().predict_server) if get_settings().predict_server else None)
    if path is None:
        p.error("give --socket or set SSNAS_PREDICT_SERVER")
    logging.basicConfig(level=get_settings().log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        serve(path)
    except KeyboardInterrupt:
        pass
    return 0


def stats(path: str | os.PathLike, timeout_s: float = 10.0) -> dict:
    """The prediction process's CPU ledger (``predictions.CPU_MS``): ms per phase, samples."""
    with connect(str(path), timeout_s) as sock:
        ipc.send(sock, {"op": "stats"})
        return ipc.recv(sock)["stats"]


def connect(path: str, timeout_s: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


if __name__ == "__main__":
    raise SystemExit(main())
