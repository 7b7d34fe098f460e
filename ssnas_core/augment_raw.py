"""SimCLR views on raw inputs (METHOD.md section 5, ours): posters, plots and speech.

For users who want views made from the raw samples rather than from cached features.
Each augmentation is a named, configurable component ``aug(value, rng) -> value`` that
keeps the value's type (and, for images, its size); all randomness comes from the
``numpy.random.Generator`` passed in, so a seeded run is reproducible.

| name                | kind  | parameters (defaults)                                      |
|---------------------|-------|------------------------------------------------------------|
| random_resized_crop | image | scale (0.4, 1.0), ratio (3/4, 4/3): crop, resize back      |
| horizontal_flip     | image | p 0.5                                                      |
| color_jitter        | image | brightness/contrast/saturation 0.4, hue 0.1, p 0.8         |
| grayscale           | image | p 0.2                                                      |
| word_dropout        | text  | p 0.1 per word (at least one word kept)                    |
| span_deletion       | text  | max_frac 0.2: one contiguous span of up to that share      |
| local_shuffle       | text  | window 3: each word moves at most window - 1 places        |
| gain                | audio | max_db 6: random volume change                             |
| noise               | audio | snr_db 20: white noise at that signal-to-noise ratio       |

``RawAugmenter(config)`` applies, per field kind, a list of components in order; its
``to_json()`` is what a job records.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps


@dataclass(frozen=True)
class RandomResizedCrop:
    scale: tuple[float, float] = (0.4, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    name = "random_resized_crop"
    kind = "image"

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        for _ in range(10):
            area = w * h * rng.uniform(*self.scale)
            r = math.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
            cw, ch = round(math.sqrt(area * r)), round(math.sqrt(area / r))
            if 0 < cw <= w and 0 < ch <= h:
                x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                return img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BILINEAR)
        return img.copy()


@dataclass(frozen=True)
class HorizontalFlip:
    p: float = 0.5
    name = "horizontal_flip"
    kind = "image"

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return ImageOps.mirror(img) if rng.random() < self.p else img


@dataclass(frozen=True)
class ColorJitter:
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    p: float = 0.8
    name = "color_jitter"
    kind = "image"

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        if rng.random() >= self.p:
            return img
        img = img.convert("RGB")
        enhancers = [(ImageEnhance.Brightness, self.brightness), (ImageEnhance.Contrast, self.contrast),
                     (ImageEnhance.Color, self.saturation)]
        for i in rng.permutation(4):
            if i < 3 and enhancers[i][1] > 0:
                cls, amount = enhancers[i]
                img = cls(img).enhance(float(rng.uniform(1 - amount, 1 + amount)))
            elif i == 3 and self.hue > 0:
                img = _shift_hue(img, float(rng.uniform(-self.hue, self.hue)))
        return img


def _shift_hue(img: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by ``shift`` turns (|shift| <= 0.5)."""
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(shift * 255)) % 256
    return Image.fromarray(hsv, mode="HSV").convert("RGB")


@dataclass(frozen=True)
class Grayscale:
    p: float = 0.2
    name = "grayscale"
    kind = "image"

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return img.convert("L").convert("RGB") if rng.random() < self.p else img


@dataclass(frozen=True)
class WordDropout:
    p: float = 0.1
    name = "word_dropout"
    kind = "text"

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        if len(words) < 2:
            return text
        keep = rng.random(len(words)) >= self.p
        if not keep.any():
            keep[int(rng.integers(len(words)))] = True
        return " ".join(w for w, k in zip(words, keep) if k)


@dataclass(frozen=True)
class SpanDeletion:
    max_frac: float = 0.2
    name = "span_deletion"
    kind = "text"

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        longest = min(len(words) - 1, int(len(words) * self.max_frac))
        if longest < 1:
            return text
        size = int(rng.integers(1, longest + 1))
        start = int(rng.integers(0, len(words) - size + 1))
        return " ".join(words[:start] + words[start + size:])


