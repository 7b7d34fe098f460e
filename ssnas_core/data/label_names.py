"""Catch label lists written with the wrong separator before they become compound labels.

A ``labels`` cell written ``"Comedy, Romance"`` where the format separates labels with ``|``
(or expects a JSON list) would otherwise create the label "Comedy, Romance" next to "Comedy"
and "Romance". The sign: a name that splits at a separator candidate into names the vocabulary holds on
their own, or two such names sharing a part ("Comedy; Romance", "Drama; Romance"). A few
compound names on purpose can be declared (schema.json's label_names, genres.json).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from .raw import DataFormatError

CANDIDATES = (",", ";", "|", "/", "+")


def _parts(name: str, sep: str) -> list[str]:
    return [p.strip() for p in name.split(sep) if p.strip()]


def misplaced_separator(names: Iterable[str], expected: str | None
                        ) -> tuple[str, str, list[str]] | None:
    """(separator, an example name, its parts) when the vocabulary ``names`` looks like label
    lists joined with a separator other than ``expected`` (None: labels come as JSON lists)."""
    vocab = set(names)
    for sep in CANDIDATES:
        if sep == expected:
            continue
        compounds = sorted(n for n in vocab if len(_parts(n, sep)) >= 2)
        if not compounds:
            continue
        recurring = Counter(p for n in compounds for p in set(_parts(n, sep)))
        alone = [n for n in compounds if all(p in vocab for p in _parts(n, sep))]
        known = [n for n in compounds
                 if any(p in vocab or recurring[p] >= 2 for p in _parts(n, sep))]
        if alone or len(known) >= 2:
            example = (alone or known)[0]
            return sep, example, _parts(example, sep)
    return None


def refuse_misplaced_separator(names: Iterable[str], expected: str | None, column: str,
                               how: str, escape: str) -> None:
    """DataFormatError naming the separator found and the one to use (``how``), when
    ``misplaced_separator`` finds one; ``escape`` says how to declare compound names on purpose."""
    found = misplaced_separator(names, expected)
    if found is None:
        return
    sep, example, parts = found
    raise DataFormatError(
        f"{column}: labels look like lists joined with {sep!r} (e.g. {example!r} would become "
        f"one label instead of {parts}); {how}. If such names really are single labels, "
        f"{escape}")
