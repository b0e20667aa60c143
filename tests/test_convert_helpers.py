"""Builders for tiny random checkpoints in the shapes of the released MTP models (used by test_convert_*).

Each family gets a small byte-level BPE tokenizer trained here with the `tokenizers` library on GSM8K text,
using that family's real pre-tokenizer (llama3 split regex, qwen2 split regex, SmolLM's digits+ByteLevel),
plus the family's special tokens and the 32 `<|mtp_special_token_i|>` tokens. No downloads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "data" / "gsm8k"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
MTP_TOKENS = [f"<|mtp_special_token_{i}|>" for i in range(32)]
LLAMA_CHAT = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
              "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
              "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
QWEN_CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def import_convert():
    """The converter package, installed (mtp_edge.convert) or straight from the checkout."""
    try:
        import mtp_edge.convert as convert  # noqa: F401
        return convert
    except ImportError:
        sys.path.insert(0, str(REPO))
        import convert  # type: ignore[no-redef]
        return convert


def require_llama_cpp():
    try:
        import llama_cpp
        return llama_cpp
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("llama-cpp-python is not installed")


def corpus_lines(n: int = 400) -> list[str]:
    path = GSM8K / "train.jsonl"
    if not path.is_file():
        if IN_CI:
            raise FileNotFoundError(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not found")
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            lines += [row["question"], row["answer"]]
            if len(lines) >= n:
                break
    return lines


def train_tokenizer(family: str, vocab_size: int = 400, mtp_tokens: bool = True):
    """A real byte-level BPE `tokenizers.Tokenizer` with the family's pre-tokenizer and special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bl = pre_tokenizers.ByteLevel
    if family == "llama":
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
                                       bl(add_prefix_space=False, use_regex=False)])
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|start_header_id|>",
                    "<|end_header_id|>", "<|eot_id|>", "<|pad_a|>", "<|pad_b|>", "<|pad_c|>"]
    elif family == "qwen":
        pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
                                       bl(add_prefix_space=False, use_regex=False)])
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    elif family == "smollm":
        pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                       bl(add_prefix_space=False, use_regex=True)])
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    else:
        raise ValueError(family)
    tok = Tokenizer(models.BPE(ignore_merges=family == "llama"))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=bl.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer)
    tok.add_special_tokens(specials)
    if family == "qwen":
        tok.add_tokens(["<think>", "</think>"])  # non-special added tokens, as Qwen3 has
    if mtp_tokens:
        tok.add_special_tokens(MTP_TOKENS)
    if family == "llama":
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B:1",
                                          special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def save_tokenizer(tok, folder: Path, family: str) -> None:
    from transformers import PreTrainedTokenizerFast

    kwargs = {"llama": dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", chat_template=LLAMA_CHAT),
              "qwen": dict(eos_token="<|im_end|>", pad_token="<|endoftext|>"),
              "smollm": dict(bos_token="<|im_start|>", eos_token="<|im_end|>", chat_template=QWEN_CHAT)}[family]
    PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs).save_pretrained(folder)


