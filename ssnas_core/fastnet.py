"""The supernet's forward pass in a position-major layout, with the work shared across views.

Same parameters, same arithmetic and the same random draws as the module forward of
``SuperNet`` (``SuperNet.reference_forward``), up to float rounding; only the layout and the
grouping of the work differ (issue 14):

- activations are (N, L, C) ("channels last"), so every 1x1 Conv1d is one matrix product
  over N * L rows (no per-sample convolutions), and LayerNorm([C, L]) / BatchNorm1d(C) act on
  the same elements as before (LayerNorm's affine weights are read transposed);
- views: a node that is identical in several views (view 2 and its modality-restricted copies
  of the cross-modal objective) is projected once, and a zeroed node not at all (the projection
  has no bias, so its pre-BatchNorm output is 0); BatchNorm then sees every view's rows, as
  before. The input-node projections cost 2 instead of 2 + M view-batches;
- the weighted sums over candidate states (alpha, beta) and over primitive outputs (gamma) are
  matrix products over a stack of states, not one multiply-add pass per candidate;
- linear_glu and concat_fc read the same concat(a, b): one matrix product, one BatchNorm;
- dropout masks are drawn in the (N, L, C) layout by ``rng.dropout_mask`` (parallel streams
  seeded from torch's default generator; the same Bernoulli(1 - p) / (1 - p) law as
  ``F.dropout``, other numbers than the module forward's serial draw);
- the input states are stacked for the candidate mixing in parts of at most ``STACK_BYTES``
  (a larger block is mmapped and page-faulted afresh by the allocator on every step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import rng
from .ops import ConcatFC, LinearGLU, ScaledDotAttention, Sum, Zero

STACK_BYTES = 30 << 20  # below glibc's largest mmap threshold (32 MiB), so the stack's memory is reused


class ViewStack:
    """V views of one batch of B samples, shared per node.

    ``rows[i]``: the distinct tensors of node i concatenated, (U_i * B, *shape);
    ``index[i][v]``: which of them view v uses (0..U_i-1), or -1 where view v zeroes node i.
    """

    def __init__(self, rows: list[torch.Tensor], index: list[list[int]], batch: int):
        self.rows, self.index, self.batch = rows, index, batch
        self.views = len(index[0])

    @classmethod
    def build(cls, views: list[list[torch.Tensor | None]]) -> "ViewStack":
        """``views[v][i]``: node i of view v, or None for a zeroed node. The same tensor object
        in several views is stored once."""
        nodes = len(views[0])
        batch = next(v[i] for v in views for i in range(nodes) if v[i] is not None).shape[0]
        rows, index = [], []
        for i in range(nodes):
            parts: list[torch.Tensor] = []
            idx = []
            for v in views:
                t = v[i]
                if t is None:
                    idx.append(-1)
                    continue
                j = next((k for k, p in enumerate(parts) if p is t), None)
                if j is None:
                    parts.append(t)
                    j = len(parts) - 1
                idx.append(j)
            if not parts:  # zeroed in every view: keep one zero block for the shapes
                ref = next(v[k] for v in views for k in range(nodes) if v[k] is not None)
                parts = [ref.new_zeros(batch, *ref.shape[1:])]
            rows.append(parts[0] if len(parts) == 1 else _join(parts))
            index.append(idx)
        return cls(rows, index, batch)

    @classmethod
    def single(cls, nodes: list[torch.Tensor]) -> "ViewStack":
        return cls(list(nodes), [[0] for _ in nodes], nodes[0].shape[0])

    def materialize(self) -> list[torch.Tensor]:
        """Per node, every view's rows concatenated (V * B, *shape), zeroed nodes as zeros."""
        out = []
        for rows, idx in zip(self.rows, self.index):
            blocks = rows.split(self.batch)
            if idx == list(range(len(blocks))):
                out.append(rows)
                continue
            zero = torch.zeros_like(blocks[0])
            out.append(torch.cat([blocks[j] if j >= 0 else zero for j in idx]))
        return out


