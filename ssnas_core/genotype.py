"""Genotypes: the discrete architecture, as validated JSON (never pickle).

Indexing (METHOD.md section 3):
- states: input nodes 0..N-1, then cell i is state N + i;
- inside a cell: 0 = slot x, 1 = slot y, 2 + k = inner step k.

JSON form::

    {"edges": [[op, state], ...]            # 2 per cell: slot x, slot y
     "steps": [{"inner_edges": [[op, idx], ...],   # 2 per inner step
                "inner_steps": [op, ...],
                "inner_concat": [idx, ...]}, ...]  # one entry per cell
     "concat": [state, ...],
     "space": {C, L, steps, multiplier, node_steps, node_multiplier, dropout},
     "nodes": [{"name", "modality", "shape"}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .config import SearchSpaceConfig
from .data.features import NodeSpec
from .ops import OPS

EDGE_OPS = ("none", "skip")  # ops on cell input edges; a derived edge is always "skip"


class GenotypeError(ValueError):
    """A genotype is malformed or does not fit its search space."""


@dataclass(frozen=True)
class CellGenotype:
    inner_edges: tuple[tuple[str, int], ...]
    inner_steps: tuple[str, ...]
    inner_concat: tuple[int, ...]


@dataclass(frozen=True)
class Genotype:
    edges: tuple[tuple[str, int], ...]
    steps: tuple[CellGenotype, ...]
    concat: tuple[int, ...]
    space: SearchSpaceConfig
    nodes: tuple[NodeSpec, ...]

    def __post_init__(self) -> None:
        validate(self)

    @property
    def num_inputs(self) -> int:
        return len(self.nodes)

    def used_inputs(self) -> list[int]:
        """Input nodes read by some cell (the discrete network only reshapes these)."""
        return sorted({i for _, i in self.edges if i < self.num_inputs})

    def read_inputs(self) -> list[int]:
        """Input nodes that reach the network output through the derived cells.

        A cell always reads slot x (its residual); it reads slot y only when an inner step on
        the path to its output takes inner index 1. Every derived inner op reads both of its
        inputs ('zero' is never derived).
        """
        n, seen, todo = self.num_inputs, set(), list(self.concat)
        while todo:
            state = todo.pop()
            if state in seen:
                continue
            seen.add(state)
            if state < n:
                continue
            cell = state - n
            for slot in _cell_slots_read(self.steps[cell]):
                todo.append(self.edges[2 * cell + slot][1])
        return sorted(i for i in seen if i < n)

    def modalities_read(self) -> list[str]:
        """Sorted modalities whose input nodes the derived network reads."""
        return sorted({self.nodes[i].modality for i in self.read_inputs()})

    def to_json(self) -> dict:
        return {
            "edges": [[op, i] for op, i in self.edges],
            "steps": [
                {"inner_edges": [[op, i] for op, i in c.inner_edges],
                 "inner_steps": list(c.inner_steps), "inner_concat": list(c.inner_concat)}
                for c in self.steps
            ],
            "concat": list(self.concat),
            "space": {k: v for k, v in asdict(self.space).items() if k != "primitives"},
            "nodes": [{"name": n.name, "modality": n.modality, "shape": list(n.shape)} for n in self.nodes],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, d: dict | str) -> "Genotype":
        if isinstance(d, str):
            d = json.loads(d)
        try:
            space = SearchSpaceConfig(**d["space"])
            nodes = tuple(NodeSpec(n["name"], n["modality"], tuple(n["shape"])) for n in d["nodes"])
            steps = tuple(
                CellGenotype(tuple((str(op), int(i)) for op, i in c["inner_edges"]),
                             tuple(c["inner_steps"]), tuple(int(i) for i in c["inner_concat"]))
                for c in d["steps"]
            )
            return cls(tuple((str(op), int(i)) for op, i in d["edges"]), steps,
                       tuple(int(i) for i in d["concat"]), space, nodes)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, GenotypeError):
                raise
            raise GenotypeError(f"malformed genotype: {exc}") from exc


def _cell_slots_read(cell: CellGenotype) -> set[int]:
    """Which of the cell's slots (0 = x, 1 = y) its output depends on."""
    read, todo, seen = {0}, list(cell.inner_concat), set()  # x always enters as the residual
    while todo:
        idx = todo.pop()
        if idx in seen:
            continue
        seen.add(idx)
        if idx < 2:
            read.add(idx)
            continue
        k = idx - 2
        todo += [cell.inner_edges[2 * k][1], cell.inner_edges[2 * k + 1][1]]
    return read


