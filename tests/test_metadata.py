"""MTP metadata from an untrusted GGUF is validated before use."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from gguf import GGUFValueType, GGUFWriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtp_edge.metadata import MAX_K_MAX, read_metadata

VOCAB = 64


def write_vocab_gguf(path: Path, kv: dict) -> Path:
    """A GGUF with an architecture, a tiny vocab and the given extra keys (no tensors)."""
    w = GGUFWriter(str(path), "llama")
    w.add_token_list([f"t{i}" for i in range(VOCAB)])
    w.add_context_length(128)
    for key, (value, vtype, *sub) in kv.items():
        w.add_key_value(key, value, vtype, sub_type=sub[0] if sub else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_defaults_without_mtp_keys(tmp_path):
    meta = read_metadata(write_vocab_gguf(tmp_path / "m.gguf", {}))
    assert meta.mask_token_id is None and meta.k_max == 16 and meta.tau == 0.9
    assert meta.prompt_format == "plain" and meta.vocab_size == VOCAB


def test_reads_written_values(tmp_path):
    meta = read_metadata(write_vocab_gguf(tmp_path / "m.gguf", {
        "tokenizer.ggml.mask_token_id": (60, GGUFValueType.UINT32),
        "mtp.k_max": (8, GGUFValueType.UINT32),
        "mtp.tau": (0.75, GGUFValueType.FLOAT32),
        "mtp.prompt_format": ("chat", GGUFValueType.STRING),
        "mtp.mask_mode": ("single", GGUFValueType.STRING),
        "mtp.stop_token_ids": ([1, 2], GGUFValueType.ARRAY, GGUFValueType.INT32),
        "mtp.version": (1, GGUFValueType.UINT32),
    }))
    assert (meta.mask_token_id, meta.k_max, meta.tau, meta.prompt_format) == (60, 8, 0.75, "chat")
    assert meta.stop_token_ids == (1, 2) and meta.mtp_version == 1


@pytest.mark.parametrize("kv, message", [
    ({"tokenizer.ggml.mask_token_id": (VOCAB, GGUFValueType.UINT32)}, "outside the vocab"),
    ({"mtp.k_max": (0, GGUFValueType.UINT32)}, "k_max"),
    ({"mtp.k_max": (10**6, GGUFValueType.UINT32)}, "k_max"),
    ({"mtp.tau": (0.0, GGUFValueType.FLOAT32)}, "tau"),
    ({"mtp.tau": (1.01, GGUFValueType.FLOAT32)}, "tau"),
    ({"mtp.tau": (float("nan"), GGUFValueType.FLOAT32)}, "tau"),
    ({"mtp.mask_mode": ("spread", GGUFValueType.STRING)}, "mask_mode"),
    ({"mtp.prompt_format": ("xml", GGUFValueType.STRING)}, "prompt_format"),
    ({"mtp.stop_token_ids": ([5, 999], GGUFValueType.ARRAY, GGUFValueType.INT32)}, "stop_token_ids"),
    ({"mtp.k_max": ("16", GGUFValueType.STRING)}, "integer"),
])
def test_bad_values_are_rejected_with_the_key_named(tmp_path, kv, message):
    with pytest.raises(ValueError, match=message):
        read_metadata(write_vocab_gguf(tmp_path / "m.gguf", kv))


def test_model_with_bad_metadata_never_reaches_llama_cpp(tmp_path, smollm2_path):
    """A real model file whose mask id points outside the vocab is refused before loading."""
    from gguf_util import rewrite_gguf
    from mtp_edge import MTPModel

    bad = rewrite_gguf(smollm2_path, tmp_path / "bad.gguf",
                       kv={"tokenizer.ggml.mask_token_id": (10**6, GGUFValueType.UINT32)})
    with pytest.raises(ValueError, match="mask_token_id"):
        MTPModel(bad)


_INT_TYPES = [GGUFValueType.UINT32, GGUFValueType.INT32, GGUFValueType.UINT64, GGUFValueType.INT64]
_values = st.one_of(
    st.tuples(st.integers(-(2**31), 2**31 - 1), st.sampled_from([GGUFValueType.INT32, GGUFValueType.INT64])),
    st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([GGUFValueType.UINT32, GGUFValueType.UINT64])),
    st.tuples(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(GGUFValueType.FLOAT32)),
    st.tuples(st.text(max_size=12), st.just(GGUFValueType.STRING)),
    st.tuples(st.booleans(), st.just(GGUFValueType.BOOL)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(
    st.sampled_from(["tokenizer.ggml.mask_token_id", "mtp.k_max", "mtp.tau", "mtp.mask_mode",
                     "mtp.prompt_format", "mtp.version"]), _values, max_size=6))
def test_arbitrary_values_load_or_fail_cleanly(tmp_path, values):
    path = write_vocab_gguf(tmp_path / "h.gguf", values)
    try:
        meta = read_metadata(path)
    except ValueError:
        return
    # Whatever was accepted is safe for the decode loop.
    assert meta.mask_token_id is None or 0 <= meta.mask_token_id < VOCAB
    assert 1 <= meta.k_max <= MAX_K_MAX
    assert math.isfinite(meta.tau) and 0 < meta.tau <= 1
    assert meta.mask_mode in ("single", "range") and meta.prompt_format in ("chat", "plain")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 400), junk=st.binary(max_size=64))
def test_truncated_or_corrupt_headers_fail_cleanly(tmp_path, cut, junk):
    good = write_vocab_gguf(tmp_path / "g.gguf", {"mtp.k_max": (4, GGUFValueType.UINT32)}).read_bytes()
    bad = tmp_path / "b.gguf"
    bad.write_bytes(good[:cut] + junk)
    try:
        read_metadata(bad)
    except ValueError:
        pass
