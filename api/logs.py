"""The request id: X-Request-ID in and out of every request, and one access log line each
(the JSON log format itself is ``store.logs``)."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.logs import JsonFormatter, configure_logging, request_id_var  # noqa: F401


class RequestIdMiddleware:
    """Pure ASGI middleware (no body buffering): X-Request-ID in and out, one access log line."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.log = logging.getLogger("ssnas.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.log.info("request", extra={
                "method": scope.get("method"), "path": scope.get("path"), "status": status["code"],
                "duration_ms": round((time.perf_counter() - start) * 1000, 2)})
            request_id_var.reset(token)
