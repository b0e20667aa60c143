"""The C++ decode loop on the real llama.cpp and the real SmolLM2 model."""

from __future__ import annotations

import llama_cpp
import pytest

from conftest import PROMPTS, STAND_IN_MASK_ID, THREADS, llama_greedy
from mtp_edge.llama_load import open_llama


def chat(model, text: str) -> list[int]:
    return model.tokenize(model.format_chat([{"role": "user", "content": text}]))


@pytest.mark.parametrize("prompt", PROMPTS)
def test_k1_equals_llama_cpp_python_greedy(model, reference_llama, prompt):
    tokens = chat(model, prompt)
    expected = llama_greedy(reference_llama, tokens, 48)
    result = model.generate(tokens, 48, k_max=1)
    assert result.tokens == expected
    assert result.stats.passes == len(expected) + (result.stop_reason == "stop")
    assert result.stats.eff_k == 1.0  # one token per pass, the stop token included


def test_k1_equals_greedy_with_long_prompt_in_chunks(smollm2_path, reference_llama):
    """A prompt longer than n_batch is prefilled in the same chunks as llama-cpp-python's."""
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_path, n_ctx=1024, n_threads=THREADS, n_batch=64)
    ref = open_llama(smollm2_path, n_ctx=1024, n_threads=THREADS, n_threads_batch=THREADS,
                     n_batch=64, n_ubatch=64, verbose=False)
    tokens = chat(m, " ".join(PROMPTS) * 4)
    assert len(tokens) > 3 * 64
    assert m.generate(tokens, 24, k_max=1).tokens == llama_greedy(ref, tokens, 24)
    m.close()
    ref.close()


def _fresh_predictions(llm: llama_cpp.Llama, sequence: list[int], k: int) -> list[int]:
    """Argmax of the last k rows of `sequence`, computed from an empty cache (no reuse at all)."""
    import numpy as np

    llm.reset()
    llm._ctx.kv_cache_clear()
    llm.eval(sequence)
    logits = np.asarray(llm.scores[len(sequence) - k: len(sequence)])
    return [int(i) for i in logits.argmax(axis=1)]


def test_every_pass_matches_a_no_cache_reference(model_f16, smollm2_f16_path):
    """Static k: each pass's k predictions equal a fresh context's over the same tokens + masks."""
    k = 4
    ref = open_llama(smollm2_f16_path, n_ctx=1024, n_threads=THREADS, n_threads_batch=THREADS,
                     logits_all=True, verbose=False)
    prompt = chat(model_f16, PROMPTS[2])
    passes = list(model_f16.stream_tokens(prompt, 40, k_max=k, mode="static"))
    assert len(passes) >= 8
    history = list(prompt)
    for accepted in passes:
        expected = _fresh_predictions(ref, history + [STAND_IN_MASK_ID] * (k - 1), k)
        assert accepted == expected[: len(accepted)]
        history += accepted
    ref.close()


def test_range_mask_mode_feeds_mask_id_plus_slot(model_f16, smollm2_f16_path, monkeypatch):
    """A model whose metadata says mask_mode "range" (distill --mask-mode range) reads slot j from mask id + j: each
    pass's predictions equal a fresh context's over the tokens + ids m, m+1, m+2, and not over m, m, m."""
    import dataclasses

    k = 4
    monkeypatch.setattr(model_f16, "metadata", dataclasses.replace(model_f16.metadata, mask_mode="range"))
    ref = open_llama(smollm2_f16_path, n_ctx=1024, n_threads=THREADS, n_threads_batch=THREADS,
                     logits_all=True, verbose=False)
    prompt = chat(model_f16, PROMPTS[2])
    passes = list(model_f16.stream_tokens(prompt, 24, k_max=k, mode="static"))
    history, differs = list(prompt), 0
    for accepted in passes:
        slots = [STAND_IN_MASK_ID + j for j in range(k - 1)]
        expected = _fresh_predictions(ref, history + slots, k)
        assert accepted == expected[: len(accepted)]
        differs += expected != _fresh_predictions(ref, history + [STAND_IN_MASK_ID] * (k - 1), k)
        history += accepted
    ref.close()
    assert differs > 0  # the two modes' passes are told apart on this text


