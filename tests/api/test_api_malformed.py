"""Malformed requests get a 4xx with a message, never a 500 (issue 10 items 8 and 9)."""

from __future__ import annotations

import pytest
from api_factories import make_dataset, make_job, make_model

BIG = 9223372036854775808


def _multipart(client, headers, body: bytes, boundary: str = "XyZ"):
    return client.post("/datasets", content=body,
                       headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})


@pytest.mark.parametrize("body, boundary, needle", [
    (b"\x00\xff garbage \r\n\r\n--zz", "XyZ", "malformed multipart body"),
    (b"--XyZ\r\n" + b"A" * (1 << 20) + b": x\r\n\r\ndata\r\n--XyZ--\r\n", "XyZ", "header"),
    (b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + b"a" * (1 << 20)
     + b'"\r\n\r\ndata\r\n--XyZ--\r\n', "XyZ", "header"),
    (b"--XyZ\r\nContent-Disposition form-data\r\n\r\ndata\r\n--XyZ--\r\n", "XyZ", "malformed multipart body"),
    (b"--" + b"b" * 2000 + b"\r\n\r\nx\r\n", "b" * 2000, "Boundary length"),
])
def test_malformed_multipart_upload_is_400(client, alice, body, boundary, needle):
    r = _multipart(client, alice, body, boundary)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]


@pytest.mark.parametrize("url", [f"/datasets?offset={BIG}", f"/jobs?offset={BIG}",
                                 f"/datasets?offset={BIG - 1}", f"/jobs?offset={BIG - 1}", "/jobs?limit=-1"])
def test_huge_paging_numbers_are_422(client, alice, url):
    r = client.get(url, headers=alice)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "query"


@pytest.mark.parametrize("param", ["after=9223372036854775807", "after=2147483648"])
@pytest.mark.parametrize("what", ["metrics", "logs"])
def test_huge_cursor_is_422(client, alice, param, what):
    job = make_job("alice", make_dataset("alice"))
    r = client.get(f"/jobs/{job}/{what}?{param}", headers=alice)
    assert r.status_code == 422, r.text
    ok = client.get(f"/jobs/{job}/{what}?after=2147483647", headers=alice)
    assert ok.status_code == 200 and ok.json()["items"] == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_predict_refuses_non_finite_features(client, alice, tmp_path, literal):
    model = make_model("alice", tmp_path, [("img", "image", (8,)), ("txt", "text", (6,))])
    row = b"[" + b", ".join([literal] + [b"0.5"] * 7) + b"]"
    body = b'{"features": {"img": [' + row + b'], "txt": [[0, 0, 0, 0, 0, 0]]}}'
    r = client.post(f"/models/{model}/predict", content=body, headers={**alice, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "not a number" in r.json()["detail"]


@pytest.mark.parametrize("path, methods", [
    ("/jobs", "GET, OPTIONS, POST"), ("/datasets", "GET, OPTIONS, POST"),
    ("/datasets/abc", "DELETE, GET, OPTIONS"), ("/jobs/abc/cancel", "OPTIONS, POST"), ("/health", "GET, OPTIONS"),
])
def test_options_and_405_list_every_method(client, path, methods):
    opt = client.options(path)
    assert opt.status_code == 204 and opt.headers["allow"] == methods
    put = client.put(path)
    assert put.status_code == 405 and put.headers["allow"] == methods
    assert "not allowed" in put.json()["detail"]


def test_unknown_path_stays_404(client):
    assert client.options("/nope").status_code == 404
