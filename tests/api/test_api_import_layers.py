"""The layering of the service's packages: ``api`` and ``worker`` are siblings over ``store``
(neither imports the other, nor the launcher above them); ``store`` imports no torch and no web
framework; ``ssnas_core`` imports none of the service; and no module of the service loads torch
when imported (the API process loads it only when /predict needs a model, the worker inside a
task). Checked twice: on the import graph of the source (``scripts/import_graph.py``) and by
importing every module in a fresh interpreter."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ("api", "worker", "store", "launcher")
FORBIDDEN = {("api", "worker"), ("api", "launcher"), ("worker", "api"), ("worker", "launcher"),
             ("store", "api"), ("store", "worker"), ("store", "launcher"), ("ssnas_core", "api"),
             ("ssnas_core", "worker"), ("ssnas_core", "store"), ("ssnas_core", "launcher")}


def _graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_package_imports_a_sibling_or_one_above_it():
    g = _graph_module()
    mods = g.sources()
    bad = [f"{a} -> {b} ({k})" for a, b, k in g.edges(mods) if (g.package(a), g.package(b)) in FORBIDDEN]
    assert bad == []


def test_no_service_module_imports_torch_at_module_level():
    """Not directly, and not through a module of ssnas_core that imports it at module level."""
    g = _graph_module()
    mods = g.sources()
    graph = g.edges(mods)
    heavy = {"torch"}  # modules whose import loads torch
    changed = True
    while changed:
        changed = False
        for a, b, kind in graph:
            if kind == "top" and a not in heavy and (b in heavy or b.split(".")[0] in heavy):
                heavy.add(a)
                changed = True
    loaded = sorted(m for m in heavy if g.package(m) in SERVICE)
    assert loaded == []


def test_store_imports_neither_torch_nor_a_web_framework_anywhere():
    bad = []
    for path in (ROOT / "store").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.name}: {n}" for n in names
                    if n.split(".")[0] in ("torch", "fastapi", "starlette", "uvicorn", "api", "worker", "launcher")]
    assert bad == []


PROBE = """
import importlib, json, pkgutil, sys
out = {}
for pkg in sys.argv[1:]:
    p = importlib.import_module(pkg)
    for m in pkgutil.walk_packages(p.__path__, pkg + "."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
if "api" in sys.argv[1:]:
    from api.main import create_app
    create_app()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _loaded_after_importing(*packages: str) -> set[str]:
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *packages], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_importing_every_api_module_and_building_the_app_loads_no_torch_and_no_worker():
    loaded = _loaded_after_importing("store", "api")
    assert {"store", "api"} <= loaded
    assert not loaded & {"torch", "worker", "launcher"}


def test_importing_every_worker_module_loads_no_torch_and_no_api():
    loaded = _loaded_after_importing("store", "worker")
    assert {"store", "worker", "celery"} <= loaded
    assert not loaded & {"torch", "api", "launcher", "fastapi"}
