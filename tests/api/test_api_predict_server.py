"""/predict through the prediction process (SSNAS_PREDICT_SERVER): the same answers and errors
as in-process, concurrent requests batched there, and a killed prediction process costs 503s
(never a 500) until it is back."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from api_factories import make_poster_plot_model
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SPEC = {"name": "efficientnet_lite0", "weights": None, "options": {"image_size": 64, "taps": ["s6", "head"]}}


@pytest.fixture
def model(db, tmp_path):
    return make_poster_plot_model("alice", tmp_path, SPEC)


def start_server(sock: Path) -> subprocess.Popen:
    sock.unlink(missing_ok=True)  # a killed one's socket file: wait for the new one's
    env = {**os.environ, "PYTHONPATH": str(REPO), "SSNAS_PREDICT_SERVER": str(sock)}
    proc = subprocess.Popen([sys.executable, "-m", "api.predict_server"], env=env, cwd=REPO)
    deadline = time.monotonic() + 180
    while not sock.exists():
        assert proc.poll() is None, "the prediction process exited"
        assert time.monotonic() < deadline, "the prediction process did not listen"
        time.sleep(0.1)
    return proc


@pytest.fixture
def server(tmp_path):
    sock = tmp_path / "predict.sock"
    proc = start_server(sock)
    yield sock, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def poster(i: int) -> str:
    rng = np.random.default_rng(i)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48 + 8 * i, 40, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def bodies() -> list[dict]:
    return [{"inputs": {"poster": {"base64": poster(i)}, "plot": [i, 0.5, -1, 2 * i]}} for i in range(6)]


BAD = [
    {"inputs": {"poster": {"base64": base64.b64encode(b"<html><body>no</body></html>").decode()},
                "plot": [1, 2, 3, 4]}},
    {"inputs": {"poster": "https://example.org/p.jpg", "plot": [1, 2, 3, 4]}},
    {"inputs": {"poster": {"base64": "***"}, "plot": [1, 2, 3, 4]}},
    {"inputs": {"poster": {"base64": poster(0)}, "plot": [1, 2]}},
    {"inputs": {"poster": {"base64": poster(0)}}},
    {"batch": [bodies()[0]["inputs"]] * 65},
    {"features": {"poster.efficientnet_lite0.head": [[0.0] * 1280]}},
    {"inputs": {"poster": {"$blob": [0, 4]}, "plot": {"$dict": 1}}},  # our frame's own markers
    {"inputs": {"poster": {"base64": poster(0)}, "plot": {"$blob": "x", "y": 1}}},
]


def test_same_predictions_and_errors_as_in_process(client, alice, model, server, settings_env):
    url = f"/models/{model}/predict"
    local = [client.post(url, headers=alice, json=b) for b in bodies()]
    local_bad = [client.post(url, headers=alice, json=b) for b in BAD]
    multipart = client.post(url, headers=alice, files=[("poster", ("p.jpg", b"a plot", "image/jpeg"))],
                            data={"plot": "[1, 2, 3, 4]"})
    assert all(r.status_code == 200 for r in local)

    settings_env(SSNAS_PREDICT_SERVER=str(server[0]))
    with ThreadPoolExecutor(6) as pool:  # concurrent: they share forward passes there
        remote = list(pool.map(lambda b: client.post(url, headers=alice, json=b), bodies()))
    for a, b in zip(local, remote):
        assert b.status_code == 200, b.text
        pa, pb = a.json()["predictions"][0], b.json()["predictions"][0]
        assert pa["labels"] == pb["labels"]
        np.testing.assert_allclose(list(pa["probabilities"].values()), list(pb["probabilities"].values()),
                                   rtol=0, atol=1e-6)
        assert {k: v for k, v in a.json().items() if k != "predictions"} == \
               {k: v for k, v in b.json().items() if k != "predictions"}
    for body, want in zip(BAD, local_bad):
        got = client.post(url, headers=alice, json=body)
        assert 400 <= want.status_code < 500
        assert (got.status_code, got.json()) == (want.status_code, want.json())
    got = client.post(url, headers=alice, files=[("poster", ("p.jpg", b"a plot", "image/jpeg"))],
                      data={"plot": "[1, 2, 3, 4]"})
    assert (got.status_code, got.json()) == (multipart.status_code, multipart.json())


def test_a_killed_prediction_process_means_503_until_it_is_back(client, alice, model, server, settings_env):
    sock, proc = server
    settings_env(SSNAS_PREDICT_SERVER=str(sock))
    url = f"/models/{model}/predict"
    body = bodies()[1]
    first = client.post(url, headers=alice, json=body)
    assert first.status_code == 200, first.text
    proc.send_signal(signal.SIGKILL)  # the connection this API process keeps to it is now dead
    proc.wait(10)
    proc = start_server(sock)  # back (as the supervisor would): the stale connection is replaced
    try:
        r = client.post(url, headers=alice, json=body)
        assert r.status_code == 200, r.text
        assert r.json() == first.json()
    finally:
        proc.kill()
        proc.wait(10)
    for _ in range(2):  # killed, not back yet: its socket file refuses connections
        r = client.post(url, headers=alice, json=body)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] and "prediction" in r.json()["detail"]
    sock.unlink()  # no socket file at all
    assert client.post(url, headers=alice, json=body).status_code == 503
    again = start_server(sock)
    try:
        r = client.post(url, headers=alice, json=body)
        assert r.status_code == 200, r.text
        assert r.json() == first.json()
    finally:
        again.kill()
        again.wait(10)


def test_frames_carry_blobs_and_a_clients_own_marker_keys_unchanged():
    import socket

    from api import predict_ipc as ipc

    a, b = socket.socketpair()
    with a, b:
        msg = {"x": [ipc.Blob(b"abc"), {"$blob": [0, 2]}, {"$dict": {"$blob": 1}}, b"zz"], "y": None}
        ipc.send(a, msg)
        got = ipc.recv(b)
        ipc.send(a, {"y": {"$dict": 1}})  # a frame without blobs
        assert ipc.recv(b) == {"y": {"$dict": 1}}
    assert got == {"x": [b"abc", {"$blob": [0, 2]}, {"$dict": {"$blob": 1}}, b"zz"], "y": None}
    assert isinstance(got["x"][0], ipc.Blob) and isinstance(got["x"][3], ipc.Blob)
    assert not isinstance(got["x"][1], bytes)
