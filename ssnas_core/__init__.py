"""ssnas_core: self-supervised neural architecture search for multimodal networks.

A plain library (torch, numpy, h5py, safetensors, scikit-learn): no web, database or queue
code, no environment variables. Entry points: ``pipeline.run_pipeline`` and the CLI
(``python -m ssnas_core``).
"""

__version__ = "0.1.0"
