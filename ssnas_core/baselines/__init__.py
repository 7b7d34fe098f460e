"""Baselines for the quality benchmark (METHOD.md section 8), on the engine's features,
finetuning and metrics: supervised BM-NAS, MFAS, late fusion, unimodal heads, random
architectures and trivial predictors. ``runner`` has one entry point per method."""
