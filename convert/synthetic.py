"""Random-weight models of real shapes, for benchmarks: a safetensors checkpoint folder or a GGUF file.

Cost depends on shape and type, not on the values (MEASURED.md), so benchmarks of 8B-class models can run
without downloading one. Weights are drawn from one fixed block of random numbers, rolled per tensor, so
generating 16 GB costs little more than writing it.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
from gguf import GGUFValueType

from .architectures import ARCHS, Dims, expected_shapes, gguf_tensor_name, hparams_kv
from .quantize import get_outtype, llama_quantize, tensor_type
from .tensors import FunctionSource
from .writer import KV, TensorPlan, atomic_output, write_gguf

SHAPES: dict[str, dict] = {
    # L3-1-8B-Magpie-MTP: Llama 3.1 8B with the vocab padded to 128384 rows
    "llama-3.1-8b": {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
                     "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                     "vocab_size": 128384, "tie_word_embeddings": False, "rms_norm_eps": 1e-5,
                     "max_position_embeddings": 131072, "rope_theta": 500000.0,
                     "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
    # Qwen3-4B-Inst-2507-MTP
    "qwen3-4b": {"architectures": ["Qwen3ForCausalLM"], "hidden_size": 2560, "intermediate_size": 9728,
                 "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                 "vocab_size": 151936, "tie_word_embeddings": True, "rms_norm_eps": 1e-6,
                 "max_position_embeddings": 262144, "rope_theta": 5000000.0},
}
_BLOCK = 1 << 22  # 4M random values, reused with a per-tensor offset


def shape_config(shape: str, n_layer: int | None = None) -> dict:
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    config = dict(SHAPES[shape])
    if n_layer is not None:
        config["num_hidden_layers"] = n_layer
    return config


def _dims(config: dict) -> Dims:
    n_head = config["num_attention_heads"]
    return Dims(config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"], n_head,
                config["num_key_value_heads"], config.get("head_dim", config["hidden_size"] // n_head),
                config["vocab_size"], config["tie_word_embeddings"])


def _random_rows(shape: tuple[int, ...], seed: int, block: np.ndarray):
    width = int(np.prod(shape[1:])) if len(shape) > 1 else 1

    def rows(start: int, stop: int) -> np.ndarray:
        n = (stop - start) * width
        first = (seed * 7919 + start * width) % len(block)
        reps = -(-(first + n) // len(block))  # contiguous slices of the block, wrapping around
        out = np.concatenate([block] * reps)[first:first + n] if reps > 1 else block[first:first + n]
        return (1.0 + out * 0.1 if len(shape) == 1 else out).reshape((stop - start, *shape[1:]))

    return rows


def _byte_vocab(n_vocab: int) -> tuple[dict, list[dict]]:
    """A minimal byte-level vocab: the 256 byte symbols, then MTP tokens; the rest are padding rows."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = list(bs), 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {chr(c): i for i, c in enumerate(cs)}
    added = [{"id": 256 + i, "content": f"<|mtp_special_token_{i}|>", "special": True} for i in range(32)]
    added.append({"id": 288, "content": "<|end_of_text|>", "special": True})
    return vocab, added