def _join(parts: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(parts)``; without a copy where the parts lie one after another in one buffer
    (the views of ``FeatureAugment``)."""
    p0 = parts[0]
    step = p0.shape[0] * p0.stride(0) if p0.dim() else 0
    extent = sum(st * (n - 1) for st, n in zip(p0.stride()[1:], p0.shape[1:])) + 1  # elements one row spans
    if p0.dim() and p0.stride(0) >= extent and not any(p.requires_grad for p in parts) and all(
            p.shape == p0.shape and p.stride() == p0.stride() and p.dtype == p0.dtype and p.device == p0.device
            and p.untyped_storage().data_ptr() == p0.untyped_storage().data_ptr()
            and p.storage_offset() == p0.storage_offset() + k * step for k, p in enumerate(parts)):
        return p0.as_strided((len(parts) * p0.shape[0], *p0.shape[1:]), p0.stride(), p0.storage_offset())
    return torch.cat(parts)


def spread(h: torch.Tensor, idx: list[int], batch: int) -> torch.Tensor:
    """Rows of the distinct blocks (U * B * P, C) -> every view's rows (V * B * P, C), zeros for -1."""
    if idx == list(range(len(idx))):
        return h
    blocks = h.split(h.shape[0] // (max(idx) + 1)) if max(idx) >= 0 else []
    zero = None
    out = []
    for j in idx:
        if j >= 0:
            out.append(blocks[j])
        else:
            zero = zero if zero is not None else h.new_zeros(h.shape[0] // max(1, len(blocks)), h.shape[1])
            out.append(zero)
    return torch.cat(out)


def dropout_mask(n: int, length: int, c: int, p: float, device: torch.device) -> torch.Tensor:
    """The scaled keep mask (N, L, C) of one dropout (tests replace it to compare with the module forward)."""
    return rng.dropout_mask((n, length, c), p, device)


def dropout(x: torch.Tensor, drop: nn.Dropout) -> torch.Tensor:
    """``drop`` applied to x (N, L, C)."""
    p = drop.p
    if not drop.training or p == 0:
        return x
    return x * dropout_mask(*x.shape, p, x.device).to(x.dtype)


def layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """LayerNorm([C, L]) of the module layout on x (N, L, C)."""
    w = norm.weight.t() if norm.weight is not None else None
    b = norm.bias.t() if norm.bias is not None else None
    return F.layer_norm(x, (x.shape[1], x.shape[2]), w, b, norm.eps)


def batch_norm(x: torch.Tensor, bns: list[nn.BatchNorm1d]) -> torch.Tensor:
    """Several BatchNorm1d side by side over the channels of x (rows, sum of C), each as its module."""
    if len(bns) == 1:
        return bns[0](x)
    bn0 = bns[0]
    if any(b.momentum != bn0.momentum or b.eps != bn0.eps or not b.track_running_stats or b.training != bn0.training
           for b in bns):
        return torch.cat([b(part) for b, part in zip(bns, x.split([b.num_features for b in bns], dim=1))], dim=1)
    mean = torch.cat([b.running_mean for b in bns])
    var = torch.cat([b.running_var for b in bns])
    if bn0.training:
        for b in bns:
            b.num_batches_tracked.add_(1)
    momentum = bn0.momentum if bn0.momentum is not None else 1.0 / float(bn0.num_batches_tracked)
    out = F.batch_norm(x, mean, var, torch.cat([b.weight for b in bns]), torch.cat([b.bias for b in bns]),
                       bn0.training, momentum, bn0.eps)
    if bn0.training:
        with torch.no_grad():
            for b, m, v in zip(bns, mean.split([b.num_features for b in bns]),
                               var.split([b.num_features for b in bns])):
                b.running_mean.copy_(m)
                b.running_var.copy_(v)
    return out


def project_node(reshape, rows: torch.Tensor, idx: list[int], batch: int, side: int) -> torch.Tensor:
    """``NodeReshape`` of every view of one node -> (V * B, L, C), projecting distinct rows once."""
    conv, bn, relu, drop = reshape.proj
    w = conv.weight[:, :, 0]  # (C, C_in)
    length = side * side
    if rows.dim() == 2:  # a vector: projected once, repeated over the L positions
        h = torch.relu(bn(spread(rows @ w.t(), idx, batch)))  # (V * B, C)
        n = h.shape[0]
        if not drop.training or drop.p == 0:
            return h[:, None, :].expand(n, length, h.shape[1]).contiguous()
        return h[:, None, :] * dropout_mask(n, length, h.shape[1], drop.p, h.device).to(h.dtype)
    if rows.shape[-2:] != (side, side):
        rows = F.adaptive_max_pool2d(rows, side)
    x = rows.flatten(2).transpose(1, 2).reshape(-1, rows.shape[1])  # (U * B * L, C_in)
    h = torch.relu(bn(spread(x @ w.t(), idx, batch * length)))  # (V * B * L, C)
    return dropout(h.view(-1, length, h.shape[1]), drop)


def mix_pair(stacked: torch.Tensor, extra: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """Both slots of a softmaxed (2, n, 2) weight over n candidate states: (2, numel of a state).

    ``stacked`` (k, M) holds the first k candidates flattened, ``extra`` the others (any shape, M
    elements). 'none' adds zero, so only the skip weights w[:, :, 1] count (as ``cells.mix``).
    """
    ws = w[:, :, 1]
    k = stacked.shape[0]
    out = ws[:, :k] @ stacked
    for j, s in enumerate(extra):
        out = torch.addr(out, ws[:, k + j].to(out.dtype), s.reshape(-1).to(out.dtype))  # dtypes differ under amp
    return out


def mixed_op(op, a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``MixedOp`` on a, b (N, L, C) with softmaxed op weights w (P,): sum_k w_k op_k(a, b)."""
    n, length, c = a.shape
    linear = [o for o in op.ops if isinstance(o, (LinearGLU, ConcatFC))]
    pre = {}
    if linear:
        ab = torch.cat([a, b], dim=2).view(n * length, 2 * c)
        convs = [o.proj[0] if isinstance(o, LinearGLU) else o.body[0] for o in linear]
        bns = [o.proj[1] if isinstance(o, LinearGLU) else o.body[1] for o in linear]
        weight = torch.cat([cv.weight[:, :, 0] for cv in convs]) if len(convs) > 1 else convs[0].weight[:, :, 0]
        h = batch_norm(ab @ weight.t(), bns)
        for o, part in zip(linear, h.split([bn.num_features for bn in bns], dim=1)):
            pre[id(o)] = part
    outs, ws = [], []
    for o, wk in zip(op.ops, w):
        if isinstance(o, Zero):
            continue
        if isinstance(o, Sum):
            y = a + b
        elif isinstance(o, ScaledDotAttention):
            attn = (torch.bmm(a, b.transpose(1, 2)) * o.scale).softmax(dim=-1)  # (N, L, L)
            y = layer_norm(dropout(torch.bmm(attn, b), o.drop), o.norm)
        elif isinstance(o, LinearGLU):
            y = dropout(F.glu(pre[id(o)], dim=1).reshape(n, length, c), o.drop)
        elif isinstance(o, ConcatFC):
            y = dropout(torch.relu(pre[id(o)]).reshape(n, length, c), o.body[3])
        else:
            raise TypeError(f"no position-major form for {type(o).__name__}")
        outs.append(y.reshape(-1))
        ws.append(wk)
    if not outs:
        return torch.zeros_like(a)
    if len(outs) == 1:
        return (ws[0] * outs[0]).view(n, length, c)
    return (torch.stack(ws)[None] @ torch.stack(outs))[0].view(n, length, c)


def cell_forward(cell, xy: torch.Tensor, shape, betas, gamma) -> torch.Tensor:
    """``SearchCell`` on the stacked slots xy (2, M) -> (N, L, C)."""
    x, y = (t.view(shape) for t in xy.unbind(0))  # unbind: its backward stacks, no zero-filled copies
    inner_extra: list[torch.Tensor] = []
    for k, op in enumerate(cell.mixed):
        a, b = mix_pair(xy, inner_extra, F.softmax(betas[k], dim=-1)).unbind(0)
        inner_extra.append(mixed_op(op, a.view(shape), b.view(shape), F.softmax(gamma[k], dim=-1)))
    inner = [x, y, *inner_extra]
    steps = inner[-cell.node_multiplier:]
    if len(steps) > 1:
        proj = cell.out.proj
        out = F.linear(torch.cat(steps, dim=2), proj.weight[:, :, 0], proj.bias)
    else:
        out = steps[0]
    return layer_norm(out + x, cell.out.norm)


def supernet_forward(net, stack: ViewStack) -> torch.Tensor:
    """``SuperNet`` on every view of ``stack`` -> fused (V * B, multiplier * C * L), module layout."""
    s = net.space
    side = int(round(s.L ** 0.5))
    states = [project_node(r, rows, idx, stack.batch, side)
              for r, rows, idx in zip(net.inputs.reshapes, stack.rows, stack.index)]
    shape = states[0].shape
    k = max(1, min(len(states), STACK_BYTES // max(1, states[0].numel() * states[0].element_size())))
    stacked = torch.stack(states[:k]).view(k, -1)
    extra: list[torch.Tensor] = list(states[k:])
    ns = s.node_steps
    for i, cell in enumerate(net.cells):
        xy = mix_pair(stacked, extra, F.softmax(net.alphas[i], dim=-1))
        extra.append(cell_forward(cell, xy, shape, list(net.betas[i * ns:(i + 1) * ns]), net.gammas[i]))
    out = torch.cat(extra[-s.multiplier:], dim=2)  # (N, L, m * C)
    out = layer_norm(out, net.output.norm)
    # to the module layout first, then the ReLU: its backward then reads a contiguous gradient
    return torch.relu(out.transpose(1, 2).reshape(out.shape[0], -1))
