"""Process-level properties: one libllama, flat memory over thousands of passes."""

from __future__ import annotations

import os
import resource

import pytest


def mapped_libllama_files() -> set[str]:
    with open("/proc/self/maps") as f:
        return {line.split()[-1] for line in f if "libllama" in line.split()[-1]}


def test_exactly_one_libllama_is_mapped(model):
    # Touch the extension so its dependencies are certainly loaded.
    model.generate("Hi", 2, k_max=1)
    files = mapped_libllama_files()
    assert len(files) == 1, files
    real = {os.path.realpath(p) for p in files}
    import llama_cpp.llama_cpp as lib

    assert os.path.realpath(lib._lib._name) in real


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.slow
def test_thousands_of_passes_keep_memory_flat(model):
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": "Tell me a long story."}]))
    model.generate(prompt, 64, k_max=3, tau=0.5, reuse_cache=False)  # warm up allocations
    before = _rss_mb()
    passes = 0
    while passes < 2500:
        result = model.generate(prompt, 400, k_max=3, tau=0.5, reuse_cache=False)
        passes += result.stats.passes
    growth = _rss_mb() - before
    assert growth < 20, f"RSS grew by {growth:.1f} MB over {passes} passes"
