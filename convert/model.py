"""A model ready to be written: metadata plus lazy tensors under their GGUF names, in llama.cpp layout.

Both inputs -- a Hugging Face checkpoint folder and a GGUF base -- become a `SourceModel`; the adapter
merge and the MTP metadata then work on it the same way, whichever the input was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .architectures import Arch, Dims
from .tensors import RowSource
from .writer import KV


@dataclass
class SourceModel:
    name: str
    arch: Arch
    dims: Dims
    kv: KV  # architecture and tokenizer keys (everything, for a GGUF base)
    tensors: dict[str, RowSource]  # GGUF name -> rows in llama.cpp's layout
    dtypes: set[str]  # source dtypes ("BF16", "F16", "F32", or "GGUF" for a dequantized base)
    mtp_config: dict[str, Any] = field(default_factory=dict)
    known: dict[str, Any] = field(default_factory=dict)  # settings of a recognised released checkpoint
    eos_ids: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return list(self.kv.get("tokenizer.ggml.tokens", []))

    @property
    def has_chat_template(self) -> bool:
        return bool(self.kv.get("tokenizer.chat_template"))