def write_random_checkpoint(folder: str | os.PathLike[str], shape: str = "llama-3.1-8b", *,
                            n_layer: int | None = None, shard_bytes: int = 5 << 30) -> Path:
    """A Hugging Face folder (bf16 safetensors shards + config + tokenizer) with random weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = shape_config(shape, n_layer)
    arch = ARCHS[config["architectures"][0]]
    shapes = expected_shapes(_dims(config), arch, config)
    block = np.random.default_rng(0).standard_normal(_BLOCK).astype(np.float32) * 0.02
    bf16_block = (block.view(np.uint32) >> 16).astype(np.uint16)
    shards: list[list[str]] = [[]]
    size = 0
    for name, shp in shapes.items():
        nbytes = int(np.prod(shp)) * 2
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    weight_map = {}
    for k, names in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {}, 0
        for name in names:
            nbytes = int(np.prod(shapes[name])) * 2
            header[name] = {"dtype": "BF16", "shape": list(shapes[name]), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
            weight_map[name] = fname
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / fname, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            for i, name in enumerate(names):
                n = int(np.prod(shapes[name]))
                shift = (i * 7919) % _BLOCK
                chunk = np.roll(bf16_block, shift)
                for done in range(0, n, _BLOCK):
                    f.write(chunk[: min(_BLOCK, n - done)].tobytes())
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps({**config, "torch_dtype": "bfloat16"}, indent=1))
    vocab, added = _byte_vocab(config["vocab_size"])
    pre = [{"type": "Split", "pattern": {"Regex": _LLAMA3}, "behavior": "Isolated", "invert": False},
           {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]
    (folder / "tokenizer.json").write_text(json.dumps({
        "version": "1.0", "added_tokens": added, "pre_tokenizer": {"type": "Sequence", "pretokenizers": pre},
        "model": {"type": "BPE", "vocab": vocab, "merges": [], "byte_fallback": False}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|end_of_text|>"}))
    return folder


_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def write_random_gguf(path: str | os.PathLike[str], shape: str = "llama-3.1-8b", *, outtype: str = "f16",
                      n_layer: int | None = None, force: bool = False, progress: bool = False) -> Path:
    """A GGUF of random weights in a real model's shape, with a minimal byte vocab and MTP metadata.

    `outtype` as for the converter; quantized types are made by llama.cpp's quantizer from an f16 file.
    """
    final = get_outtype(outtype)
    # quantized types go through llama.cpp's (multithreaded) quantizer from an f16 file: much faster than numpy
    ot = final if final.name in ("f32", "f16", "bf16") else get_outtype("f16")
    config = shape_config(shape, n_layer)
    arch = ARCHS[config["architectures"][0]]
    dims = _dims(config)
    kv = KV()
    kv.string("general.name", f"random-{shape}")
    rope_freqs = hparams_kv(kv, arch, dims, config)
    vocab, added = _byte_vocab(dims.n_vocab)
    tokens = [f"[PAD{i}]" for i in range(dims.n_vocab)]
    types = [5] * dims.n_vocab
    for text, i in vocab.items():
        tokens[i], types[i] = text, 1
    for a in added:
        tokens[a["id"]], types[a["id"]] = a["content"], 3
    kv.string("tokenizer.ggml.model", "gpt2")
    kv.string("tokenizer.ggml.pre", "llama-bpe" if arch.gguf_name == "llama" else "qwen2")
    kv.array("tokenizer.ggml.tokens", GGUFValueType.STRING, tokens)
    kv.array("tokenizer.ggml.token_type", GGUFValueType.INT32, types)
    kv.array("tokenizer.ggml.merges", GGUFValueType.STRING, [])
    kv.u32("tokenizer.ggml.eos_token_id", 288)
    kv.u32("tokenizer.ggml.mask_token_id", 256)
    kv.u32("mtp.version", 1)
    kv.u32("general.file_type", int(ot.file_type))
    block = np.random.default_rng(0).standard_normal(_BLOCK).astype(np.float32) * 0.02
    plans = []
    for k, (name, shp) in enumerate(expected_shapes(dims, arch, config).items()):
        gname = gguf_tensor_name(name)
        assert gname is not None
        src = FunctionSource(shp, _random_rows(shp, k, block))
        plans.append(TensorPlan(gname, src, tensor_type(gname, shp, ot.tensor_type)))
    if rope_freqs is not None:
        plans.append(TensorPlan("rope_freqs.weight", FunctionSource(rope_freqs.shape, lambda a, b: rope_freqs[a:b]),
                                tensor_type("rope_freqs.weight", rope_freqs.shape, ot.tensor_type)))
    with atomic_output(path, force) as tmp:
        if final is ot:
            write_gguf(tmp, kv, plans, progress=progress, desc=Path(path).name)
        else:
            inter = tmp.with_name(tmp.name + ".f16")
            try:
                write_gguf(inter, kv, plans, progress=progress, desc=Path(path).name)
                llama_quantize(inter, tmp, final)
            finally:
                inter.unlink(missing_ok=True)
    return Path(path)
