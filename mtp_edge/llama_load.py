"""Open a GGUF with llama-cpp-python, avoiding llama.cpp's AMX weight kernels where they crash.

On Intel CPUs with AMX (Sapphire Rapids and later) a llama.cpp built for the machine, as `pip install
llama-cpp-python` builds it, repacks quantized weights (Q4_0, Q4_1, Q8_0, K-quants) into an "AMX" buffer, and
its matrix product there can crash the process with SIGSEGV on the first pass (llama.cpp issue #20824, open and
machine-dependent; seen here on a 2-core AMX VM in session 15, with llama-cpp-python 0.3.36 and SmolLM2's Q4_1 and
Q8_0 files, while F16 and BF16 files, which AMX does not repack, ran). A crash takes the Python process with it,
so it cannot be caught: where the CPU build reports AMX, mtp-edge loads weights without llama.cpp's extra CPU
buffer types (`use_extra_bufts = false`, llama.cpp's `--no-repack`). MTP_EDGE_CPU_EXTRA_BUFFERS=1 keeps them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import llama_cpp
import llama_cpp.llama_cpp as llama_capi

EXTRA_BUFFERS_ENV = "MTP_EDGE_CPU_EXTRA_BUFFERS"
_PATCH_LOCK = threading.Lock()


def cpu_reports_amx() -> bool:
    """Whether this llama.cpp's CPU backend was built with AMX kernels and found the CPU able to run them."""
    return "AMX_INT8 = 1" in llama_capi.llama_print_system_info().decode(errors="replace")


def extra_buffers_default() -> bool:
    """llama.cpp's extra CPU weight buffers (AMX, repacked layouts): off where the CPU reports AMX, unless the
    environment says MTP_EDGE_CPU_EXTRA_BUFFERS=1 (or 0 to turn them off everywhere)."""
    env = os.environ.get(EXTRA_BUFFERS_ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    return not cpu_reports_amx()


@contextmanager
def _defaults_with(use_extra_bufts: bool) -> Iterator[None]:
    # llama_cpp.Llama reads llama_model_default_params() and llama_context_default_params() inside its constructor
    # and has no argument for these fields, so the defaults are replaced for the length of one construction.
    # n_outputs_max_per_seq 0 (= every output row of a pass): llama.cpp's default, 1, lets a backend sampler
    # (mtp-edge's device rows, decode_loop.h) serve only passes with one output row.
    model_defaults, context_defaults = llama_capi.llama_model_default_params, llama_capi.llama_context_default_params

    def model_params():
        p = model_defaults()
        p.use_extra_bufts = use_extra_bufts
        return p

    def context_params():
        p = context_defaults()
        p.n_outputs_max_per_seq = 0
        return p

    with _PATCH_LOCK:
        llama_capi.llama_model_default_params = model_params
        llama_capi.llama_context_default_params = context_params
        try:
            yield
        finally:
            llama_capi.llama_model_default_params = model_defaults
            llama_capi.llama_context_default_params = context_defaults


def open_llama(model_path: str | os.PathLike, *, extra_buffers: bool | None = None, **kwargs) -> llama_cpp.Llama:
    """`llama_cpp.Llama(model_path, **kwargs)` with llama.cpp's extra CPU weight buffers as `extra_buffers` says
    (None: `extra_buffers_default()`, i.e. off on AMX CPUs, where they can crash), and every output row of a pass
    open to backend sampling."""
    use = extra_buffers_default() if extra_buffers is None else extra_buffers
    with _defaults_with(use):
        return llama_cpp.Llama(model_path=str(model_path), **kwargs)
