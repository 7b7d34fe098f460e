"""A raw upload (generic archive: image + text) through the default offline backbones: the
worker extracts and caches features, searches, and /predict takes a raw image + text."""

from __future__ import annotations

import base64
import io
import json
import zipfile

from helpers_e2e import done, poll, upload
from PIL import Image, ImageDraw

COLORS = {"red": (220, 30, 30), "blue": (30, 60, 220)}
SHAPES = ("circle", "square")


def _png(color: str, shape: str, i: int) -> bytes:
    img = Image.new("RGB", (48, 48), "white")
    d = ImageDraw.Draw(img)
    box = (6 + i % 5, 6 + i % 3, 40 - i % 4, 40)
    (d.ellipse if shape == "circle" else d.rectangle)(box, fill=COLORS[color])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _archive(n: int = 60) -> bytes:
    buf, lines = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            color, shape = list(COLORS)[i % 2], SHAPES[(i // 2) % 2]
            zf.writestr(f"img/{i}.png", _png(color, shape, i))
            split = "train" if i < 36 else ("dev" if i < 48 else "test")
            lines.append(json.dumps({"id": f"s{i}", "pic": f"img/{i}.png", "caption": f"a {color} {shape} number {i}",
                                     "labels": [color, shape], "split": split}))
        # an SVG and a web page saved as .png: rejected at upload, left out of the job
        zf.writestr("img/bad0.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
        zf.writestr("img/bad1.png", b"<!DOCTYPE html><html><body>403 Forbidden</body></html>")
        for k in range(2):
            lines.append(json.dumps({"id": f"bad{k}", "pic": f"img/bad{k}.png", "caption": "a red circle",
                                     "labels": ["red", "circle"], "split": "train"}))
        zf.writestr("manifest.jsonl", "\n".join(lines) + "\n")
        zf.writestr("schema.json", json.dumps({"fields": {"pic": "image", "caption": "text"}}))
    return buf.getvalue()


def test_raw_upload_is_extracted_searched_and_predicts_from_raw_inputs(stack):
    c = stack.client
    ds = upload(c, "shapes", _archive())
    assert ds["format"] == "generic" and ds["summary"]["num_samples"] == 60
    rejected = {r["id"]: r["problem"] for r in ds["summary"]["report"]["rejected"]}
    assert rejected == {"bad0": "'pic': file img/bad0.png is not an image Pillow can read: SVG is not "
                                "supported (vector graphics; convert it to PNG or JPEG)",
                        "bad1": "'pic': file img/bad1.png is not an image Pillow can read: it is an HTML "
                                "page (a saved web page or an error page instead of the picture?)"}
    body = {"dataset_id": ds["id"], "method": "ssl", "device": "cpu", "seed": 1, "label_fraction": 1.0,
            "search_epochs": 1, "pretrain_epochs": 1, "finetune_epochs": 2,
            "run": {"space": {"C": 8, "L": 4}, "search": {"batch_size": 12}, "pretrain": {"batch_size": 12},
                    "finetune": {"batch_size": 12, "min_dev_samples": 12}, "num_threads": 1}}
    r = c.post("/jobs", json=body)
    assert r.status_code == 202, r.text
    seen: list[dict] = []
    job = poll(c, r.json()["id"], done, timeout_s=300, seen=seen)
    assert job["status"] == "succeeded", job
    logs = [x["message"] for x in c.get(f"/jobs/{job['id']}/logs").json()["items"]]
    assert "stage features" in logs and logs.index("stage features") < logs.index("stage search")
    assert any(m.startswith("2 of 62 samples are left out of this job's data, e.g. bad0: ") for m in logs)
    model = c.get(f"/models/{job['model_id']}").json()
    assert set(model["backbones"]) == {"pic", "caption"}
    assert {n["modality"] for n in model["node_specs"]} == {"pic", "caption"}

    sample = {"pic": {"base64": base64.b64encode(_png("blue", "square", 3)).decode()},
              "caption": "a blue square number 3"}
    r = c.post(f"/models/{model['id']}/predict", json={"batch": [sample, sample]})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 2 and preds[0] == preds[1]
    assert set(preds[0]["probabilities"]) == {"blue", "circle", "red", "square"}
    svg = {"pic": {"base64": base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()},
           "caption": "a blue square"}
    r = c.post(f"/models/{model['id']}/predict", json={"inputs": svg})
    assert r.status_code == 422 and r.json()["detail"].startswith(
        "the pic is not an image Pillow can read: SVG is not supported"), r.text
