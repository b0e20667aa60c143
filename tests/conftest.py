"""Shared fixtures: the real SmolLM2-135M-Instruct GGUF (Q4_1 as shipped, and an F16 copy for exactness)."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import pytest

# llama.cpp's OpenMP threads spin while idle. Tests run several llama.cpp users at once (a server process
# beside the test process, two models side by side), and on 2 cores spinning threads starve the busy ones:
# measured 30x slower generations. Passive waiting costs a few microseconds per pass instead.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# Calibration curves and demo builds go to a throwaway cache, not the user's.
os.environ.setdefault("MTP_EDGE_CACHE", tempfile.mkdtemp(prefix="mtp-edge-test-cache-"))

from gguf_util import rewrite_gguf, smollm2_gguf

THREADS = 2
# A SmolLM2 special token that never appears in ordinary text stands in for the mask token until a
# converted MTP model exists: the cache mechanics are the same.
STAND_IN_MASK_ID = 4
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (registered under its name: dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return smollm2_gguf()


@pytest.fixture(scope="session")
def smollm2_f16_path(tmp_path_factory) -> Path:
    """SmolLM2 with every tensor dequantized to F16: batched and single-token passes pick the same argmax."""
    cache = os.environ.get("MTP_EDGE_TEST_CACHE")
    folder = Path(cache) if cache else tmp_path_factory.mktemp("f16")
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / "SmolLM2-135M-Instruct.F16.gguf"
    if not dst.exists():
        rewrite_gguf(smollm2_gguf(), dst, float_type="f16")
    return dst


@pytest.fixture(scope="session")
def model(smollm2_path):
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_path, n_ctx=1024, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID)
    yield m
    m.close()


@pytest.fixture(scope="session")
def model_f16(smollm2_f16_path):
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_f16_path, n_ctx=1024, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID)
    yield m
    m.close()


@pytest.fixture(scope="session")
def reference_llama(smollm2_path):
    """llama-cpp-python's own Llama on the same file, for plain greedy references."""
    from mtp_edge.llama_load import open_llama

    llm = open_llama(smollm2_path, n_ctx=1024, n_threads=THREADS, n_threads_batch=THREADS,
                     n_batch=512, n_ubatch=512, verbose=False)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def reference_f16(smollm2_f16_path):
    """llama-cpp-python's Llama on the F16 file: the plain greedy reference that exact modes must equal."""
    from mtp_edge.llama_load import open_llama

    llm = open_llama(smollm2_f16_path, n_ctx=1024, n_threads=THREADS, n_threads_batch=THREADS,
                     verbose=False)
    yield llm
    llm.close()


def chat_ids(model, text: str) -> list[int]:
    """The tokens of one user turn in the model's prompt format."""
    return model.tokenize(model.format_chat([{"role": "user", "content": text}]))


def llama_greedy(llm, prompt_tokens: list[int], max_tokens: int) -> list[int]:
    """Plain greedy decoding through llama-cpp-python (stops at an end-of-generation token)."""
    out: list[int] = []
    for tok in llm.generate(prompt_tokens, temp=0.0, repeat_penalty=1.0, reset=True):
        if llm._model.token_is_eog(tok) if hasattr(llm._model, "token_is_eog") else tok == llm.token_eos():
            break
        out.append(tok)
        if len(out) >= max_tokens:
            break
    return out


PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "def fibonacci(n):",
    "Explain in one sentence why the sky is blue.",
]


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny torch models: one thread is 5-10x faster than two on a busy 2-core machine (no oversubscription)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
