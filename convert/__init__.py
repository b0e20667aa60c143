"""mtp-edge's GGUF converter: Hugging Face MTP checkpoints (or a GGUF base plus a LoRA adapter) to GGUF.

Public API: `convert_checkpoint`. Command line: `mtp-edge convert` (see `cli.py`). No torch needed.
"""

from __future__ import annotations

from .pipeline import convert_checkpoint

__all__ = ["convert_checkpoint"]
