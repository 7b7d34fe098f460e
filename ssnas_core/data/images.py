"""Image bytes -> PIL image, whatever the file is called, with errors in the user's words.

Accepted: anything Pillow reads, told by its content, not its name (JPEG, PNG, WebP, GIF and
animated GIF/WebP: the first frame, BMP, TIFF, AVIF...). Refused, with a message that says
what the file is instead: SVG, HTML, PDF, text, audio, HEIC, empty files, truncated or
corrupt data, and images above a pixel cap (checked from the header, before any pixel is
decoded; Pillow's own bomb warning is an error as a second guard).

``open_image`` decodes fully to RGB (what a backbone needs); ``check_image`` decodes just
enough to prove the file is whole (JPEG at 1/8 scale, which still reads every byte of the
entropy-coded data), about 2x faster, for upload validation. Both raise ``ImageError``
(a DataFormatError) whose text reads after "the poster is ...", e.g.
``not an image Pillow can read: SVG is not supported (convert it to PNG or JPEG)``.
"""

from __future__ import annotations

import io
import warnings
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from .raw import DataFormatError

DEFAULT_MAX_PIXELS = 64_000_000
READ_AS = "not an image Pillow can read"


class ImageError(DataFormatError):
    """Image bytes that cannot be used; the message says why in plain words."""


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is still text
        return exc.start >= len(head) - 3
    return True


SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF",
              b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def what_is_it(data: bytes) -> str:
    """A plain-words reason why ``data`` is no image Pillow reads (what it looks like instead)."""
    if not data:
        return "the file is empty"
    head = data[:2048]
    kind = next((k for sig, k in SIGNATURES.items() if head.startswith(sig)), None)
    if kind is None and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is not None:
        return f"the image data is truncated or corrupt (it starts like a {kind} file)"
    low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in low[:1024] and (low.startswith(b"<?xml") or low.startswith(b"<svg")
                                   or low.startswith(b"<!--") or low.startswith(b"<!doctype svg")):
        return "SVG is not supported (vector graphics; convert it to PNG or JPEG)"
    if low.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in low[:512]:
        return "it is an HTML page (a saved web page or an error page instead of the picture?)"
    if head.startswith(b"%PDF"):
        return "it is a PDF document"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypmsf1"):
        return "HEIC/HEIF is not supported (convert it to JPEG or PNG)"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "it is a WAV audio file"
    if _looks_like_text(head):
        return "it is a text file"
    return "unknown image format (JPEG, PNG, WebP, GIF, BMP and TIFF are read)"


def _head(data: bytes | BinaryIO) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data[:2048])
    data.seek(0)
    return data.read(2048)


def _decode(data: bytes | BinaryIO, max_pixels: int, draft: bool) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                im = Image.open(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
            except UnidentifiedImageError:
                raise ImageError(f"{READ_AS}: {what_is_it(_head(data))}") from None
            w, h = im.size
            if w * h > max_pixels:
                raise ImageError(f"too large: {w}x{h} pixels, more than {max_pixels} "
                                 "(decompression bomb?)")
            if draft and im.format == "JPEG":
                im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
            im.load()  # the first frame of an animation
            return im
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"too large ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"{READ_AS}: the image data is truncated or corrupt ({exc})") from exc


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes to an RGB PIL image; ImageError if unreadable or too large."""
    im = _decode(data, max_pixels, draft=False)
    try:
        return im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ImageError(f"{READ_AS}: cannot convert its {im.mode} pixels to RGB ({exc})") from exc


def check_image(data: bytes | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """Prove ``data`` (bytes, or a seekable stream read as it decodes, so a large file is never
    held whole) decodes, cheaply: JPEG at 1/8 scale; returns Pillow's format name."""
    im = _decode(data, max_pixels, draft=True)
    return str(im.format)
