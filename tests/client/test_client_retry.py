"""Retries: idempotent GETs repeat after a 503 (waiting Retry-After), POSTs never do; a gateway in
front of the real API answers 503 while it "restarts" (as a load balancer does)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from ssnas_client import Client, Unavailable
from ssnas_client.config import ConfigError, job_spec, parse_set
from ssnas_client.http import retry_after_s


class Gateway:
    """Forwards to ``upstream``; answers 503 + ``Retry-After: 1`` to the next ``fail`` requests."""

    def __init__(self, upstream: str):
        self.fail, self.seen, gw = 0, [], self
        self.up = httpx.Client(base_url=upstream, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                gw.seen.append((self.command, self.path))
                if gw.fail > 0:
                    gw.fail -= 1
                    body = b'{"detail": "restarting"}'
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                n = int(self.headers.get("Content-Length") or 0)
                r = gw.up.request(self.command, self.path, content=self.rfile.read(n) if n else None,
                                  headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = _handle

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.up.close()


@pytest.fixture
def gateway(service):
    gw = Gateway(service.url)
    yield gw
    gw.close()


def test_gets_are_retried_after_503_and_posts_are_not(service, gateway):
    with Client(gateway.url, service.key) as c:
        gateway.fail = 2
        page = c.list_jobs()  # two 503s, then the real answer
        assert page.total >= 0 and c.t.retried == 2
        assert [p for _, p in gateway.seen].count("/jobs?limit=50&offset=0") == 3
        gateway.fail, before = 1, len(gateway.seen)
        with pytest.raises(Unavailable) as err:
            c.submit_job("any-dataset")
        assert err.value.status == 503 and err.value.message == "restarting"
        assert len(gateway.seen) == before + 1  # the POST was sent once
    with Client(gateway.url, service.key, retries=1) as c:
        gateway.fail = 5
        with pytest.raises(Unavailable):
            c.list_datasets()
        assert c.t.retried == 1


def test_retry_after_forms():
    assert retry_after_s("3", 1.0, 30.0) == 3.0
    assert retry_after_s("120", 1.0, 30.0) == 30.0  # capped
    assert retry_after_s(None, 4.0, 30.0) == 4.0  # the backoff when the header is absent
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", 2.0, 30.0) == 0.0  # a date in the past
    assert retry_after_s("soon", 2.0, 30.0) == 2.0


def test_job_spec_routes_keys_to_the_body_or_run(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("space: {C: 64}\nsearch: {epochs: 5}\nlabel_fraction: 0.2\ndevice: cuda\n")
    body = job_spec(str(cfg), ["search.epochs=3", "ssl.augment.feature_mask=0.3", "seed=4"], {"method": "mfas"})
    assert body == {"run": {"space": {"C": 64}, "search": {"epochs": 3}, "ssl": {"augment": {"feature_mask": 0.3}}},
                    "label_fraction": 0.2, "device": "gpu", "seed": 4, "method": "mfas"}
    assert parse_set("a.b=[1, 2]") == (["a", "b"], [1, 2])
    with pytest.raises(ConfigError):
        job_spec(None, ["novalue"], {})
