"""Lossless mode: proposals from the masks are verified by the next pass before they are emitted."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from conftest import PROMPTS, STAND_IN_MASK_ID, THREADS, llama_greedy
from conftest import chat_ids as chat

# With the untrained stand-in mask, a low tau makes the masks propose nearly every pass, and nearly every
# proposal fail: the rejection paths run constantly.
TAUS = (0.02, 0.3, 0.9)


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("tau", TAUS)
def test_lossless_greedy_equals_plain_greedy(model_f16, reference_f16, prompt, tau):
    tokens = chat(model_f16, prompt)
    expected = llama_greedy(reference_f16, tokens, 60)
    result = model_f16.generate(tokens, 60, k_max=6, tau=tau, mode="lossless", trace=True)
    assert result.tokens == expected
    # Bookkeeping after every pass: the cache holds exactly the committed tokens, one emitted token waits.
    emitted = 0
    for t in result.stats.trace:
        emitted += t["emitted"]
        assert t["kv_pos_max"] == t["cached"] - 1
        if t is not result.stats.trace[-1]:
            assert t["cached"] + t["pending"] == len(tokens) + emitted


def test_rejection_paths_all_occur_and_stay_exact(model_f16, reference_f16):
    seen = Counter()
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        result = model_f16.generate(tokens, 60, k_max=5, tau=0.02, mode="lossless", trace=True)
        assert result.tokens == llama_greedy(reference_f16, tokens, 60)
        for t in result.stats.trace:
            if t["proposals"] == 0:
                continue
            if t["verified"] == 0:
                seen["first"] += 1
            elif t["verified"] == t["proposals"]:
                seen["all"] += 1
            else:
                seen["middle"] += 1
    assert seen["first"] > 0 and seen["middle"] + seen["all"] > 0, seen
    s = result.stats
    assert s.proposed >= s.proposals_accepted and len(s.acceptance_at) > 0


def test_lossless_stops_at_the_context_end_exactly(smollm2_f16_path):
    from mtp_edge import MTPModel
    from mtp_edge.llama_load import open_llama

    m = MTPModel(smollm2_f16_path, n_ctx=80, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID)
    ref = open_llama(smollm2_f16_path, n_ctx=80, n_threads=THREADS, n_threads_batch=THREADS, verbose=False)
    tokens = chat(m, "Count from one to one hundred, one number per line.")
    result = m.generate(tokens, 500, k_max=6, tau=0.02, mode="lossless")
    expected = llama_greedy(ref, tokens, 80 - len(tokens))
    assert result.tokens == expected
    if result.stop_reason == "context":
        assert len(tokens) + len(result.tokens) == 80
    m.close()
    ref.close()


def _exact_two_token_distribution(llm, prompt: list[int], top_k: int, temperature: float) -> dict:
    """P(t1, t2) of plain top-k sampling at `temperature`, from the model's logits."""
    def dist(tokens):
        llm.reset()
        llm._ctx.kv_cache_clear()
        llm.eval(tokens)
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float64)
        top = np.argsort(-logits)[:top_k]
        z = logits[top] / temperature
        p = np.exp(z - z.max())
        return dict(zip(top.tolist(), (p / p.sum()).tolist()))

    joint = {}
    for t1, p1 in dist(prompt).items():
        for t2, p2 in dist(prompt + [t1]).items():
            joint[(t1, t2)] = p1 * p2
    return joint