def modalities_read(genotype: "Genotype | dict") -> list[str]:
    """Sorted modalities read by a genotype (a ``Genotype`` or its JSON form)."""
    g = genotype if isinstance(genotype, Genotype) else Genotype.from_json(genotype)
    return g.modalities_read()


def validate(g: Genotype) -> None:
    s, n = g.space, len(g.nodes)
    if len(g.edges) != 2 * s.steps or len(g.steps) != s.steps:
        raise GenotypeError(f"expected {s.steps} cells with 2 edges each, "
                            f"got {len(g.steps)} cells, {len(g.edges)} edges")
    for e, (op, idx) in enumerate(g.edges):
        cell = e // 2
        if op != "skip":  # "none" is never derived
            raise GenotypeError(f"cell {cell}: edge op must be 'skip', got {op!r}")
        if not 0 <= idx < n + cell:
            raise GenotypeError(f"cell {cell}: edge reads state {idx}, only 0..{n + cell - 1} exist")
    for c, cell in enumerate(g.steps):
        if len(cell.inner_steps) != s.node_steps or len(cell.inner_edges) != 2 * s.node_steps:
            raise GenotypeError(f"cell {c}: expected {s.node_steps} inner steps with 2 inner edges each")
        for op in cell.inner_steps:
            if op not in OPS:
                raise GenotypeError(f"cell {c}: unknown inner op {op!r}")
        for e, (op, idx) in enumerate(cell.inner_edges):
            if op != "skip" or not 0 <= idx < 2 + e // 2:
                raise GenotypeError(f"cell {c}: inner edge {e} invalid: {[op, idx]}")
        if len(cell.inner_concat) != s.node_multiplier or any(
                not 2 <= i < 2 + s.node_steps for i in cell.inner_concat):
            raise GenotypeError(f"cell {c}: inner_concat must hold {s.node_multiplier} inner-step indices")
    if len(g.concat) != s.multiplier or any(not n <= i < n + s.steps for i in g.concat):
        raise GenotypeError(f"concat must hold {s.multiplier} cell states in [{n}, {n + s.steps})")


def bmnas_mmimdb(nodes: tuple[NodeSpec, ...] | None = None) -> Genotype:
    """The published BM-NAS MM-IMDB genotype (METHOD.md section 3).

    cell 0 = concat_fc(image node 2, text node 4); cell 1 = linear_glu(text node 4, cell 0);
    output = concat(cell 0, cell 1). Default nodes: METHOD.md section 2 pooled to 4 x 4.
    """
    if nodes is None:
        nodes = tuple(NodeSpec(f"vgg_{t}", "image", (512, 4, 4))
                      for t in ("relu4_1", "relu4_4", "relu5_3", "pool5")) + (
            NodeSpec("maxout_1", "text", (64,)), NodeSpec("maxout_2", "text", (128,)))
    n = len(nodes)
    cell = lambda op: CellGenotype((("skip", 0), ("skip", 1)), (op,), (2,))  # noqa: E731
    return Genotype(
        edges=(("skip", 2), ("skip", 4), ("skip", 4), ("skip", n)),
        steps=(cell("concat_fc"), cell("linear_glu")),
        concat=(n, n + 1),
        space=SearchSpaceConfig(),
        nodes=tuple(nodes),
    )
