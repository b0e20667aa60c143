"""The llama.cpp build fingerprint: the real libraries this process loaded, a change of library seen, and a
calibration curve of another build not reused."""

from __future__ import annotations

import os
import re

import pytest

from mtp_edge import calibrate, llama_build
from mtp_edge.calibrate import CostCurve


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MTP_EDGE_CACHE", str(tmp_path / "cache"))


def test_the_loaded_llama_cpp_libraries_are_found():
    libs = llama_build.loaded_llama_libraries()
    assert any(os.path.basename(p).startswith("libllama") for p in libs), libs
    assert all(os.path.exists(p) for p in libs)
    build = llama_build.llama_build_id()
    assert re.fullmatch(r"[0-9a-f]{16}", build) and build == llama_build.llama_build_id()


def test_the_fingerprint_changes_when_a_library_is_rebuilt(tmp_path):
    lib = tmp_path / "libggml-cuda.so"
    lib.write_bytes(b"\x7fELF" + b"\0" * 64)
    os.utime(lib, ns=(1_000_000_000, 1_000_000_000))
    before = llama_build.fingerprint([str(lib)])
    assert before == llama_build.fingerprint([str(lib)])
    lib.write_bytes(b"\x7fELF" + b"\1" * 64)  # same size, new contents: a rebuild
    os.utime(lib, ns=(2_000_000_000, 2_000_000_000))
    assert llama_build.fingerprint([str(lib)]) != before
    assert llama_build.fingerprint([str(lib), str(tmp_path / "gone.so")]) == llama_build.fingerprint([str(lib)])


def test_a_curve_of_another_llama_cpp_build_is_measured_afresh(tmp_path, monkeypatch):
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF" + b"\0" * 100)
    monkeypatch.setattr(calibrate, "llama_build_id", lambda: "release")
    release = calibrate.curve_key(model_file, "CUDA", 2, 2, -1)
    calibrate.save_curve(CostCurve(release, [1, 2], {64: [1.1, 1.3]}, repeats=1, quick=True))
    assert calibrate.load_curve(release) is not None
    monkeypatch.setattr(calibrate, "llama_build_id", lambda: "fused")
    fused = calibrate.curve_key(model_file, "CUDA", 2, 2, -1)
    assert fused["llama_build"] == "fused" and calibrate.load_curve(fused) is None
    assert calibrate.cache_path(fused) == calibrate.cache_path(release)  # the new build's curve replaces the old