@dataclass(frozen=True)
class LocalShuffle:
    window: int = 3
    name = "local_shuffle"
    kind = "text"

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        if len(words) < 2 or self.window < 2:
            return text
        keys = np.arange(len(words)) + rng.uniform(0, self.window, size=len(words))
        return " ".join(words[i] for i in np.argsort(keys, kind="stable"))


@dataclass(frozen=True)
class Gain:
    max_db: float = 6.0
    name = "gain"
    kind = "audio"

    def __call__(self, audio: tuple[np.ndarray, int], rng: np.random.Generator) -> tuple[np.ndarray, int]:
        wave, sr = audio
        factor = 10.0 ** (rng.uniform(-self.max_db, self.max_db) / 20.0)
        return np.clip(np.asarray(wave, np.float32) * factor, -1.0, 1.0).astype(np.float32), sr


@dataclass(frozen=True)
class Noise:
    snr_db: float = 20.0
    name = "noise"
    kind = "audio"

    def __call__(self, audio: tuple[np.ndarray, int], rng: np.random.Generator) -> tuple[np.ndarray, int]:
        wave, sr = audio
        wave = np.asarray(wave, np.float32)
        power = float(np.mean(wave**2)) if wave.size else 0.0
        std = math.sqrt(power / 10.0 ** (self.snr_db / 10.0))
        noisy = wave + rng.normal(0.0, std, size=wave.shape).astype(np.float32)
        return np.clip(noisy, -1.0, 1.0).astype(np.float32), sr


RAW_AUGMENTS = {c.name: c for c in (RandomResizedCrop, HorizontalFlip, ColorJitter, Grayscale,
                                    WordDropout, SpanDeletion, LocalShuffle, Gain, Noise)}
DEFAULT_RAW_VIEWS: dict[str, list[str]] = {
    "image": ["random_resized_crop", "horizontal_flip", "color_jitter", "grayscale"],
    "text": ["word_dropout", "span_deletion", "local_shuffle"],
    "audio": ["gain", "noise"],
    "vector": [],
}


def make_augment(spec: str | dict[str, Any]) -> Any:
    """``"grayscale"`` or ``{"name": "grayscale", "p": 0.5}`` -> component."""
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = params.pop("name", None)
    if name not in RAW_AUGMENTS:
        raise ValueError(f"unknown raw augmentation {name!r}; known: {sorted(RAW_AUGMENTS)}")
    try:
        return RAW_AUGMENTS[name](**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in params.items()})
    except TypeError as exc:
        raise ValueError(f"raw augmentation {name!r}: bad parameters {sorted(params)}") from exc


class RawAugmenter:
    """Per field kind, a chain of components; ``__call__`` makes one view of a sample."""

    def __init__(self, config: dict[str, list[str | dict[str, Any]]] | None = None):
        config = DEFAULT_RAW_VIEWS if config is None else config
        unknown = set(config) - set(DEFAULT_RAW_VIEWS)
        if unknown:
            raise ValueError(f"raw augmentation config: unknown kinds {sorted(unknown)}")
        self.chains = {kind: [make_augment(s) for s in config.get(kind, [])]
                       for kind in DEFAULT_RAW_VIEWS}
        for kind, chain in self.chains.items():
            wrong = [a.name for a in chain if a.kind != kind]
            if wrong:
                raise ValueError(f"raw augmentations {wrong} do not apply to {kind} values")

    def __call__(self, sample: dict[str, Any], fields: dict[str, str],
                 rng: np.random.Generator) -> dict[str, Any]:
        out = dict(sample)
        for field, kind in fields.items():
            for aug in self.chains[kind]:
                out[field] = aug(out[field], rng)
        return out

    def views(self, sample: dict[str, Any], fields: dict[str, str],
              rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two independent views of one sample (the SimCLR pair)."""
        return self(sample, fields, rng), self(sample, fields, rng)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [{"name": a.name, **asdict(a)} for a in chain]
                for kind, chain in self.chains.items()}
