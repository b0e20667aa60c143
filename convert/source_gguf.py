"""A GGUF file as the base of a conversion: its metadata copied, its tensors dequantized row by row.

Used with an adapter (`mtp-edge convert base.gguf --adapter DIR`): the demo's SmolLM2 ships only as a
Q4_1 GGUF. Tensors stay in llama.cpp's layout; the adapter module permutes its LoRA deltas to match.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize

from .architectures import GGUF_TO_ARCH, Dims
from .gguf_read import read_gguf
from .model import SourceModel
from .tensors import Index, RowSource

# keys describing the old file's encoding, rewritten for the new file
_DROP = ("GGUF.", "general.file_type", "general.quantization_version", "general.alignment", "split.")


class GGUFTensor:
    """One tensor of a GGUF file, dequantized to float32 on demand, a chunk of rows at a time."""

    def __init__(self, name: str, data: np.ndarray, qtype: GGMLQuantizationType, shape: tuple[int, ...]) -> None:
        self.name, self.data, self.qtype, self.shape = name, data, qtype, shape

    def take(self, index: Index) -> np.ndarray:
        raw = self.data[index]  # rows of raw blocks (quantized) or of values (f32/f16)
        return np.array(dequantize(np.ascontiguousarray(raw), self.qtype), dtype=np.float32).reshape(
            (-1, *self.shape[1:]))


def load_gguf_model(path: Path) -> SourceModel:
    if not path.is_file():
        raise FileNotFoundError(f"GGUF base {path} does not exist")
    try:
        kv, raw_tensors = read_gguf(path)
    except (struct.error, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"{path} is not a readable GGUF file ({exc}); download it again") from exc
    for key in list(kv.items):
        if key.startswith(_DROP):
            kv.remove(key)
    arch_name = kv.get("general.architecture")
    if arch_name not in GGUF_TO_ARCH:
        raise ValueError(f"unsupported architecture {arch_name!r} in {path.name}; supported: "
                         f"{', '.join(sorted(GGUF_TO_ARCH))}")
    if kv.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"{path.name} has a {kv.get('tokenizer.ggml.model')!r} tokenizer; only byte-level BPE "
                         "(tokenizer.ggml.model = gpt2) is supported")
    arch = GGUF_TO_ARCH[arch_name]
    tensors: dict[str, RowSource] = {}
    for t in raw_tensors:
        tensors[t.name] = GGUFTensor(t.name, t.data, t.qtype, t.shape)
    if "token_embd.weight" not in tensors:
        raise ValueError(f"{path.name} has no token_embd.weight; is it a complete model?")

    def need(key: str) -> int:
        value = kv.get(f"{arch_name}.{key}")
        if value is None:
            raise ValueError(f"{path.name} lacks the key {arch_name}.{key}")
        return int(value)

    n_embd, n_head = need("embedding_length"), need("attention.head_count")
    dims = Dims(need("block_count"), n_embd, need("feed_forward_length"), n_head,
                int(kv.get(f"{arch_name}.attention.head_count_kv", n_head)),
                int(kv.get(f"{arch_name}.attention.key_length", n_embd // n_head)),
                tensors["token_embd.weight"].shape[0], "output.weight" not in tensors)
    n_tokens = len(kv.get("tokenizer.ggml.tokens", []))
    if n_tokens != dims.n_vocab:
        raise ValueError(f"{path.name}: {n_tokens} tokens but token_embd has {dims.n_vocab} rows")
    # a GGUF that is already an MTP model keeps its settings (e.g. requantizing f16 -> q8_0)
    mtp_config: dict = {}
    mask_id = kv.get("tokenizer.ggml.mask_token_id")
    if isinstance(mask_id, int) and 0 <= mask_id < n_tokens:
        mtp_config["mask_token"] = kv.get("tokenizer.ggml.tokens")[mask_id]
    for key in ("mask_mode", "k_max", "tau", "prompt_format", "stop_token_ids"):
        if f"mtp.{key}" in kv:
            mtp_config[key] = kv.get(f"mtp.{key}")
    eos_ids = [int(kv.get(k)) for k in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id") if k in kv]
    name = str(kv.get("general.name") or path.stem)
    return SourceModel(name, arch, dims, kv, tensors, {"GGUF"}, mtp_config=mtp_config,
                       eos_ids=list(dict.fromkeys(eos_ids)))