def test_cache_holds_only_committed_tokens(model):
    prompt = chat(model, PROMPTS[0])
    result = model.generate(prompt, 20, k_max=4, mode="static")
    cached = list(model._decoder.cached_tokens)
    # The last pass's tokens are pending (not fed yet); no mask ever stays in the cache.
    assert cached == (prompt + result.tokens)[: len(cached)]
    assert STAND_IN_MASK_ID not in cached
    mem = llama_cpp.llama_get_memory(model.llama._ctx.ctx)
    assert llama_cpp.llama_memory_seq_pos_max(mem, 0) + 1 == len(cached)


def test_prefix_reuse_gives_the_same_output(model):
    prompt = chat(model, PROMPTS[1])
    first = model.generate(prompt, 16, k_max=3, tau=0.5)
    again = model.generate(prompt, 16, k_max=3, tau=0.5)
    assert again.stats.reused_tokens == len(prompt) - 1
    assert again.tokens == first.tokens
    cold = model.generate(prompt, 16, k_max=3, tau=0.5, reuse_cache=False)
    assert cold.stats.reused_tokens == 0 and cold.tokens == first.tokens


def test_stop_id_inside_an_accepted_chunk_trims_the_rest(model):
    prompt = chat(model, PROMPTS[4])
    passes = list(model.stream_tokens(prompt, 40, k_max=4, mode="static"))
    free = [t for p in passes for t in p]
    # A token in the middle of a 4-token chunk that does not occur earlier in the output.
    seen: list[int] = []
    stop = None
    for chunk in passes:
        if len(chunk) == 4 and chunk[1] not in seen + chunk[:1]:
            stop, cut = chunk[1], len(seen) + 1
            break
        seen += chunk
    assert stop is not None, passes
    result = model.generate(prompt, 40, k_max=4, mode="static", stop_token_ids=[stop])
    assert result.stop_reason == "stop"
    assert result.tokens == free[:cut]


def test_budget_ends_with_length(model):
    result = model.generate(chat(model, PROMPTS[3]), 5, k_max=4, mode="static")
    assert result.stop_reason == "length" and len(result.tokens) == 5


def test_full_context_ends_with_context(smollm2_path):
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_path, n_ctx=64, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID)
    prompt = chat(m, "Count from one to one hundred, one number per line.")
    for k in (1, 4):
        result = m.generate(prompt, 500, k_max=k, mode="static")
        assert result.stop_reason in ("context", "stop")
        if result.stop_reason == "context":
            assert len(prompt) + len(result.tokens) == m.n_ctx  # llama.cpp may round 64 up (256 here)
    m.close()


def test_eos_ends_with_stop(model):
    result = model.generate(chat(model, "Say just the word yes."), 200, k_max=1)
    assert result.stop_reason == "stop"
    assert model.llama.token_eos() not in result.tokens


def test_stream_text_equals_generate_text(model):
    prompt = model.format_chat([{"role": "user", "content": "Write a short greeting in French and in Japanese."}])
    result = model.generate(prompt, 40, k_max=3, tau=0.6)
    pieces = list(model.stream(prompt, 40, k_max=3, tau=0.6))
    assert "".join(pieces) == result.text
    assert all("\ufffd" not in p for p in pieces)


def test_stop_strings(model):
    prompt = model.format_chat([{"role": "user", "content": "List three colors, one per line."}])
    full = model.generate(prompt, 40, k_max=1).text
    assert "\n" in full
    cut = model.generate(prompt, 40, k_max=1, stop=["\n"])
    assert cut.text == full[: full.index("\n")]
    assert cut.stop_reason == "stop"


def test_interrupted_stream_leaves_the_model_usable(model):
    prompt = chat(model, PROMPTS[2])
    expected = model.generate(prompt, 30, k_max=3, tau=0.5).tokens
    gen = model.stream_tokens(prompt, 30, k_max=3, tau=0.5)
    with pytest.raises(KeyboardInterrupt):
        for i, _ in enumerate(gen):
            if i == 2:
                raise KeyboardInterrupt
    gen.close()
    assert model.generate(prompt, 30, k_max=3, tau=0.5).tokens == expected


