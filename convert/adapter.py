"""Merging an adapter folder (docs/DESIGN.md "Adapter folder") into a SourceModel.

LoRA deltas are B @ A * scale in Hugging Face orientation ([out, in]). The model's tensors are already in
llama.cpp's layout, where Llama's Q and K rows are permuted (see architectures.qk_order); permuting B's rows
the same way permutes the delta's rows, so the merge stays a cheap per-chunk B[rows] @ A. The added MTP
tokens' embedding (and, untied, lm_head) rows are appended or written over spare rows, and the token list,
token types and vocab size grow to match.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
from gguf import GGUFValueType

from .architectures import gguf_tensor_name, permutation_for
from .checkpoint import load_json, read_safetensors_header
from .model import SourceModel
from .tensors import ArraySource, LoraMerged, ReplacedRows
from .tokenizer import CONTROL

_FULL = re.compile(r"^base_model\.model\.(?P<module>model\.embed_tokens|lm_head)"
                   r"(?:\.modules_to_save\.[A-Za-z0-9_]+)?\.weight$")
_FULL_TARGET = {"model.embed_tokens": "token_embd.weight", "lm_head": "output.weight"}
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_]+)?\.weight$")


def apply_adapter(model: SourceModel, folder: Path) -> None:
    """Merge the LoRA weights and the added tokens of `folder` into `model` (lazily; nothing is computed yet)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"adapter folder {folder} does not exist")
    if (folder / "mtp_config.json").is_file():
        model.mtp_config = {**model.mtp_config, **load_json(folder / "mtp_config.json", "mtp_config.json")}
    if (folder / "adapter_config.json").is_file() or (folder / "adapter_model.safetensors").is_file():
        _merge_lora(model, folder)
    if (folder / "mtp_tokens.safetensors").is_file() or (folder / "mtp_tokens.json").is_file():
        _add_tokens(model, folder)
    elif not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no adapter: expected adapter_config.json + "
                                "adapter_model.safetensors and/or mtp_tokens.safetensors + mtp_tokens.json")


def _merge_lora(model: SourceModel, folder: Path) -> None:
    cfg = load_json(folder / "adapter_config.json", "adapter file")
    weights_path = folder / "adapter_model.safetensors"
    if not weights_path.is_file():
        raise FileNotFoundError(f"adapter file adapter_model.safetensors not found in {folder}")
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise ValueError(f"adapter type {cfg.get('peft_type')!r} is not supported; only LoRA adapters merge")
    for flag, why in (("use_dora", "DoRA"), ("fan_in_fan_out", "fan_in_fan_out (Conv1D) layers")):
        if cfg.get(flag):
            raise ValueError(f"adapter uses {why}, which the converter does not merge; train a plain LoRA")
    for key in ("rank_pattern", "alpha_pattern"):
        if cfg.get(key):
            raise ValueError(f"adapter_config.json has a {key}; per-module ranks are not supported")
    r, alpha = int(cfg.get("r", 8)), float(cfg.get("lora_alpha", 8))
    scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r

    tensors = read_safetensors_header(weights_path)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, t in tensors.items():
        full = _FULL.match(key)
        if full:  # PEFT saves whole embedding layers when the vocab was resized (save_embedding_layers)
            _replace_whole(model, _FULL_TARGET[full["module"]], t.numpy().astype(np.float32), key)
            continue
        m = _KEY.match(key)
        if not m:
            raise ValueError(f"adapter tensor {key} is not a LoRA A/B weight or a whole embedding the converter "
                             "can merge (LoRA on embeddings is not supported)")
        pairs.setdefault(m["module"], {})[m["ab"]] = t.numpy().astype(np.float32)
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ValueError(f"adapter has lora_{'A' if 'B' in ab else 'B'} but not its partner for {module}")
        gname = gguf_tensor_name(module + ".weight")
        if gname is None or gname not in model.tensors:
            what = "the base model has no such weight" if gname else "not a module the converter maps"
            raise ValueError(f"adapter targets {module}: {what}")
        a, b = ab["A"], ab["B"]
        if a.shape[0] != b.shape[1]:
            raise ValueError(f"adapter {module}: lora_A has rank {a.shape[0]} but lora_B has rank {b.shape[1]}")
        order = permutation_for(gname, model.arch, model.dims)
        if order is not None:
            b = b[order]  # llama.cpp's Q/K row layout: permute the delta's rows like the weight's
        model.tensors[gname] = LoraMerged(model.tensors[gname], a, b, scale)


