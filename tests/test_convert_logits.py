"""Converted tiny random checkpoints give llama.cpp the same logits as transformers, at every position.

One family per released shape: untied Llama with padded vocab + llama3 RoPE scaling (bf16 weights, like
L3-1-8B-Magpie-MTP), tied Qwen3 with q/k norms and head_dim != hidden/heads (like Qwen3-4B-Inst-2507-MTP),
and a tied SmolLM2-like Llama. The sequence contains mask tokens, as MTP decoding feeds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_convert_helpers import (convert_module, hf_logits, import_convert, llama_logits, make_checkpoint,
                                  open_llama, require_llama_cpp)

convert = import_convert()
FAMILIES = ["llama", "qwen", "smollm", "qwen2"]
F32_RTOL = 1e-4
F16_RTOL = 2e-2  # f16 weights (and f16 rounding inside llama.cpp): measured max |diff| / max |logit| 1.4e-3..6.8e-3


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {"llama": make_checkpoint(root / "llama", "llama", dtype="bfloat16", legacy_rope_keys=True),
            "qwen": make_checkpoint(root / "qwen", "qwen"),
            "smollm": make_checkpoint(root / "smollm", "smollm"),
            "qwen2": make_checkpoint(root / "qwen2", "qwen2")}


def sequence(folder: Path) -> tuple[list[int], int]:
    """A token sequence with text, then three mask tokens, then more text; and the mask id."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    mask = tok.convert_tokens_to_ids("<|mtp_special_token_0|>")
    text = tok.encode("Natalia sold 48 clips in April, and half as many in May.", add_special_tokens=False)
    return text[:12] + [mask] * 3 + text[12:] + [mask] * 2, mask


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("family", FAMILIES)
def test_f32_and_f16_logits_match_transformers(checkpoints, family, tmp_path):
    require_llama_cpp()
    folder = checkpoints[family]
    ids, mask = sequence(folder)
    ref = hf_logits(folder, ids)
    assert ref.shape[1] == json.loads((folder / "config.json").read_text())["vocab_size"]  # padded rows kept
    f32 = convert.convert_checkpoint(folder, tmp_path / "m32.gguf", outtype="f32", progress=False)
    got = llama_logits(f32, ids)
    assert got.shape == ref.shape
    assert rel_err(got, ref) < F32_RTOL
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    f16 = convert.convert_checkpoint(folder, tmp_path / "m16.gguf", outtype="f16", progress=False)
    got16 = llama_logits(f16, ids)
    assert rel_err(got16, ref) < F16_RTOL
    assert (got16.argmax(-1) == ref.argmax(-1)).all()


def test_the_llama_q_k_permutation_matters(checkpoints, tmp_path, monkeypatch):
    # guard against a test that cannot fail: without the row permutation llama.cpp's logits are wrong
    require_llama_cpp()
    folder = checkpoints["llama"]
    ids, _ = sequence(folder)
    monkeypatch.setattr(convert_module("source_hf"), "permutation_for", lambda *a: None)
    out = convert.convert_checkpoint(folder, tmp_path / "unpermuted.gguf", outtype="f32", progress=False)
    assert rel_err(llama_logits(out, ids), hf_logits(folder, ids)) > 1e-2


def test_metadata_reaches_llama_cpp(checkpoints, tmp_path):
    llama_cpp = require_llama_cpp()
    folder = checkpoints["llama"]
    out = convert.convert_checkpoint(folder, tmp_path / "m.gguf", outtype="q8_0", progress=False, k_max=8, tau=0.75)
    kv, tensors = convert_module("gguf_read").read_gguf(out)
    tj = json.loads((folder / "tokenizer.json").read_text())
    mask_id = next(t["id"] for t in tj["added_tokens"] if t["content"] == "<|mtp_special_token_0|>")
    eot_id = next(t["id"] for t in tj["added_tokens"] if t["content"] == "<|eot_id|>")
    assert kv.get("tokenizer.ggml.mask_token_id") == mask_id
    assert kv.get("mtp.version") == 1 and kv.get("mtp.mask_mode") == "single"
    assert kv.get("mtp.k_max") == 8 and abs(kv.get("mtp.tau") - 0.75) < 1e-6
    assert kv.get("mtp.prompt_format") == "chat"  # the tokenizer has a chat template
    assert eot_id in kv.get("mtp.stop_token_ids")
    assert kv.get("tokenizer.ggml.pre") == "llama-bpe" and kv.get("tokenizer.ggml.add_bos_token") is True
    assert {t.name for t in tensors} >= {"rope_freqs.weight", "output.weight", "token_embd.weight"}
    types = kv.get("tokenizer.ggml.token_type")
    assert types[mask_id] == 3 and types[-1] == 5  # mask: control; padded rows: unused
    llm = open_llama(out, n_ctx=64, verbose=False)
    try:
        assert llm.n_vocab() == json.loads((folder / "config.json").read_text())["vocab_size"]
        assert llm.tokenize(b"<|mtp_special_token_0|>", add_bos=False, special=True) == [mask_id]
        assert llm.metadata["mtp.prompt_format"] == "chat"
    finally:
        llm.close()


def test_rope_scaling_keys_old_and_new_give_the_same_file(tmp_path):
    new = make_checkpoint(tmp_path / "a" / "m", "llama", layers=1)
    old = make_checkpoint(tmp_path / "b" / "m", "llama", layers=1, legacy_rope_keys=True)
    a = convert.convert_checkpoint(new, tmp_path / "a.gguf", outtype="f32", progress=False)
    b = convert.convert_checkpoint(old, tmp_path / "b.gguf", outtype="f32", progress=False)
    assert a.read_bytes() == b.read_bytes()
    kv, tensors = convert_module("gguf_read").read_gguf(a)
    freqs = next(t.data for t in tensors if t.name == "rope_freqs.weight")
    assert freqs.min() == 1.0 and freqs.max() == 8.0  # both ends of llama3's ramp are present


def test_q8_0_and_k_quant_files_load_and_agree(tmp_path):
    """q8_0 through gguf, q4_k_m through llama.cpp's quantizer: loadable, MTP keys kept, close to f32."""
    require_llama_cpp()
    folder = make_checkpoint(tmp_path / "wide", "llama", hidden=256, layers=1)  # K-quant blocks are 256 wide
    ids, _ = sequence(folder)
    ref = hf_logits(folder, ids)
    read = convert_module("gguf_read").read_gguf
    # measured on this model: q8_0 agree 0.87 / corr 0.998; q4_k_m agree 0.45 / corr 0.82 (a random tiny model's
    # logits are nearly flat, so argmax flips easily; the correlation is the stable signal)
    for outtype, ftype, min_agree, min_corr in (("q8_0", 7, 0.75, 0.99), ("q4_k_m", 15, 0.3, 0.7)):
        out = convert.convert_checkpoint(folder, tmp_path / f"{outtype}.gguf", outtype=outtype, progress=False)
        kv, tensors = read(out)
        assert kv.get("general.file_type") == ftype and kv.get("mtp.version") == 1
        assert kv.get("tokenizer.ggml.mask_token_id") is not None
        kinds = {t.qtype.name for t in tensors}
        assert ("Q8_0" if outtype == "q8_0" else "Q4_K") in kinds, kinds
        got = llama_logits(out, ids)
        agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
        corr = float(np.corrcoef(got.ravel(), ref.ravel())[0, 1])
        assert agree >= min_agree and corr > min_corr, (outtype, agree, corr)
    assert not list(tmp_path.glob(".*"))  # the K-quant intermediate is gone
