"""The HTTP layer: an httpx.Client with the Bearer key, errors as ``ApiError``, and retries of
idempotent requests (GET/HEAD) on 503 (waiting for ``Retry-After``) or on a refused connection."""

from __future__ import annotations

import email.utils
import time
from typing import Any, Callable

import httpx

from .errors import ConnectionFailed, error_for

IDEMPOTENT = ("GET", "HEAD")


def retry_after_s(value: str | None, fallback: float, cap: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), at most ``cap``."""
    if value:
        value = value.strip()
        if value.isdigit():
            return min(float(value), cap)
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, min(when.timestamp() - time.time(), cap))
        except (TypeError, ValueError):
            pass
    return min(fallback, cap)


class Transport:
    """Requests against one service with one key.

    ``retries``: how many times an idempotent request is repeated after a 503 or a failed
    connection (waiting ``Retry-After`` seconds, else 1, 2, 4, ... s, each wait at most
    ``max_wait_s``). Other methods are never repeated: a POST may have been applied.
    """

    def __init__(self, url: str, key: str | None, timeout: float = 60.0, retries: int = 5,
                 max_wait_s: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.url = url.rstrip("/")
        headers = {"User-Agent": "ssnas-client/0.1"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.http = httpx.Client(base_url=self.url, headers=headers,
                                 timeout=httpx.Timeout(timeout, connect=10.0))
        self.retries, self.max_wait_s, self.sleep = retries, max_wait_s, sleep
        self.retried = 0  # how many repeats this transport made (for callers and tests)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kw: Any) -> httpx.Response:
        """Send a request; raise ``ApiError`` unless 2xx or in ``ok``; retry as the class says."""
        attempt = 0
        while True:
            try:
                r = self.http.request(method, path, **kw)
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if method in IDEMPOTENT and attempt < self.retries:
                    self._wait(None, attempt)
                    attempt += 1
                    continue
                raise ConnectionFailed(f"cannot reach {self.url}: {exc}") from exc
            if r.status_code == 503 and method in IDEMPOTENT and attempt < self.retries:
                self._wait(r.headers.get("retry-after"), attempt)
                attempt += 1
                continue
            if r.is_success or r.status_code in ok:
                return r
            raise error_for(r.status_code, _body(r), method, path)

    def _wait(self, header: str | None, attempt: int) -> None:
        self.retried += 1
        self.sleep(retry_after_s(header, 2.0 ** attempt, self.max_wait_s))

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def stream_get(self, path: str) -> httpx.Response:
        """A streamed GET (the caller closes it); a 503 before the body is retried like any GET."""
        attempt = 0
        while True:
            try:
                r = self.http.send(self.http.build_request("GET", path), stream=True)
            except httpx.ConnectError as exc:
                if attempt < self.retries:
                    self._wait(None, attempt)
                    attempt += 1
                    continue
                raise ConnectionFailed(f"cannot reach {self.url}: {exc}") from exc
            if r.is_success:
                return r
            r.read()
            r.close()
            if r.status_code == 503 and attempt < self.retries:
                self._wait(r.headers.get("retry-after"), attempt)
                attempt += 1
                continue
            raise error_for(r.status_code, _body(r), "GET", path)


def _body(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text
