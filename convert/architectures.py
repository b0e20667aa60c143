"""Per-architecture knowledge: Hugging Face config -> GGUF hyperparameters, tensor names, layouts.

Supported: LlamaForCausalLM (Llama 3.x with llama3 RoPE scaling, SmolLM2), Qwen3ForCausalLM and
Qwen2ForCausalLM. llama.cpp's `llama` architecture applies RoPE to adjacent pairs while Hugging Face
rotates the two halves of each head, so Llama's Q and K rows are permuted on the way in (`qk_order`);
qwen2/qwen3 use the half-rotation ("neox") layout in llama.cpp too and need no permutation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .writer import KV


@dataclass(frozen=True)
class Arch:
    hf_name: str
    gguf_name: str
    permute_qk: bool
    qk_norm: bool
    qkv_bias_default: bool


ARCHS: dict[str, Arch] = {
    "LlamaForCausalLM": Arch("LlamaForCausalLM", "llama", permute_qk=True, qk_norm=False, qkv_bias_default=False),
    "Qwen3ForCausalLM": Arch("Qwen3ForCausalLM", "qwen3", permute_qk=False, qk_norm=True, qkv_bias_default=False),
    "Qwen2ForCausalLM": Arch("Qwen2ForCausalLM", "qwen2", permute_qk=False, qk_norm=False, qkv_bias_default=True),
}
GGUF_TO_ARCH = {a.gguf_name: a for a in ARCHS.values()}

_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.bias": "attn_output.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
IGNORED = re.compile(r"(^|\.)rotary_emb\.inv_freq$")  # a buffer some old checkpoints saved; recomputed by llama.cpp


def get_arch(config: dict) -> Arch:
    names = config.get("architectures") or []
    for name in names:
        if name in ARCHS:
            return ARCHS[name]
    found = ", ".join(names) if names else "none (config.json has no 'architectures')"
    raise ValueError(f"unsupported architecture: {found}. Supported: {', '.join(ARCHS)}")


def gguf_tensor_name(hf_name: str) -> str | None:
    """GGUF name of a Hugging Face tensor, or None if the name is not one the converter knows."""
    if hf_name in _GLOBAL:
        return _GLOBAL[hf_name]
    m = _LAYER_RE.match(hf_name)
    if m and m.group(2) in _LAYER:
        return f"blk.{m.group(1)}.{_LAYER[m.group(2)]}"
    return None


@dataclass(frozen=True)
class Dims:
    """The shape facts of a model, from config.json (or from a GGUF base's metadata)."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    tied: bool


def dims_from_config(config: dict, arch: Arch, has_lm_head: bool) -> Dims:
    def need(key: str) -> int:
        if key not in config:
            raise ValueError(f"config.json has no {key!r}, which a {arch.hf_name} needs")
        return int(config[key])

    n_embd, n_head = need("hidden_size"), need("num_attention_heads")
    head_dim = int(config.get("head_dim") or n_embd // n_head)
    # an explicit flag wins; without one, a checkpoint with no lm_head.weight is tied
    tied = bool(config["tie_word_embeddings"]) if "tie_word_embeddings" in config else not has_lm_head
    return Dims(need("num_hidden_layers"), n_embd, need("intermediate_size"), n_head,
                int(config.get("num_key_value_heads") or n_head), head_dim, need("vocab_size"), tied)


def rope_params(config: dict) -> dict:
    """RoPE settings in one dict, whether the config uses `rope_scaling`+`rope_theta` or `rope_parameters`."""
    rope = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    if "full_attention" in rope:
        rope = dict(rope["full_attention"])
    rope.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    rope["rope_type"] = rope.get("rope_type") or rope.get("type") or "default"
    return rope


def expected_shapes(d: Dims, arch: Arch, config: dict) -> dict[str, tuple[int, ...]]:
    """Every Hugging Face tensor the model must have, with its shape."""
    q, kv = d.n_head * d.head_dim, d.n_head_kv * d.head_dim
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (d.n_vocab, d.n_embd), "model.norm.weight": (d.n_embd,)}
    if not d.tied:
        shapes["lm_head.weight"] = (d.n_vocab, d.n_embd)
    bias = bool(config.get("attention_bias", arch.qkv_bias_default))
    for i in range(d.n_layer):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (d.n_embd,), p + "post_attention_layernorm.weight": (d.n_embd,),
                       p + "self_attn.q_proj.weight": (q, d.n_embd), p + "self_attn.k_proj.weight": (kv, d.n_embd),
                       p + "self_attn.v_proj.weight": (kv, d.n_embd), p + "self_attn.o_proj.weight": (d.n_embd, q),
                       p + "mlp.gate_proj.weight": (d.n_ff, d.n_embd), p + "mlp.up_proj.weight": (d.n_ff, d.n_embd),
                       p + "mlp.down_proj.weight": (d.n_embd, d.n_ff)})
        if bias:
            shapes.update({p + "self_attn.q_proj.bias": (q,), p + "self_attn.k_proj.bias": (kv,),
                           p + "self_attn.v_proj.bias": (kv,)})
            if arch.gguf_name == "llama":
                shapes[p + "self_attn.o_proj.bias"] = (d.n_embd,)
        if arch.qk_norm:
            shapes.update({p + "self_attn.q_norm.weight": (d.head_dim,), p + "self_attn.k_norm.weight": (d.head_dim,)})
    return shapes


