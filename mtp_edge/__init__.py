"""mtp-edge: multi-token-prediction language models on llama.cpp.

The runtime API lives in `mtp_edge.model` (`MTPModel`); it is imported lazily so that
`import mtp_edge.convert` or `mtp_edge.distill` does not load llama.cpp.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["MTPModel", "GenerationResult", "GenerationStats", "__version__"]


def __getattr__(name: str):
    if name in ("MTPModel", "GenerationResult", "GenerationStats"):
        from mtp_edge import model

        return getattr(model, name)
    raise AttributeError(f"module 'mtp_edge' has no attribute {name!r}")
