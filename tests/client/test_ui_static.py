"""/ui serves the dashboard's files from the repository (no key needed for the static files
themselves; every data request the pages make carries the key)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

STATIC = Path(__file__).resolve().parents[2] / "api" / "ui" / "static"


def test_ui_files_are_served_with_a_strict_policy(service):
    with httpx.Client(base_url=service.url) as c:
        r = c.get("/ui")
        assert r.status_code == 307 and r.headers["location"] == "/ui/"
        r = c.get("/ui/")
        assert r.status_code == 200 and '<script type="module" src="js/app.js">' in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
        js = c.get("/ui/js/app.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert c.get("/ui/%2e%2e/store/settings.py").status_code == 404
        assert c.get("/ui/nope.js").status_code == 404
        assert "/ui" not in c.get("/openapi.json").json()["paths"]


def test_every_module_the_pages_import_exists():
    """A renamed file would only show as a blank page: check each relative import resolves."""
    files = list(STATIC.rglob("*.js"))
    assert len(files) >= 8
    for f in files:
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', f.read_text()):
            assert (f.parent / target).resolve().is_file(), f"{f.name} imports missing {target}"
