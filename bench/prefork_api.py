"""The API with the backbones loaded before the fork (copy-on-write), for bench/predict_service.py.

The alternative to one prediction process that issue 14 asks to measure: this parent imports
torch and loads the default offline backbones, then forks ``--workers`` uvicorn processes on one
listening socket; each predicts in-process (no SSNAS_PREDICT_SERVER) with the backbones it
inherited, its fusion models loaded after the fork. Not used by the service.

    python bench/prefork_api.py --port 8794 --workers 2
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8794)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)  # no OpenMP pool in the parent: forking after one is unsafe
    from api.memory import gc_freeze
    from ssnas_core.backbones import DEFAULT_BY_KIND, cached_backbone

    for kind in ("image", "text"):
        cached_backbone(DEFAULT_BY_KIND[kind])
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(2048)
    gc_freeze()  # the collector must not touch (and so copy) the inherited objects
    children = []
    for _ in range(a.workers):
        pid = os.fork()
        if pid == 0:
            config = uvicorn.Config("api.main:create_app", factory=True, log_level="warning", access_log=False)
            uvicorn.Server(config).run(sockets=[sock])
            os._exit(0)
        children.append(pid)

    def stop(*_args) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