def _replace_whole(model: SourceModel, gname: str, weight: np.ndarray, key: str) -> None:
    """A full embedding / lm_head from the adapter: same width, at least as many rows as the base."""
    if gname == "output.weight" and gname not in model.tensors and model.dims.tied:
        return  # a tied model's lm_head is its embedding, which the adapter's embed_tokens already replaces
    if gname not in model.tensors:
        raise ValueError(f"adapter tensor {key} replaces {gname}, which the base model does not have")
    rows, width = model.tensors[gname].shape
    if weight.ndim != 2 or weight.shape[1] != width or weight.shape[0] < rows:
        raise ValueError(f"shape mismatch: adapter tensor {key} is {list(weight.shape)}, the base has [{rows}, {width}]")
    model.tensors[gname] = ArraySource(weight)


def _add_tokens(model: SourceModel, folder: Path) -> None:
    spec = load_json(folder / "mtp_tokens.json", "adapter file")
    rows_path = folder / "mtp_tokens.safetensors"
    if not rows_path.is_file():
        raise FileNotFoundError(f"adapter file mtp_tokens.safetensors not found in {folder}")
    arrays = {name: t.numpy() for name, t in read_safetensors_header(rows_path).items()}
    texts, ids_json = list(spec.get("tokens", [])), [int(i) for i in spec.get("ids", [])]
    if "embed_rows" not in arrays or "token_ids" not in arrays:
        raise ValueError(f"{rows_path} must hold tensors embed_rows and token_ids (found {sorted(arrays)})")
    ids = np.asarray(arrays["token_ids"], dtype=np.int64).reshape(-1)
    if len(texts) != len(ids) or (ids_json and ids_json != ids.tolist()):
        raise ValueError(f"{folder}: mtp_tokens.json lists {len(texts)} tokens with ids {ids_json[:4]}... but "
                         f"mtp_tokens.safetensors has ids {ids.tolist()[:4]}... ({len(ids)}); they must agree")
    hidden = model.dims.n_embd
    embed = np.asarray(arrays["embed_rows"], dtype=np.float32)
    if embed.shape != (len(ids), hidden):
        raise ValueError(f"shape mismatch: embed_rows is {list(embed.shape)}, the model needs [{len(ids)}, {hidden}]")

    tokens = model.tokens
    existing = {t: i for i, t in enumerate(tokens)}
    for text, tid in zip(texts, ids.tolist()):
        if existing.get(text, tid) != tid:
            raise ValueError(f"token {text!r} already has id {existing[text]} in the base vocab; the adapter gives {tid}")
    model.tensors["token_embd.weight"] = ReplacedRows(model.tensors["token_embd.weight"], ids, embed)
    if "output.weight" in model.tensors:
        if "lm_head_rows" not in arrays:
            raise ValueError(f"the base model has an untied lm_head, so {rows_path.name} needs lm_head_rows too")
        head = np.asarray(arrays["lm_head_rows"], dtype=np.float32)
        if head.shape != embed.shape:
            raise ValueError(f"shape mismatch: lm_head_rows is {list(head.shape)}, expected {list(embed.shape)}")
        model.tensors["output.weight"] = ReplacedRows(model.tensors["output.weight"], ids, head)
    n_vocab = model.tensors["token_embd.weight"].shape[0]

    kv = model.kv
    types = list(kv.get("tokenizer.ggml.token_type", []))
    scores = list(kv.get("tokenizer.ggml.scores", [])) if "tokenizer.ggml.scores" in kv else None
    grow = n_vocab - len(tokens)
    tokens += [""] * grow
    types += [CONTROL] * grow
    if scores is not None:
        scores += [0.0] * grow
    for text, tid in zip(texts, ids.tolist()):
        tokens[tid], types[tid] = text, CONTROL
    kv.array("tokenizer.ggml.tokens", GGUFValueType.STRING, tokens)
    kv.array("tokenizer.ggml.token_type", GGUFValueType.INT32, types)
    if scores is not None:
        kv.array("tokenizer.ggml.scores", GGUFValueType.FLOAT32, scores)
    arch = model.arch.gguf_name
    if f"{arch}.vocab_size" in kv:
        kv.u32(f"{arch}.vocab_size", n_vocab)
    model.dims = replace(model.dims, n_vocab=n_vocab)
