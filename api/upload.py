"""Streamed request bodies to disk: constant memory whatever the size, hashed on the way.

Accepts ``multipart/form-data`` (one file part named ``file`` plus small text fields) or a raw
body (``application/octet-stream``, file name in ``?filename=``). The multipart parser works on
the ASGI chunks as they arrive, so nothing is spooled twice and nothing is held in memory.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import BadRequest, Invalid, PayloadTooLarge, UnsupportedMediaType
from .memory import release_freed_memory

MAX_FIELD_BYTES = 64 * 1024
FILE_FIELD = "file"


@dataclass
class Received:
    path: Path | None = None
    filename: str = ""
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def safe_filename(name: str, default: str = "upload.bin") -> str:
    """Basename only, [A-Za-z0-9._-], no leading dot, at most 100 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[-100:]
    return base or default


class _FileSink:
    """Appends bytes to one file with a size limit, hashing as it goes.

    Hashing and writing run on a helper thread (both release the GIL), fed 1 MiB pieces through
    a bounded queue, so they overlap with receiving and parsing; memory stays below
    ``(QUEUE_DEPTH + 2) * buffering``, and is given back to the system on close.
    """

    QUEUE_DEPTH = 8

    def __init__(self, path: Path, limit: int, too_large: str, buffering: int):
        self.path, self.limit, self.too_large, self.buffering = path, limit, too_large, buffering
        self.hasher, self.size = hashlib.sha256(), 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._buf = bytearray()
        self._q: queue.Queue = queue.Queue(self.QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="upload-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (piece := self._q.get()) is not None:
            if self._error is None:
                try:
                    self.hasher.update(piece)
                    self.fh.write(piece)
                except BaseException as exc:  # noqa: BLE001 - re-raised by close()
                    self._error = exc

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(self.too_large)
        if self._error is not None:
            raise self._error
        self._buf += data
        if len(self._buf) >= self.buffering:
            self._q.put(self._buf)  # handed over to the writer thread, not copied
            self._buf = bytearray()

    def close(self) -> None:
        """Flush, stop the writer thread, close the file; raises a write error (disk full...)."""
        if self._thread.is_alive():
            if self._buf:
                self._q.put(self._buf)
                self._buf = bytearray()
            self._q.put(None)
            self._thread.join()
            self.fh.close()
            release_freed_memory()
        if self._error is not None:
            raise self._error


class _Multipart:
    """python-multipart callbacks: the ``file`` part goes to a sink, text fields to a dict."""

    def __init__(self, dest_dir: Path, make_sink):
        self.dest_dir, self.make_sink = dest_dir, make_sink
        self.out = Received()
        self.sink: _FileSink | None = None
        self._hname, self._hval, self._headers = b"", b"", {}
        self._field: str | None = None
        self._buf = bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield,
                "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._field, self._buf = {}, None, bytearray()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._hval += data[start:end]

    def _hend(self) -> None:
        self._headers[self._hname.lower()] = self._hval
        self._hname, self._hval = b"", b""

    def _headers_done(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts or name == FILE_FIELD:
            if name != FILE_FIELD or self.sink is not None:
                raise Invalid(f"send exactly one file part, named {FILE_FIELD!r}")
            self.out.filename = safe_filename(opts.get(b"filename", b"").decode("utf-8", "replace"))
            self.sink = self.make_sink(self.dest_dir / self.out.filename)
        else:
            self._field = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._field is None:
            self.sink.write(memoryview(data)[start:end])
            return
        self._buf += data[start:end]
        if len(self._buf) > MAX_FIELD_BYTES:
            raise Invalid(f"form field {self._field!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if self._field is not None:
            self.out.fields[self._field] = self._buf.decode("utf-8", "replace")
            self._field = None


class Budget(Protocol):
    """Storage reserved for an upload before its bytes are written (``cover`` raises 413)."""

    async def cover(self, size: int, slack: bool = True) -> None: ...


async def receive_upload(request: Request, dest_dir: Path, limit: int, too_large: str,
                         buffering: int = 1 << 20, budget: Budget | None = None) -> Received:
    """Stream the request body into ``dest_dir``; raise 413 past ``limit`` file bytes, or when
    ``budget`` cannot cover the bytes (reserved from the Content-Length, else as they come).

    The caller owns ``dest_dir`` and removes it on any error (nothing half-written stays).
    """
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 1024 * 1024:
        raise PayloadTooLarge(too_large)  # hopeless before reading a byte (multipart adds < 1 MiB)
    if budget is not None and length and length.isdigit():
        try:  # the whole body at once; it holds a multipart envelope, so on a refusal the file's
            await budget.cover(min(int(length), limit), slack=False)  # own bytes are reserved as they come
        except PayloadTooLarge:
            pass
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))

    def make_sink(path: Path) -> _FileSink:
        return _FileSink(path, limit, too_large, buffering)

    if ctype == b"multipart/form-data":
        if b"boundary" not in opts:
            raise Invalid("multipart body without a boundary")
        handler = _Multipart(dest_dir, make_sink)
        try:
            parser = MultipartParser(opts[b"boundary"], handler.callbacks())
            async for chunk in request.stream():
                parser.write(chunk)
                if budget is not None and handler.sink is not None:
                    await budget.cover(handler.sink.size)
            parser.finalize()
        except FormParserError as exc:  # python-multipart bounds boundaries and part headers
            raise BadRequest(f"malformed multipart body: {str(exc)[:200]}") from exc
        finally:
            if handler.sink is not None:
                handler.sink.close()
        out, sink = handler.out, handler.sink
    elif ctype in (b"application/octet-stream", b"application/zip", b"application/x-hdf5", b""):
        out = Received(filename=safe_filename(request.query_params.get("filename", "")))
        sink = make_sink(dest_dir / out.filename)
        try:
            async for chunk in request.stream():
                sink.write(chunk)
                if budget is not None:
                    await budget.cover(sink.size)
        finally:
            sink.close()
    else:
        raise UnsupportedMediaType(
            f"send multipart/form-data (file part {FILE_FIELD!r}) or application/octet-stream, "
            f"not {ctype.decode('latin-1')}")
    if sink is None or sink.size == 0:
        raise Invalid(f"no file received (multipart part {FILE_FIELD!r} missing or empty)")
    out.path, out.size, out.sha256 = sink.path, sink.size, sink.hasher.hexdigest()
    return out
