"""Prompt-lookup drafts in the verifying modes: where the text ends in an n-gram seen before, what followed it takes
mask slots of the pass and is verified by that pass, so lossless output stays plain greedy's."""

from __future__ import annotations

import json

import pytest

from conftest import STAND_IN_MASK_ID, llama_greedy, load_benchmark
from conftest import chat_ids as chat
from mtp_edge import _core

# Text the answer copies: a list to repeat, a sentence to fix.
COPYING = [
    "Repeat this list exactly, twice: apple, banana, cherry, date, elderberry, fig, grape.",
    "Correct the spelling and write the sentence again: The quick brwn fox jumpd over the lazzy dog near the river.",
]


def _estimate(p: float, n: int = 8) -> _core.AcceptanceEstimate:
    """Every position held with chance p (the prior's value, nothing recorded)."""
    return _core.AcceptanceEstimate(n, p, 2.0)


def test_drafts_take_the_masks_slots_only_where_they_are_expected_to_do_better():
    good_drafts, poor_drafts = _estimate(0.9, n=16), _estimate(0.2, n=16)
    good_masks, poor_masks = _estimate(0.9), _estimate(0.2)
    assert _core.lookup_draft_length(good_drafts, poor_masks, 5, 3) == 3  # every slot, as many as the pass has
    assert _core.lookup_draft_length(good_drafts, poor_masks, 2, 3) == 2  # no more than the draft has
    assert _core.lookup_draft_length(poor_drafts, good_masks, 5, 3) == 0  # masks that hold keep their slots
    assert _core.lookup_draft_length(good_drafts, good_masks, 5, 0) == 0  # a plain pass stays plain
    # equal chances: a draft token is worth a mask's, and the tie keeps the masks
    assert _core.lookup_draft_length(_estimate(0.5, n=16), _estimate(0.5), 4, 4) == 0


@pytest.mark.parametrize("prompt", COPYING)
def test_lossless_with_drafts_is_plain_greedy_and_drafts_are_verified(model_f16, reference_f16, prompt):
    tokens = chat(model_f16, prompt)
    expected = llama_greedy(reference_f16, tokens, 60)
    result = model_f16.generate(tokens, 60, k_max=6, tau=0.5, mode="lossless", lookup_tokens=8, trace=True,
                                reuse_cache=False)
    assert result.tokens == expected
    s = result.stats
    assert s.lookup_proposed > 0 and 0 < s.lookup_accepted <= s.lookup_proposed
    emitted = 0
    for t in s.trace:  # the cache holds exactly the committed tokens after every pass
        emitted += t["emitted"]
        assert t["kv_pos_max"] == t["cached"] - 1
        if t is not s.trace[-1]:
            assert t["cached"] + t["pending"] == len(tokens) + emitted


def test_drafts_raise_tokens_per_pass_on_text_that_repeats(model_f16):
    """The stand-in mask is untrained: its rows almost never hold, so on copied text the drafts carry the pass."""
    with_drafts, without = [], []
    for prompt in COPYING:
        tokens = chat(model_f16, prompt)
        common = dict(k_max=6, tau=0.5, mode="lossless", reuse_cache=False)
        with_drafts.append(model_f16.generate(tokens, 60, lookup_tokens=8, **common).stats)
        without.append(model_f16.generate(tokens, 60, lookup_tokens=0, **common).stats)
    assert all(s.lookup_proposed == 0 for s in without)
    assert sum(s.tokens for s in with_drafts) / sum(s.passes for s in with_drafts) > \
        1.2 * sum(s.tokens for s in without) / sum(s.passes for s in without)


def test_one_shape_passes_keep_their_size_with_drafts(model_f16):
    tokens = chat(model_f16, COPYING[0])
    # tau = 1: the stand-in mask's rows are never emitted unverified
    result = model_f16.generate(tokens, 60, k_max=5, tau=1.0, propose_tau=0.3, mode="confadapt_verify",
                                fixed_shape=True, lookup_tokens=8, trace=True, reuse_cache=False)
    decode = [t for t in result.stats.trace if not t["prefill"]]
    assert result.stats.lookup_accepted > 0
    assert {t["fed"] for t in decode if t["masks"] > 0 or t["proposals"] > 0} == {5}


def test_drafts_are_on_by_default_only_where_they_are_verified(model_f16):
    tokens = chat(model_f16, COPYING[0])
    assert model_f16.generate(tokens, 40, k_max=6, tau=0.5, mode="lossless").stats.lookup_proposed > 0
    assert model_f16.generate(tokens, 40, k_max=6, tau=0.5, mode="confadapt").stats.lookup_proposed == 0


@pytest.mark.parametrize("options, named", [
    (dict(mode="confadapt", lookup_tokens=4), "mode='confadapt_verify'"),
    (dict(mode="lossless", temperature=0.7, lookup_tokens=4), "temperature 0"),
    (dict(mode="lossless", lookup_tokens=-1), "lookup_tokens = -1"),
    (dict(mode="lossless", lookup_tokens=2.5), "lookup_tokens = 2.5"),
])
def test_bad_lookup_options_are_named(model_f16, options, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(".", r"\.")):
        model_f16.generate("Hello", 4, k_max=4, **options)


def test_lookup_benchmark_prints_both_rows_per_size(smollm2_path, tmp_path, capsys):
    out = tmp_path / "lookup.json"
    rc = load_benchmark("lookup_drafts").main(
        ["-m", str(smollm2_path), "--mask-token-id", str(STAND_IN_MASK_ID), "--prompts", "chat", "--n-prompts", "1",
         "--sizes", "3", "--max-tokens", "8", "--repeats", "1", "--json", str(out)])
    assert rc == 0 and "speedup" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert [(r["pass_size"], r["lookup_tokens"]) for r in rows] == [(3, 0), (3, 8)]
    assert rows[0]["drafts_fed"] == 0 and all(r["decode_tps"] > 0 and r["plain_tps"] > 0 for r in rows)
