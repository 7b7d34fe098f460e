"""Frozen backbones: name -> factory registry; each returns named feature taps.

See ``base.Backbone`` for the interface and ``registry`` for names and specs.
"""

from .base import KINDS, Backbone, BackboneError
from .registry import (
    DEFAULT_BY_KIND,
    BackboneSpec,
    cached_backbone,
    clear_backbone_cache,
    get_backbone,
    list_backbones,
    register,
)

__all__ = ["KINDS", "Backbone", "BackboneError", "BackboneSpec", "DEFAULT_BY_KIND",
           "cached_backbone", "clear_backbone_cache", "get_backbone", "list_backbones", "register"]