def test_sampling_is_reproducible_with_a_seed_and_greedy_at_temperature_zero(model):
    prompt = chat(model, PROMPTS[1])
    a = model.generate(prompt, 30, k_max=3, tau=0.8, temperature=0.9, seed=7).tokens
    b = model.generate(prompt, 30, k_max=3, tau=0.8, temperature=0.9, seed=7).tokens
    c = model.generate(prompt, 30, k_max=3, tau=0.8, temperature=0.9, seed=8).tokens
    assert a == b and a != c
    greedy = model.generate(prompt, 30, k_max=3, tau=0.8).tokens
    assert model.generate(prompt, 30, k_max=3, tau=0.8, temperature=0.0, seed=99).tokens == greedy


def test_stats_are_consistent(model):
    result = model.generate(chat(model, PROMPTS[2]), 40, k_max=4, tau=0.3)
    s = result.stats
    assert s.tokens == len(result.tokens)
    assert sum(a * n for a, n in enumerate(s.accept_hist)) == s.tokens
    assert sum(s.accept_hist) == s.passes
    assert s.eff_k == pytest.approx((s.tokens + (result.stop_reason == "stop")) / s.passes)
    assert s.prefill_s > 0 and s.decode_s > 0 and s.decode_tps > 0
    assert 0 <= s.checked <= s.mask_tokens
    if s.checked:
        assert 0.0 <= s.mask_agreement <= 1.0


def test_the_decoder_remembers_the_most_recent_rules(model):
    """Each accept rule keeps its own acceptance and guard memory across generations. The bench cycles through
    ~32 rules (each mode tracked and timed); a store that refused rules once 16 were filed left its timed `auto`
    rows starting every generation from nothing. The store keeps the most recently used rules instead."""
    from mtp_edge import _core

    prompt = chat(model, PROMPTS[0])
    most = _core.Decoder.most_rules
    taus = [0.5 + 0.005 * i for i in range(most + 6)]
    for tau in taus:
        model.generate(prompt, 2, k_max=3, tau=tau)

    def remembered(tau: float) -> bool:
        return model._decoder.remembers(model._params(2, {"k_max": 3, "tau": tau}))

    # the store's `most` rules and the current generation's, which the next generation files
    assert [remembered(t) for t in taus] == [False] * 5 + [True] * (most + 1)
    # a rule used again becomes the most recent: the next new rule pushes out the oldest other one
    model.generate(prompt, 2, k_max=3, tau=taus[6])
    model.generate(prompt, 2, k_max=3, tau=0.42)
    model.generate(prompt, 2, k_max=3, tau=0.43)  # files 0.42's memory, the store at its cap again
    assert remembered(taus[6]) and remembered(0.42) and not remembered(taus[7])
    assert not model._decoder.remembers(model._params(2, {"k_max": 4, "tau": taus[-1]}))  # another rule


def test_a_fixed_k_max_and_the_cost_aware_policy_keep_separate_memories(model):
    """A fixed k_max = 6 run and `auto` (a pass-cost curve, bounded by the trained k_max = 6) once shared one memory:
    auto then started from the fixed run's 6-token pass size and its guard's verdict on 6-token passes (the bench
    runs k_max = 6 just before auto)."""
    prompt = chat(model, PROMPTS[0])
    curve = [1.0 + 0.05 * n for n in range(32)]
    model.generate(prompt, 2, k_max=6, tau=0.77)
    assert model._decoder.remembers(model._params(2, {"k_max": 6, "tau": 0.77}))
    assert not model._decoder.remembers(model._params(2, {"k_max": 6, "tau": 0.77, "pass_cost": curve}))
    model.generate(prompt, 2, k_max=6, tau=0.77, pass_cost=curve)
    assert model._decoder.remembers(model._params(2, {"k_max": 6, "tau": 0.77}))  # filed, not replaced
