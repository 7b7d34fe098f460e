"""The web dashboard: static files (vanilla JavaScript, no build step, no CDN) served at ``/ui``.

The pages call the same public API as every other client, with the API key the user signs in
with (kept in the tab's sessionStorage, sent as ``Authorization: Bearer``), so owner isolation
is the API's. Charts are hand-written SVG (``static/js/charts.js``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
# Everything the pages load comes from /ui itself; images may be blob: URLs (genotype, posters).
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class _UiFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"  # revalidate (ETag) so a new version shows at once
        return response


def mount_ui(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/ui`` redirects there)."""

    @app.get("/ui", include_in_schema=False)
    def _ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui", _UiFiles(directory=STATIC, html=True), name="ui")
