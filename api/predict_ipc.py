"""Frames between the API processes and the prediction process (a Unix socket, same machine).

A frame is ``!II`` (header length, blob length), a JSON header, then the blobs: request values
that are file bytes travel as ``{"$blob": [offset, length]}`` in the header, so posters are not
base64-encoded twice; a client's own object with a ``$blob`` or ``$dict`` key travels escaped as
``{"$dict": {...}}``, so it reaches the other side as the client sent it. No pickle: either
side may be restarted or upgraded alone.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEAD = struct.Struct("!II")
MAX_FRAME = 1 << 31


class Blob(bytes):
    """File bytes to send as a blob (a bytes subclass so it stays what it was)."""


def _pack(value: Any, blobs: list[bytes], offset: list[int]) -> Any:
    if isinstance(value, (bytes, bytearray)):
        blobs.append(bytes(value))
        ref = {"$blob": [offset[0], len(value)]}
        offset[0] += len(value)
        return ref
    if isinstance(value, dict):
        packed = {k: _pack(v, blobs, offset) for k, v in value.items()}
        return {"$dict": packed} if "$blob" in value or "$dict" in value else packed
    if isinstance(value, list):
        return [_pack(v, blobs, offset) for v in value]
    return value


def _unpack(value: Any, data: memoryview) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$blob" in value:
            lo, n = value["$blob"]
            return Blob(data[lo:lo + n])
        if len(value) == 1 and "$dict" in value:
            value = value["$dict"]
        return {k: _unpack(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, data) for v in value]
    return value


def send(sock: socket.socket, message: dict) -> None:
    blobs: list[bytes] = []
    head = json.dumps(_pack(message, blobs, [0]), allow_nan=False).encode()
    body = b"".join(blobs)
    sock.sendall(_HEAD.pack(len(head), len(body)) + head + body)


def _read(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the prediction process closed the connection")
        got += k
    return buf


def recv(sock: socket.socket) -> dict:
    """The next message; EOFError when the other side closed the connection."""
    nh, nb = _HEAD.unpack(_read(sock, _HEAD.size))
    if nh + nb > MAX_FRAME:
        raise ValueError("frame too large")
    head = json.loads(_read(sock, nh))
    return _unpack(head, memoryview(_read(sock, nb) if nb else b""))
