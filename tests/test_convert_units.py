"""Pure functions of the converter: GGUF writing/reading, bf16, safetensors reading, the Q/K order, settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_convert_helpers import convert_module

writer = convert_module("writer")
quantize = convert_module("quantize")
checkpoint = convert_module("checkpoint")
gguf_read = convert_module("gguf_read")
architectures = convert_module("architectures")
metadata = convert_module("metadata")
tensors = convert_module("tensors")


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 70), width=st.sampled_from([32, 64, 96]), qtype=st.sampled_from(["f32", "f16", "q8_0"]),
       seed=st.integers(0, 2**16))
def test_gguf_round_trip(tmp_path_factory, rows, width, qtype, seed):
    import gguf

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, width)).astype(np.float32)
    b = rng.standard_normal(width).astype(np.float32)
    kv = writer.KV()
    kv.string("general.architecture", "llama")
    kv.u32("x.u", 7)
    kv.f32("x.f", 0.5)
    kv.boolean("x.b", True)
    kv.array("x.s", gguf.GGUFValueType.STRING, ["a", "é", ""])
    kv.array("x.i", gguf.GGUFValueType.INT32, [-1, 2])
    t = quantize.get_outtype(qtype).tensor_type
    plans = [writer.TensorPlan("a", tensors.ArraySource(a), quantize.tensor_type("a", a.shape, t)),
             writer.TensorPlan("b", tensors.ArraySource(b), quantize.tensor_type("b", b.shape, t))]
    path = tmp_path_factory.mktemp("rt") / "x.gguf"
    old = writer.CHUNK_ELEMENTS
    writer.CHUNK_ELEMENTS = 5 * width  # force several chunks per tensor
    try:
        writer.write_gguf(path, kv, plans)
    finally:
        writer.CHUNK_ELEMENTS = old
    # gguf's own reader agrees on every key and tensor
    ref = gguf.GGUFReader(path)
    assert ref.fields["x.s"].contents() == ["a", "é", ""] and ref.fields["x.i"].contents() == [-1, 2]
    assert ref.fields["x.u"].contents() == 7 and ref.fields["x.b"].contents() is True
    got = {x.name: gguf.quants.dequantize(x.data, x.tensor_type).reshape(tuple(reversed(x.shape.tolist())))
           for x in ref.tensors}
    tol = {"f32": 0, "f16": 1e-3, "q8_0": 2e-2}[qtype]
    assert np.allclose(got["a"], a, atol=tol * np.abs(a).max() + 1e-12, rtol=0)
    assert np.array_equal(got["b"], b)  # 1-D tensors stay f32
    kv2, raw = gguf_read.read_gguf(path)
    assert kv2.get("x.s") == ["a", "é", ""] and kv2.get("x.f") == 0.5
    assert [r.name for r in raw] == ["a", "b"] and raw[0].shape == (rows, width)


def test_bf16_rounding_matches_round_to_nearest_even():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38, 1e-40, np.inf, -np.inf], dtype=np.float32)
    bits = quantize._to_bf16(x)
    back = checkpoint.bf16_to_f32(bits)
    assert back[0] == 1.0 and back[1] == 1.0  # a tie rounds to even
    assert back[2] == np.float32(1.015625)  # 1 + 3/256 -> 1 + 4/256 (to even)
    assert back[3] == -2.5 and np.isinf(back[6]) and np.isinf(back[7])
    assert np.isnan(checkpoint.bf16_to_f32(quantize._to_bf16(np.array([np.nan], np.float32))))[0]


def test_safetensors_bf16_reader(tmp_path):
    import torch
    from safetensors.torch import save_file

    t = torch.randn(33, 8).to(torch.bfloat16)
    save_file({"w": t, "v": torch.arange(5, dtype=torch.int64)}, str(tmp_path / "x.safetensors"))
    hdr = checkpoint.read_safetensors_header(tmp_path / "x.safetensors")
    assert np.array_equal(hdr["w"].take(slice(3, 9)), t.float().numpy()[3:9])
    assert np.array_equal(hdr["w"].take(np.array([30, 2, 2])), t.float().numpy()[[30, 2, 2]])
    assert hdr["v"].numpy().tolist() == [0, 1, 2, 3, 4]


def test_qk_order_matches_llama_cpp_permutation():
    # llama.cpp's convert_hf_to_gguf: w.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2)
    w = np.arange(48 * 3).reshape(48, 3)
    n_head = 4
    expected = w.reshape(n_head, 2, 48 // n_head // 2, 3).swapaxes(1, 2).reshape(w.shape)
    assert np.array_equal(w[architectures.qk_order(48, n_head)], expected)
    src = tensors.PermutedRows(tensors.ArraySource(w.astype(np.float32)), architectures.qk_order(48, n_head))
    assert np.array_equal(src.take(slice(10, 30)), expected[10:30])


def test_replaced_rows_and_lora():
    base = tensors.ArraySource(np.zeros((4, 3), np.float32))
    grown = tensors.ReplacedRows(base, np.array([5, 4, 1]), np.arange(9, dtype=np.float32).reshape(3, 3))
    assert grown.shape == (6, 3)
    assert grown.take(slice(0, 6))[[1, 4, 5]].tolist() == [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
    a, b = np.ones((2, 3), np.float32), np.arange(8, dtype=np.float32).reshape(4, 2)
    merged = tensors.LoraMerged(base, a, b, 0.5)
    assert np.array_equal(merged.take(slice(1, 3)), 0.5 * (b @ a)[1:3])


def test_llama3_rope_factors_shape_and_ends():
    f = architectures.llama3_rope_factors({"rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, 128)
    assert f.shape == (64,) and f[0] == 1.0 and f[-1] == 8.0 and np.all(np.diff(f) >= 0)


def test_known_checkpoints_are_recognised():
    qwen = metadata.known_checkpoint("/root/.cache/huggingface/hub/models--jwkirchenbauer--Qwen3-4B-Inst-2507-MTP/"
                                     "snapshots/abc123")
    assert qwen["prompt_format"] == "plain" and qwen["stop_token_ids"] == [151645, 151643]
    assert metadata.known_checkpoint("jwkirchenbauer/L3-1-8B-Magpie-MTP")["stop_token_ids"] == [128001, 128009]
    assert metadata.known_checkpoint("/models/L3-1-8B-Magpie-MTP/")["prompt_format"] == "chat"
    assert metadata.known_checkpoint("/models/something-else", None) == {}


def test_settings_precedence_and_validation():
    tokens = ["a", "b", "<|mtp_special_token_0|>", "<|mtp_special_token_1|>", "<m>"]
    s = metadata.resolve(tokens, has_chat_template=True, eos_ids=[1], mtp_config={}, known={})
    assert (s.mask_id, s.k_max, s.tau, s.prompt_format, s.stop_token_ids) == (2, 16, 0.9, "chat", [1])
    s = metadata.resolve(tokens, has_chat_template=True, eos_ids=[1], known={"prompt_format": "plain"},
                         mtp_config={"mask_token": "<m>", "k_max": 4, "tau": 0.5, "stop_token_ids": [0]})
    assert (s.mask_id, s.k_max, s.tau, s.prompt_format, s.stop_token_ids) == (4, 4, 0.5, "plain", [0])
    s = metadata.resolve(tokens, has_chat_template=False, eos_ids=[], mtp_config={"k_max": 4}, known={},
                         k_max=2, tau=1.0, mask_token="<|mtp_special_token_1|>")
    assert (s.mask_id, s.k_max, s.tau, s.prompt_format) == (3, 2, 1.0, "plain")
    with pytest.raises(ValueError, match="range"):
        metadata.resolve(tokens, has_chat_template=False, eos_ids=[], known={},
                         mtp_config={"mask_mode": "range", "k_max": 4})
    with pytest.raises(ValueError, match="needs a chat template"):
        metadata.resolve(tokens, has_chat_template=False, eos_ids=[], mtp_config={}, known={}, prompt_format="chat")
    with pytest.raises(ValueError, match="outside the vocab"):
        metadata.resolve(tokens, has_chat_template=False, eos_ids=[], mtp_config={}, known={"stop_token_ids": [151645]})


def test_offline_repo_id_not_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    hub = convert_module("hub")
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache"):
        hub.resolve_source("jwkirchenbauer/Qwen3-4B-Inst-2507-MTP", offline=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hub.resolve_source("./not/a/folder")


def test_bf16_to_f16_fast_path_is_bit_identical_on_every_value():
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    fast = quantize.bf16_to_f16(every).view(np.uint16)
    with np.errstate(over="ignore"):
        slow = checkpoint.bf16_to_f32(every).astype(np.float16).view(np.uint16)
    nan = np.isnan(slow.view(np.float16))
    assert np.array_equal(fast[~nan], slow[~nan]) and np.isnan(fast[nan].view(np.float16)).all()


@pytest.mark.parametrize("outtype", ["f16", "bf16"])
def test_fast_paths_write_the_same_file(tmp_path, monkeypatch, outtype):
    from test_convert_helpers import import_convert, make_checkpoint

    folder = make_checkpoint(tmp_path / "m", "llama", dtype="bfloat16", layers=1)
    fast = import_convert().convert_checkpoint(folder, tmp_path / "fast.gguf", outtype=outtype, progress=False)
    monkeypatch.setattr(writer, "FAST_PATHS", False)
    slow = import_convert().convert_checkpoint(folder, tmp_path / "slow.gguf", outtype=outtype, progress=False)
    assert fast.read_bytes() == slow.read_bytes()


def test_synthetic_models_convert_and_load(tmp_path, monkeypatch):
    """The benchmark helpers, on a tiny shape: a random checkpoint converts; a random GGUF loads and runs."""
    from test_convert_helpers import import_convert, open_llama, require_llama_cpp

    llama_cpp = require_llama_cpp()
    synthetic = convert_module("synthetic")
    tiny = {**synthetic.SHAPES["llama-3.1-8b"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 384}
    monkeypatch.setitem(synthetic.SHAPES, "tiny", tiny)
    ckpt = synthetic.write_random_checkpoint(tmp_path / "ckpt", "tiny", shard_bytes=40_000)
    assert len(list(ckpt.glob("*.safetensors"))) > 1  # sharded, with an index
    out = import_convert().convert_checkpoint(ckpt, tmp_path / "c.gguf", outtype="f16", progress=False)
    ggufs = [out, synthetic.write_random_gguf(tmp_path / "r.gguf", "tiny", outtype="q8_0")]
    for path in ggufs:
        # logits_all: without it llama-cpp-python fills only the last row of `scores`, and the other rows hold
        # whatever memory was there (this test once failed on such garbage)
        llm = open_llama(path, n_ctx=32, verbose=False, logits_all=True)
        try:
            llm.eval([1, 2, 256, 256])
            assert llm.n_vocab() == 384 and np.isfinite(np.array(llm.scores[:4])).all()
        finally:
            llm.close()
    assert convert_module("gguf_read").read_gguf(ggufs[1])[0].get("general.file_type") == 7
