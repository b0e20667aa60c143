"""Bad arguments and bad files give a clear ValueError/FileNotFoundError, never a crash."""

from __future__ import annotations

import pytest

from conftest import THREADS


@pytest.mark.parametrize("kwargs, message", [
    ({"k_max": 0}, "k_max"),
    ({"k_max": 5000}, "context"),
    ({"tau": 0.0}, "tau"),
    ({"tau": 1.5}, "tau"),
    ({"tau": float("nan")}, "tau"),
    ({"mode": "fast"}, "mode"),
    ({"temperature": -1.0}, "temperature"),
])
def test_invalid_generation_arguments(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.generate("Hello", 4, **kwargs)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_style_calls_refuse_bad_options_at_the_call(model, stream):
    """Even a streamed completion raises at the call, before any chunk is read (a server can still say 400)."""
    with pytest.raises(ValueError, match="tau"):
        model.create_chat_completion([{"role": "user", "content": "Hi"}], tau=2.0, stream=stream)
    with pytest.raises(ValueError, match="temperature"):
        model.create_completion("Hi", temperature=-1.0, stream=stream)


def test_empty_prompt(model):
    with pytest.raises(ValueError, match="empty prompt"):
        model.generate("", 4)
    with pytest.raises(ValueError, match="empty prompt"):
        model.generate([], 4)


def test_token_outside_vocab(model):
    with pytest.raises(ValueError, match="outside the vocab"):
        model.generate([1, 10**7], 4)


def test_prompt_longer_than_context(model):
    with pytest.raises(ValueError, match="context"):
        model.generate(list(range(10, 2000)), 4)


def test_missing_file():
    from mtp_edge import MTPModel

    with pytest.raises(FileNotFoundError, match="not found"):
        MTPModel("/nonexistent/model.gguf")


def test_not_a_gguf_file(tmp_path):
    from mtp_edge import MTPModel

    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"this is not a model" * 10)
    with pytest.raises(ValueError, match="not a GGUF file"):
        MTPModel(bad)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 12)
    with pytest.raises(ValueError, match="GGUF"):
        MTPModel(truncated)


def test_model_without_mask_runs_k1_only(smollm2_path):
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_path, n_ctx=256, n_threads=THREADS)
    assert not m.is_mtp and m.default_k_max == 1
    with pytest.raises(ValueError, match="no mask token"):
        m.generate("Hi", 4, k_max=4)
    assert len(m.generate("Hi", 4).tokens) <= 4
    m.close()
