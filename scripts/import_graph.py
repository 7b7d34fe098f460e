"""The import graph between the service's packages, from the source (AST, nothing imported).

    python scripts/import_graph.py                      # this checkout
    python scripts/import_graph.py --ref 6baa422        # a commit, read through git
    python scripts/import_graph.py --ref 6baa422 --ref HEAD --markdown docs/import_graph.md

For every module of ``api``, ``worker``, ``store``, ``launcher`` and ``ssnas_core`` it lists the
modules of the other packages it imports, each marked ``top`` (at module level: runs on import)
or ``lazy`` (inside a function). ``tests/api/test_api_import_layers.py`` checks the rules on the
same graph (``edges``).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

PACKAGES = ("api", "worker", "store", "launcher", "ssnas_core")
ROOT = Path(__file__).resolve().parent.parent


def sources(ref: str | None = None, root: Path = ROOT) -> dict[str, str]:
    """module name -> source text of every module of PACKAGES (at ``ref``, or on disk)."""
    if ref is None:
        files = [p.relative_to(root).as_posix() for pkg in PACKAGES for p in (root / pkg).rglob("*.py")]
        read = lambda f: (root / f).read_text()  # noqa: E731
    else:
        out = subprocess.run(["git", "-C", str(root), "ls-tree", "-r", "--name-only", ref, "--", *PACKAGES],
                             check=True, capture_output=True, text=True).stdout
        files = [f for f in out.split() if f.endswith(".py")]
        read = lambda f: subprocess.run(["git", "-C", str(root), "show", f"{ref}:{f}"], check=True,  # noqa: E731
                                        capture_output=True, text=True).stdout
    mods = {}
    for f in sorted(files):
        name = f[:-3].replace("/", ".")
        mods[name.removesuffix(".__init__")] = read(f)
    return mods


def _resolve(module: str, is_pkg: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def edges(mods: dict[str, str]) -> list[tuple[str, str, str]]:
    """(module, imported module, "top" | "lazy") for every import of a known package's module or
    of torch; ``from X import y`` counts as X.y when that is a module, else X."""
    out = []
    for module, text in mods.items():
        tree = ast.parse(text)
        is_pkg = any(m.startswith(module + ".") for m in mods) or module in PACKAGES
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            kind = "top" if id(node) in top_level or _in_top_block(tree, node) else "lazy"
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                base = _resolve(module, is_pkg, node.level, node.module) if node.level else node.module or ""
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for name in names:
                head = name.split(".")[0]
                if head in PACKAGES or head == "torch":
                    out.append((module, name, kind))
    return sorted(set(out))


def _in_top_block(tree: ast.Module, node: ast.AST) -> bool:
    """An import inside a module-level ``if``/``try`` (not TYPE_CHECKING) runs on import too."""
    for stmt in tree.body:
        guarded = isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)
        if isinstance(stmt, (ast.If, ast.Try)) and not guarded:
            if any(n is node for n in ast.walk(stmt)) and not any(
                    isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(n is node for n in ast.walk(f))
                    for f in ast.walk(stmt)):
                return True
    return False


def package(name: str) -> str:
    return name.split(".")[0]


def summary(mods: dict[str, str], graph: list[tuple[str, str, str]]) -> dict:
    pkgs = Counter(package(m) for m in mods)
    between = Counter((package(a), package(b), k) for a, b, k in graph if package(a) != package(b))
    detail = defaultdict(set)
    for a, b, k in graph:
        if package(a) != package(b) and package(b) != "ssnas_core" and package(a) != "ssnas_core":
            detail[(package(a), package(b))].add(f"{a} -> {b}" + (" (lazy)" if k == "lazy" else ""))
    return {"modules": dict(pkgs), "between": between, "detail": detail}


def markdown(label: str, mods: dict[str, str]) -> str:
    graph = edges(mods)
    s = summary(mods, graph)
    counts = ", ".join(f"`{p}` {n}" for p, n in sorted(s["modules"].items()))
    lines = [f"### {label}", "", f"Modules per package: {counts}",
             "", "| from | to | module-level | lazy |", "|---|---|---|---|"]
    pairs = sorted({(a, b) for a, b, _ in s["between"]})
    for a, b in pairs:
        lines.append(f"| {a} | {b} | {s['between'][(a, b, 'top')]} | {s['between'][(a, b, 'lazy')]} |")
    lines += ["", "Edges between the service packages (`ssnas_core` edges counted above):", ""]
    for (a, b), items in sorted(s["detail"].items()):
        lines.append(f"- {a} -> {b}: " + "; ".join(f"`{i}`" for i in sorted(items)))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", action="append",
                    help="a git commit (repeat: one section each); default: the files on disk")
    ap.add_argument("--markdown", type=Path, help="write the sections to this file")
    args = ap.parse_args(argv)
    parts = []
    for ref in args.ref or [None]:
        rev = ref and subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True,
                                     capture_output=True, text=True).stdout.strip()
        parts.append(markdown(f"{ref} ({rev})" if ref else "working tree", sources(ref)))
    text = "\n".join(parts)
    if args.markdown:
        refs = " ".join(f"--ref {r}" for r in args.ref or [])
        cmd = f"python scripts/import_graph.py {refs} --markdown {args.markdown}"
        args.markdown.write_text(f"# Import graph between the packages\n\nGenerated by `{cmd}`.\n\n{text}")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