def test_lossless_sampling_matches_plain_sampling(model_f16, reference_f16):
    """Speculative sampling keeps the distribution: chi-squared of 600 seeds against the exact one."""
    from scipy.stats import chisquare

    top_k, temperature, n = 3, 1.5, 600
    prompt = model_f16.tokenize("My favourite animal is the")
    exact = _exact_two_token_distribution(reference_f16, prompt, top_k, temperature)
    counts, proposals = Counter(), 0
    for seed in range(n):
        r = model_f16.generate(prompt, 2, k_max=4, tau=0.02, mode="lossless", temperature=temperature,
                               top_k=top_k, top_p=1.0, min_p=0.0, seed=seed, track_agreement=False)
        counts[tuple(r.tokens[:2])] += 1
        proposals += r.stats.proposed
    assert proposals > n // 2  # the speculative path really ran
    cells = sorted(exact, key=exact.get, reverse=True)
    observed = [counts.get(c, 0) for c in cells]
    assert sum(observed) == n, "a sample fell outside the support of plain sampling"
    expected = [exact[c] * n for c in cells]
    # Pool cells with small expectations so the chi-squared approximation holds.
    obs_pooled, exp_pooled, o_acc, e_acc = [], [], 0, 0.0
    for o, e in zip(observed, expected):
        o_acc, e_acc = o_acc + o, e_acc + e
        if e_acc >= 5:
            obs_pooled.append(o_acc)
            exp_pooled.append(e_acc)
            o_acc, e_acc = 0, 0.0
    if e_acc:
        obs_pooled[-1] += o_acc
        exp_pooled[-1] += e_acc
    stat, p_value = chisquare(obs_pooled, exp_pooled)
    assert p_value > 1e-3, (p_value, obs_pooled, [round(e, 1) for e in exp_pooled])
    assert not math.isnan(stat)


@pytest.mark.parametrize("tau", (0.02, 0.9))
def test_fixed_shape_passes_feed_k_max_tokens_and_stay_exact(model_f16, reference_f16, tau):
    """fixed_shape (for CUDA graph replay): every decode pass with masks feeds exactly k_max tokens, the KV
    bookkeeping holds, and lossless greedy output is still plain greedy output."""
    tokens = chat(model_f16, PROMPTS[0])
    result = model_f16.generate(tokens, 50, k_max=4, tau=tau, mode="lossless", trace=True, fixed_shape=True)
    assert result.tokens == llama_greedy(reference_f16, tokens, 50)
    decode_passes = result.stats.trace[1:]
    assert decode_passes and {t["fed"] for t in decode_passes if t["masks"] > 0} == {4}
    assert all(t["kv_pos_max"] == t["cached"] - 1 for t in result.stats.trace)


def test_fixed_shape_confadapt_passes_keep_one_size(model_f16):
    tokens = chat(model_f16, PROMPTS[0])
    result = model_f16.generate(tokens, 40, k_max=5, tau=0.9, trace=True, fixed_shape=True)
    assert len(result.stats.trace) > 5, result.stats.trace
    assert {t["fed"] for t in result.stats.trace[1:-1]} == {5}
    assert all(t["kv_pos_max"] == t["cached"] - 1 for t in result.stats.trace)


def test_fixed_shape_must_be_a_bool(model_f16):
    with pytest.raises(ValueError, match="fixed_shape"):
        model_f16.generate([1, 2, 3], 4, fixed_shape=1)


def test_fixed_shape_defaults_to_the_backend(model_f16):
    """None (the default) means fixed shapes only where layers run on a GPU: on this CPU model the passes are
    those of fixed_shape=False, and differ from fixed_shape=True's."""
    assert model_f16.on_gpu is False
    tokens = chat(model_f16, PROMPTS[0])
    fed = {}
    for fixed in (None, False, True):
        result = model_f16.generate(tokens, 30, k_max=5, tau=0.5, trace=True, fixed_shape=fixed, reuse_cache=False)
        fed[fixed] = [t["fed"] for t in result.stats.trace]
    assert fed[None] == fed[False]
    assert fed[False] != fed[True]


def test_lossless_proposes_at_its_own_default_threshold(model_f16):
    """Without tau, lossless mode proposes at LOSSLESS_TAU (a wrong proposal costs a row, not output quality);
    ConfAdapt keeps the model's tau."""
    from mtp_edge.model import LOSSLESS_TAU

    assert model_f16.tau_for("lossless") == LOSSLESS_TAU < model_f16.tau_for("confadapt") == model_f16.default_tau
    tokens = chat(model_f16, PROMPTS[0])
    run = lambda **kw: model_f16.generate(tokens, 30, k_max=5, mode="lossless", trace=True, reuse_cache=False, **kw)
    default, explicit = run(), run(tau=LOSSLESS_TAU)
    untimed = lambda trace: [{k: v for k, v in t.items() if k != "seconds"} for t in trace]  # noqa: E731
    assert default.tokens == explicit.tokens and untimed(default.stats.trace) == untimed(explicit.stats.trace)
    assert run(tau=model_f16.default_tau).stats.proposed <= default.stats.proposed