def make_checkpoint(folder: Path, family: str, *, dtype: str = "float32", hidden: int = 64, layers: int = 2,
                    seed: int = 0, legacy_rope_keys: bool = False, std: float = 0.25, mtp_tokens: bool = True) -> Path:
    """Save a tiny random model + tokenizer in `folder`; returns the folder.

    llama: untied lm_head, vocab padded past the tokenizer (like 128384 rows), llama3 RoPE scaling, GQA.
    qwen: Qwen3 with tied embeddings, q/k norms and a head_dim different from hidden/heads.
    smollm: SmolLM2-like Llama with tied embeddings.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tok_family = "qwen" if family == "qwen2" else family
    tok = train_tokenizer(tok_family, mtp_tokens=mtp_tokens)
    n_tok = tok.get_vocab_size()
    save_tokenizer(tok, folder, tok_family)
    torch.manual_seed(seed)
    common = dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512, initializer_range=std)
    if family == "llama":
        vocab = (n_tok // 128 + 1) * 128  # padded rows, as in L3-1-8B-Magpie-MTP
        config = LlamaConfig(vocab_size=vocab, tie_word_embeddings=False, rms_norm_eps=1e-5,
                             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                              "original_max_position_embeddings": 64},
                             bos_token_id=tok.token_to_id("<|begin_of_text|>"),
                             eos_token_id=[tok.token_to_id("<|end_of_text|>"), tok.token_to_id("<|eot_id|>")], **common)
        model = LlamaForCausalLM(config)
    elif family == "qwen2":  # Qwen2ForCausalLM: q/k/v biases, no q/k norms
        from transformers import Qwen2Config, Qwen2ForCausalLM

        config = Qwen2Config(vocab_size=n_tok, tie_word_embeddings=False, rms_norm_eps=1e-6,
                             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                             eos_token_id=tok.token_to_id("<|im_end|>"), **common)
        model = Qwen2ForCausalLM(config)
    elif family == "qwen":
        config = Qwen3Config(vocab_size=n_tok + 7, tie_word_embeddings=True, head_dim=32, rms_norm_eps=1e-6,
                             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                             eos_token_id=tok.token_to_id("<|im_end|>"), **common)
        model = Qwen3ForCausalLM(config)
    else:
        config = LlamaConfig(vocab_size=n_tok, tie_word_embeddings=True, rms_norm_eps=1e-5,
                             bos_token_id=tok.token_to_id("<|im_start|>"), eos_token_id=tok.token_to_id("<|im_end|>"),
                             rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, **common)
        model = LlamaForCausalLM(config)
    with torch.no_grad():  # visible norms and biases, so a mix-up between them cannot pass unnoticed
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    model.to(getattr(torch, dtype)).save_pretrained(folder)
    if legacy_rope_keys:  # the released checkpoints were saved with rope_scaling + rope_theta
        cfg = json.loads((folder / "config.json").read_text())
        rope = cfg.pop("rope_parameters")
        cfg["rope_theta"] = rope.pop("rope_theta")
        if rope.get("rope_type") != "default":
            cfg["rope_scaling"] = rope
        (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    return folder


def make_adapter(base, out: Path, *, n_new: int = 4, new_ids: list[int] | None = None, r: int = 4,
                 alpha: float = 8.0, seed: int = 1, untied: bool | None = None, save_embeddings: bool = False):
    """Write an adapter folder (PEFT LoRA on every projection + added MTP tokens) for the HF model `base`.

    Returns the merged float32 torch model, the reference for logits. `new_ids` defaults to ids appended
    after the base vocab; ids inside it write over spare rows.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    emb = base.get_input_embeddings().weight
    n_vocab, hidden = emb.shape
    ids = new_ids if new_ids is not None else list(range(n_vocab, n_vocab + n_new))
    if max(ids) >= n_vocab:
        base.resize_token_embeddings(max(ids) + 1, mean_resizing=False)
    tied = base.config.tie_word_embeddings if untied is None else not untied
    embed_rows = torch.randn(len(ids), hidden) * 0.5
    head_rows = torch.randn(len(ids), hidden) * 0.5
    with torch.no_grad():
        base.get_input_embeddings().weight[ids] = embed_rows
        if not tied:
            base.get_output_embeddings().weight[ids] = head_rows
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(base, LoraConfig(r=r, lora_alpha=alpha, target_modules=targets,
                                                 init_lora_weights=False, lora_dropout=0.0))
    peft_model.save_pretrained(out, save_embedding_layers=save_embeddings)
    rows = {"embed_rows": embed_rows.numpy().astype(np.float32), "token_ids": np.asarray(ids, dtype=np.int64)}
    if not tied:
        rows["lm_head_rows"] = head_rows.numpy().astype(np.float32)
    convert_module("checkpoint").write_safetensors(out / "mtp_tokens.safetensors", rows)
    tokens = [f"<|mtp_special_token_{i}|>" for i in range(len(ids))]
    (out / "mtp_tokens.json").write_text(json.dumps({"tokens": tokens, "ids": ids}))
    (out / "mtp_config.json").write_text(json.dumps({"mtp_version": 1, "mask_token": tokens[0], "mask_mode": "single",
                                                     "k_max": 8, "tau": 0.8, "prompt_format": "plain",
                                                     "stop_token_ids": []}))
    return peft_model.merge_and_unload().eval()


def hf_logits(folder: Path, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def open_llama(path: Path, **kwargs):
    """llama-cpp-python's Llama on `path`, opened as mtp-edge opens it (no AMX weight buffers where they crash)."""
    require_llama_cpp()
    from mtp_edge.llama_load import open_llama as open_as_mtp_edge

    return open_as_mtp_edge(path, **kwargs)


def llama_logits(gguf_path: Path, ids: list[int]) -> np.ndarray:
    llama_cpp = require_llama_cpp()
    # f32 KV cache: the default f16 cache alone costs ~1e-3 relative error, hiding what the file holds
    llm = open_llama(gguf_path, logits_all=True, n_ctx=256, n_batch=256, n_threads=2, verbose=False,
                     type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def convert_module(name: str):
    """A submodule of the converter (e.g. "tokenizer"), wherever the package was imported from."""
    import importlib

    return importlib.import_module(f"{import_convert().__name__}.{name}")


@pytest.mark.parametrize("family, pre", [("llama", "llama-bpe"), ("qwen", "qwen2"), ("smollm", "smollm")])
def test_trained_tokenizers_are_recognised_as_their_family(family, pre):
    tok = train_tokenizer(family)
    assert convert_module("tokenizer").detect_pre(json.loads(tok.to_str())) == pre
