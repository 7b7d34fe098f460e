"""Draw a genotype (its JSON form, see ssnas_core/genotype.py) as a standalone SVG.

Columns left to right: input nodes, one column per cell, the output. Each cell box lists its
inner steps as ``s_k = op(a, b)``; edges run from the state each cell slot reads (x above, y
below) and from the concatenated cells to the output. Pure string building: no torch.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

NODE_W, NODE_H, GAP = 210, 44, 16
CELL_W, COL_GAP, LINE = 220, 70, 16
MARGIN = 20


def _text(x: float, y: float, s: str, size: int = 12, weight: str = "normal",
          anchor: str = "start") -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" font-weight="{weight}" '
            f'text-anchor="{anchor}" font-family="sans-serif">{escape(s)}</text>')


def _box(x: float, y: float, w: float, h: float, fill: str) -> str:
    return (f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6" '
            f'fill="{fill}" stroke="#333"/>')


def _edge(x1: float, y1: float, x2: float, y2: float, label: str = "") -> str:
    mid = (x1 + x2) / 2
    path = (f'<path d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"'
            f' fill="none" stroke="#555" marker-end="url(#arrow)"/>')
    return path + (_text(x2 - 6, y2 - 4, label, 10, anchor="end") if label else "")


def _inner_name(idx: int) -> str:
    return {0: "x", 1: "y"}.get(idx, f"s{idx - 2}")


def _cell_lines(cell: dict[str, Any]) -> list[str]:
    edges = cell.get("inner_edges", [])
    lines = []
    for k, op in enumerate(cell.get("inner_steps", [])):
        args = ", ".join(_inner_name(int(i)) for _, i in edges[2 * k:2 * k + 2])
        lines.append(f"s{k} = {op}({args})")
    lines.append("out = concat(" + ", ".join(_inner_name(int(i))
                                            for i in cell.get("inner_concat", [])) + ")")
    return lines


def _document(width: float, height: float, title: str, parts: list[str]) -> str:
    defs = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}">{defs}{_text(MARGIN, MARGIN, title, 13, "bold")}'
            f'{"".join(parts)}</svg>')


def mfas_svg(g: dict[str, Any]) -> str:
    """MFAS baseline: a chain of fusion layers, each reading one node per modality and the
    previous layer (``g["nodes"]`` = [[node_a, node_b, activation], ...])."""
    layers = [list(t) for t in g.get("nodes") or g.get("mfas") or []]
    names = list(dict.fromkeys(str(n) for a, b, _ in layers for n in (a, b)))
    ports, parts = {}, []
    for i, name in enumerate(names):
        y = MARGIN + LINE + i * (NODE_H + GAP)
        parts += [_box(MARGIN, y, NODE_W, NODE_H, "#e8f0fe"), _text(MARGIN + 8, y + 26, name, 12, "bold")]
        ports[name] = (MARGIN + NODE_W, y + NODE_H / 2)
    height = max(len(names) * (NODE_H + GAP), NODE_H * 2) + 2 * MARGIN + LINE
    prev = None
    for k, (a, b, act) in enumerate(layers):
        x, y = MARGIN + NODE_W + COL_GAP + k * (CELL_W / 2 + COL_GAP), (height - NODE_H) / 2
        parts += [_box(x, y, CELL_W / 2, NODE_H, "#fff4e0"),
                  _text(x + 8, y + 18, f"fusion {k}", 12, "bold"), _text(x + 8, y + 34, str(act), 11)]
        for src in (ports[str(a)], ports[str(b)]) + ((prev,) if prev else ()):
            parts.append(_edge(*src, x, y + NODE_H / 2))
        prev = (x + CELL_W / 2, y + NODE_H / 2)
    ox = MARGIN + NODE_W + COL_GAP + len(layers) * (CELL_W / 2 + COL_GAP)
    parts += [_box(ox, (height - NODE_H) / 2, 120, NODE_H, "#e6f4ea"),
              _text(ox + 60, height / 2 + 4, "output", 11, "bold", "middle")]
    if prev:
        parts.append(_edge(*prev, ox, height / 2))
    return _document(ox + 120 + MARGIN, height, f"MFAS architecture: {len(layers)} fusion layers", parts)


def late_fusion_svg(g: dict[str, Any]) -> str:
    """Late fusion / unimodal head: the nodes it reads, pooled and concatenated, then an MLP."""
    names = [str(n) for n in g.get("late_fusion") or []]
    height = max(len(names) * (NODE_H + GAP), NODE_H * 2) + 2 * MARGIN + LINE
    x, y = MARGIN + NODE_W + COL_GAP, (height - NODE_H) / 2
    parts = [_box(x, y, CELL_W / 2, NODE_H, "#fff4e0"), _text(x + 8, y + 18, "concat + MLP", 12, "bold"),
             _text(x + 8, y + 34, f"hidden {g.get('hidden', '?')}", 11)]
    for i, name in enumerate(names):
        ny = MARGIN + LINE + i * (NODE_H + GAP)
        parts += [_box(MARGIN, ny, NODE_W, NODE_H, "#e8f0fe"), _text(MARGIN + 8, ny + 26, name, 12, "bold"),
                  _edge(MARGIN + NODE_W, ny + NODE_H / 2, x, y + NODE_H / 2)]
    ox = x + CELL_W / 2 + COL_GAP
    parts += [_box(ox, y, 120, NODE_H, "#e6f4ea"), _text(ox + 60, height / 2 + 4, "output", 11, "bold", "middle"),
              _edge(x + CELL_W / 2, y + NODE_H / 2, ox, height / 2)]
    kind = "late fusion" if len(names) != 1 else "unimodal head"
    return _document(ox + 120 + MARGIN, height, f"{kind}: {len(names)} node(s)", parts)


def genotype_svg(g: dict[str, Any]) -> str:
    """The SVG document for genotype JSON ``g`` (BM-NAS cells, the MFAS baseline's chain, or a
    late fusion / unimodal head)."""
    if "mfas" in g:
        return mfas_svg(g)
    if "late_fusion" in g:
        return late_fusion_svg(g)
    nodes, cells = g.get("nodes", []), g.get("steps", [])
    edges, n = g.get("edges", []), len(g.get("nodes", []))
    heights = [LINE * (len(_cell_lines(c)) + 2) + 8 for c in cells]
    inputs_h = n * (NODE_H + GAP)
    height = max([inputs_h] + [h + 2 * GAP for h in heights] + [NODE_H]) + 2 * MARGIN + LINE
    ports: dict[int, tuple[float, float]] = {}  # state index -> its right-side anchor
    parts = []
    for i, node in enumerate(nodes):
        y = MARGIN + LINE + i * (NODE_H + GAP)
        parts.append(_box(MARGIN, y, NODE_W, NODE_H, "#e8f0fe"))
        parts.append(_text(MARGIN + 8, y + 18, f"[{i}] {node.get('name', '?')}", 12, "bold"))
        shape = "x".join(str(s) for s in node.get("shape", []))
        parts.append(_text(MARGIN + 8, y + 34, f"{node.get('modality', '')} {shape}", 11))
        ports[i] = (MARGIN + NODE_W, y + NODE_H / 2)
    for c, cell in enumerate(cells):
        x = MARGIN + NODE_W + COL_GAP + c * (CELL_W + COL_GAP)
        y = (height - heights[c]) / 2
        parts.append(_box(x, y, CELL_W, heights[c], "#fff4e0"))
        parts.append(_text(x + 8, y + 18, f"cell {c} [{n + c}]", 12, "bold"))
        for k, line in enumerate(_cell_lines(cell)):
            parts.append(_text(x + 8, y + 18 + LINE * (k + 1), line, 11))
        for slot, label in ((0, "x"), (1, "y")):
            if 2 * c + slot < len(edges):
                src = ports.get(int(edges[2 * c + slot][1]))
                if src:
                    parts.append(_edge(*src, x, y + heights[c] * (slot + 1) / 3, label))
        ports[n + c] = (x + CELL_W, y + heights[c] / 2)
    ox = MARGIN + NODE_W + COL_GAP + len(cells) * (CELL_W + COL_GAP)
    oy = (height - NODE_H) / 2
    parts.append(_box(ox, oy, 120, NODE_H, "#e6f4ea"))
    parts.append(_text(ox + 60, oy + 27, "output (concat)", 11, "bold", "middle"))
    for s in g.get("concat", []):
        if int(s) in ports:
            parts.append(_edge(*ports[int(s)], ox, oy + NODE_H / 2))
    title = "ssnas genotype: " + ", ".join(
        f"{k}={v}" for k, v in (g.get("space") or {}).items() if k in ("C", "L", "steps"))
    return _document(ox + 120 + MARGIN, height, title, parts)
