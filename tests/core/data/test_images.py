"""Image decoding: what Pillow reads, whatever the name; everything else refused in plain words."""

import io

import numpy as np
import pytest
from PIL import Image

from ssnas_core.data.images import ImageError, check_image, open_image
from tests.core.data.dataset_factories import image_bytes

SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (8, 6), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_formats_pillow_reads_decode_to_rgb(fmt):
    data = image_bytes(np.random.default_rng(0), (20, 14), fmt)
    im = open_image(data)
    assert im.mode == "RGB" and im.size == (20, 14)
    assert check_image(data) == fmt


def test_animated_gif_gives_its_first_frame():
    im = open_image(_animated_gif())
    assert im.size == (8, 6) and im.getpixel((0, 0))[0] > 200  # red: the first frame


@pytest.mark.parametrize("data, words", [
    (SVG, "SVG is not supported"),
    (b"<svg width='3'></svg>", "SVG is not supported"),
    (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "it is an HTML page"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "it is a PDF document"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC/HEIF is not supported"),
    (b"a plot summary, not a poster", "it is a text file"),
    (b"", "the file is empty"),
    (bytes(range(256)) * 4, "unknown image format"),
])
def test_non_images_are_named_in_plain_words(data, words):
    for decode in (open_image, check_image):
        with pytest.raises(ImageError) as err:
            decode(data)
        assert str(err.value) == f"not an image Pillow can read: {words}" or \
            str(err.value).startswith(f"not an image Pillow can read: {words}")
        assert "BytesIO" not in str(err.value) and "0x" not in str(err.value)


def test_truncated_jpeg_is_caught_by_the_cheap_check_too():
    data = image_bytes(np.random.default_rng(1), (64, 64), "JPEG")
    for decode in (open_image, check_image):
        with pytest.raises(ImageError, match="the image data is truncated or corrupt"):
            decode(data[: len(data) // 2])


def test_pixel_cap_is_checked_before_decoding():
    buf = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buf, format="PNG")
    with pytest.raises(ImageError, match="too large: 3000x3000 pixels"):
        check_image(buf.getvalue(), max_pixels=1_000_000)
