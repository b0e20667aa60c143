"""Verifying passes past the trained k_max: auto gives lossless and confadapt_verify room for the proposals and
drafts they feed before their masks, and the masks that reach untrained slots only propose."""

from __future__ import annotations

import json

import pytest

from conftest import PROMPTS, llama_greedy
from conftest import chat_ids as chat
from mtp_edge.model import VERIFY_EXTRA_SLOTS

CURVE = [1.0] * 12  # a flat cost curve: no calibration run, every pass size costs the same


def _range_model(tmp_path_factory, n_tokens: int, k_max: int):
    """SmolLM2 with `n_tokens` random range-mode mask tokens and a trained k_max of `k_max`."""
    from product_util import make_token_adapter

    from mtp_edge import MTPModel, demo

    base = tmp_path_factory.getbasetemp()
    adapter = make_token_adapter(base / f"range-adapter-{n_tokens}-{k_max}", n_tokens=n_tokens, mask_mode="range",
                                 k_max=k_max)
    path = demo.prepare_model(adapter, cache=base / "range-cache", progress=False, log=lambda _: None).path
    return MTPModel(path, n_ctx=512, n_threads=2)


@pytest.fixture(scope="module")
def range_model(tmp_path_factory):
    m = _range_model(tmp_path_factory, 32, 4)
    yield m
    m.close()


def test_auto_bounds_verifying_passes_past_the_trained_k_max(range_model):
    def bound(mode: str) -> tuple[int, int]:
        p = range_model._params(8, {"k_max": "auto", "mode": mode, "pass_cost": CURVE})
        return p.k_max, p.trusted_masks

    assert bound("confadapt_verify") == bound("lossless") == (4 + VERIFY_EXTRA_SLOTS, 3)
    assert bound("confadapt") == bound("static") == (4, 3)  # nothing verifies their masks: the trained k_max holds
    assert range_model._params(8, {"k_max": 3, "mode": "lossless"}).k_max == 3  # an explicit k_max is the user's


def test_range_masks_get_only_the_slots_whose_mask_tokens_exist(tmp_path_factory):
    """A range vocab with one mask token past the trained ones: one extra slot (the id after it is no mask)."""
    m = _range_model(tmp_path_factory, 4, 4)
    try:
        p = m._params(8, {"k_max": "auto", "mode": "confadapt_verify", "pass_cost": CURVE})
        assert (p.k_max, p.trusted_masks) == (5, 3)
    finally:
        m.close()


def _run(model, tokens, params) -> list[int]:
    model._begin(tokens, False, params)
    out: list[int] = []
    while not model._decoder.done:
        out += list(model._decoder.step())
    return out


def test_untrusted_masks_only_propose_so_none_trusted_is_plain_greedy(model_f16, reference_f16):
    """confadapt_verify with no trusted mask emits nothing unverified: plain greedy's output (F16), while the same
    rule trusting every mask emits mask rows at once (the stand-in mask at a low tau)."""
    emitted_at_once = 0
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        options = {"k_max": 6, "tau": 0.3, "propose_tau": 0.02, "mode": "confadapt_verify", "lookup_tokens": 0}
        params = model_f16._params(40, options)
        params.trusted_masks = 0
        assert _run(model_f16, tokens, params) == llama_greedy(reference_f16, tokens, 40)
        assert model_f16.last_stats().mask_tokens == 0 and model_f16.last_stats().proposed > 0
        params = model_f16._params(40, options)
        params.trusted_masks = 5
        _run(model_f16, tokens, params)
        emitted_at_once += model_f16.last_stats().mask_tokens
    assert emitted_at_once > 0
