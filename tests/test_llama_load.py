"""Opening GGUFs without llama.cpp's AMX weight buffers where they crash (mtp_edge/llama_load.py)."""

from __future__ import annotations

import llama_cpp.llama_cpp as llama_capi
import pytest

from conftest import PROMPTS, STAND_IN_MASK_ID, THREADS
from mtp_edge import calibrate, llama_load


def test_extra_buffers_are_off_on_amx_cpus_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv(llama_load.EXTRA_BUFFERS_ENV, raising=False)
    assert llama_load.extra_buffers_default() is (not llama_load.cpu_reports_amx())
    monkeypatch.setenv(llama_load.EXTRA_BUFFERS_ENV, "1")
    assert llama_load.extra_buffers_default() is True
    monkeypatch.setenv(llama_load.EXTRA_BUFFERS_ENV, "0")
    assert llama_load.extra_buffers_default() is False


def test_a_model_opened_without_extra_buffers_decodes_and_leaves_llama_cpp_defaults_alone(smollm2_path):
    llm = llama_load.open_llama(smollm2_path, extra_buffers=False, n_ctx=256, n_threads=THREADS,
                                n_threads_batch=THREADS, verbose=False)
    try:
        assert llm.model_params.use_extra_bufts is False
        assert llama_capi.llama_model_default_params().use_extra_bufts is True  # the patch lasted one load
        out = llm.create_completion("Once upon a time, in a small village,", max_tokens=8, temperature=0.0)
        assert out["usage"]["completion_tokens"] == 8 and out["choices"][0]["text"].strip()
    finally:
        llm.close()


def test_the_mtp_model_and_its_curve_key_follow_the_setting(smollm2_path, monkeypatch):
    from mtp_edge import MTPModel

    monkeypatch.setenv(llama_load.EXTRA_BUFFERS_ENV, "0")
    m = MTPModel(smollm2_path, n_ctx=256, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID)
    try:
        assert calibrate.model_key(m)["extra_buffers"] is False
        prompt = m.tokenize(m.format_chat([{"role": "user", "content": PROMPTS[1]}]))
        assert len(m.generate(prompt, 8, k_max=3, tau=0.5).tokens) == 8
    finally:
        m.close()


def test_each_weight_buffer_setting_keeps_its_own_curve(tmp_path, monkeypatch):
    monkeypatch.setenv("MTP_EDGE_CACHE", str(tmp_path / "cache"))
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF" + b"\0" * 100)
    on = calibrate.curve_key(model_file, "CPU", 2, 2, 0, extra_buffers=True)
    off = calibrate.curve_key(model_file, "CPU", 2, 2, 0, extra_buffers=False)
    assert on != off and calibrate.cache_path(on) != calibrate.cache_path(off)
    calibrate.save_curve(calibrate.CostCurve(on, [1, 2], {64: [10.0, 20.0]}, repeats=1, quick=True))
    assert calibrate.load_curve(off) is None
    assert calibrate.load_curve(on) is not None


def test_a_failed_load_still_restores_the_defaults(tmp_path):
    bad = tmp_path / "not.gguf"
    bad.write_bytes(b"not a gguf")
    with pytest.raises(ValueError):
        llama_load.open_llama(bad, extra_buffers=False, verbose=False)
    assert llama_capi.llama_model_default_params().use_extra_bufts is True
