"""/predict input errors in the user's words: what the file is, what the field takes."""

from __future__ import annotations

import base64
import io

import pytest
from api_factories import make_model, make_poster_plot_model
from PIL import Image

SPEC = {"name": "efficientnet_lite0", "weights": None, "options": {"image_size": 64, "taps": ["head"]}}
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'


@pytest.fixture
def poster_model(db, tmp_path):
    return make_poster_plot_model("alice", tmp_path, SPEC)


def _detail(r) -> str:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "BytesIO" not in detail and " 0x" not in detail and "PIL" not in detail
    return detail


@pytest.mark.parametrize("data, words", [
    (SVG, "the poster is not an image Pillow can read: SVG is not supported (vector graphics; "
          "convert it to PNG or JPEG)"),
    (b"<html><body>Forbidden</body></html>", "the poster is not an image Pillow can read: it is "
                                             "an HTML page"),
    (b"a plot, not a picture", "the poster is not an image Pillow can read: it is a text file"),
])
def test_files_that_are_not_images_are_named(client, alice, poster_model, data, words):
    r = client.post(f"/models/{poster_model}/predict", headers=alice,
                    files=[("poster", ("p.jpg", data, "image/jpeg"))], data={"plot": "[1, 2, 3, 4]"})
    assert _detail(r).startswith(words)
    js = client.post(f"/models/{poster_model}/predict", headers=alice, json={"inputs": {
        "poster": {"base64": base64.b64encode(data).decode()}, "plot": [1, 2, 3, 4]}})
    assert _detail(js).startswith(words)


def test_text_sent_for_an_image_field_says_how_to_send_the_image(client, alice, poster_model):
    r = client.post(f"/models/{poster_model}/predict", headers=alice,
                    json={"inputs": {"poster": "https://example.org/poster.jpg", "plot": [1, 2, 3, 4]}})
    assert _detail(r) == ('the poster must be an image: send the file\'s bytes as {"base64": "..."} '
                          "in JSON or as a file part of a multipart request, not str "
                          "'https://example.org/poster.jpg'")
    form = client.post(f"/models/{poster_model}/predict", headers=alice,
                       files={"poster": (None, "poster.jpg"), "plot": (None, "[1, 2, 3, 4]")})
    assert _detail(form).startswith("the poster must be an image: send the file's bytes")


def test_webp_and_gif_posters_predict(client, alice, poster_model):
    for fmt in ("WEBP", "GIF"):
        buf = io.BytesIO()
        Image.new("RGB", (40, 60), (10, 200, 30)).save(buf, format=fmt)
        r = client.post(f"/models/{poster_model}/predict", headers=alice,
                        files=[("poster", ("poster.jpg", buf.getvalue(), "image/jpeg"))],
                        data={"plot": "[0.5, 0, 1, 2]"})
        assert r.status_code == 200, r.text


def test_a_model_whose_backbone_does_not_load_answers_422_not_500(client, alice, db, tmp_path):
    spec = {"name": "vgg19", "weights": str(tmp_path / "missing.pth"), "options": {}}
    mid = make_model("alice", tmp_path, [("poster.vgg19.pool5", "image", (4,))], {"poster": spec})
    r = client.post(f"/models/{mid}/predict", headers=alice,
                    json={"inputs": {"poster": "https://example.org/p.jpg"}})
    assert r.status_code == 422, r.text