def qk_order(n_rows: int, n_head: int) -> np.ndarray:
    """Row order taking a Hugging Face Q or K projection to llama.cpp's `llama` layout.

    Within each head HF keeps the first halves of the rotary pairs, then the second halves; llama.cpp wants
    them interleaved. Row i of the GGUF tensor is row order[i] of the HF tensor (`n_head` is the number of
    KV heads for K). Works for weights and biases alike, and for LoRA B matrices (rows = output features).
    """
    head_dim = n_rows // n_head
    return np.arange(n_rows).reshape(n_head, 2, head_dim // 2).swapaxes(1, 2).reshape(-1)


def permutation_for(gguf_name: str, arch: Arch, d: Dims) -> np.ndarray | None:
    if not arch.permute_qk:
        return None
    if re.search(r"\.attn_q\.(weight|bias)$", gguf_name):
        return qk_order(d.n_head * d.head_dim, d.n_head)
    if re.search(r"\.attn_k\.(weight|bias)$", gguf_name):
        return qk_order(d.n_head_kv * d.head_dim, d.n_head_kv)
    return None


def llama3_rope_factors(rope: dict, head_dim: int) -> np.ndarray:
    """The per-frequency divisors llama.cpp reads from `rope_freqs.weight` for llama3 RoPE scaling."""
    base = float(rope.get("rope_theta", 500000.0))
    factor = float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def hparams_kv(kv: KV, arch: Arch, d: Dims, config: dict) -> np.ndarray | None:
    """Write the architecture keys; return the rope_freqs tensor if llama3 scaling needs one."""
    a = arch.gguf_name
    kv.string("general.architecture", a)
    kv.u32(f"{a}.vocab_size", d.n_vocab)
    kv.u32(f"{a}.context_length", int(config.get("max_position_embeddings", 4096)))
    kv.u32(f"{a}.embedding_length", d.n_embd)
    kv.u32(f"{a}.block_count", d.n_layer)
    kv.u32(f"{a}.feed_forward_length", d.n_ff)
    kv.u32(f"{a}.attention.head_count", d.n_head)
    kv.u32(f"{a}.attention.head_count_kv", d.n_head_kv)
    kv.u32(f"{a}.rope.dimension_count", d.head_dim)
    if d.head_dim != d.n_embd // d.n_head:
        kv.u32(f"{a}.attention.key_length", d.head_dim)
        kv.u32(f"{a}.attention.value_length", d.head_dim)
    kv.f32(f"{a}.attention.layer_norm_rms_epsilon", float(config.get("rms_norm_eps", 1e-6)))
    rope = rope_params(config)
    kv.f32(f"{a}.rope.freq_base", float(rope["rope_theta"]))
    rtype = str(rope["rope_type"]).lower()
    if rtype == "default":
        return None
    if rtype == "linear":
        kv.string(f"{a}.rope.scaling.type", "linear")
        kv.f32(f"{a}.rope.scaling.factor", float(rope["factor"]))
        return None
    if rtype == "llama3" and a == "llama":
        return llama3_rope_factors(rope, d.head_dim)
    raise ValueError(f"RoPE scaling {rtype!r} is not supported for {arch.hf_name}; supported: default, linear"
                     + (", llama3" if a == "llama" else ""))
