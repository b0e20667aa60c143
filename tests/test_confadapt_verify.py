"""confadapt_verify: ConfAdapt's confident prefix emitted at once, the less confident mask rows after it proposed
and verified by the next pass. Its two limits are the other modes, pass for pass."""

from __future__ import annotations

import pytest

from conftest import PROMPTS, llama_greedy
from conftest import chat_ids as chat


def passes(result):
    return [(t["fed"], t["emitted"]) for t in result.stats.trace]


@pytest.mark.parametrize("tau", (0.3, 0.9))
def test_proposing_nothing_below_tau_is_confadapt(model_f16, tau):
    """propose_tau = tau: no row is left to propose, so every pass is ConfAdapt's."""
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        common = dict(k_max=6, tau=tau, fixed_shape=False, trace=True, reuse_cache=False)
        verify = model_f16.generate(tokens, 48, mode="confadapt_verify", propose_tau=tau, lookup_tokens=0, **common)
        confadapt = model_f16.generate(tokens, 48, mode="confadapt", **common)
        assert verify.tokens == confadapt.tokens
        assert passes(verify) == passes(confadapt)
        assert verify.stats.proposed == 0


@pytest.mark.parametrize("propose_tau", (0.02, 0.3))
def test_emitting_nothing_at_once_is_lossless(model_f16, reference_f16, propose_tau):
    """tau = 1: no mask row is emitted unverified, so the output is plain greedy's (F16) and the passes lossless's
    (prompt lookup off: its drafts follow each rule's own estimates)."""
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        verify = model_f16.generate(tokens, 48, k_max=6, tau=1.0, propose_tau=propose_tau, mode="confadapt_verify",
                                    trace=True, reuse_cache=False, lookup_tokens=0)
        lossless = model_f16.generate(tokens, 48, k_max=6, tau=propose_tau, mode="lossless", trace=True,
                                      reuse_cache=False, lookup_tokens=0)
        assert verify.tokens == llama_greedy(reference_f16, tokens, 48)
        assert passes(verify) == passes(lossless)
        assert verify.stats.proposed == lossless.stats.proposed > 0


def test_both_paths_run_and_the_cache_holds_what_was_committed(model_f16):
    """A low propose_tau on the untrained stand-in mask: rows are emitted at once, proposed, accepted, rejected."""
    emitted_at_once = proposed = accepted = checked = 0
    for prompt in PROMPTS:
        tokens = chat(model_f16, prompt)
        result = model_f16.generate(tokens, 60, k_max=6, tau=0.9, propose_tau=0.02, mode="confadapt_verify",
                                    trace=True)
        s = result.stats
        emitted_at_once += s.mask_tokens
        proposed += s.proposed
        accepted += s.proposals_accepted
        emitted = 0
        for t in s.trace:
            emitted += t["emitted"]
            assert t["kv_pos_max"] == t["cached"] - 1  # masks and rejected proposals removed
            if t is not s.trace[-1]:
                assert t["cached"] + t["pending"] == len(tokens) + emitted  # proposals are not emitted yet
        assert len(result.tokens) == emitted == s.tokens
        checked += s.checked  # the tokens emitted at once are checked against greedy by the next pass
    assert emitted_at_once > 0 and checked > 0 and proposed > accepted > 0


def test_bad_options_name_the_fix(model_f16):
    tokens = model_f16.tokenize("Hello")
    with pytest.raises(ValueError, match="decodes greedily"):
        model_f16.generate(tokens, 4, k_max=4, mode="confadapt_verify", temperature=0.7)
    with pytest.raises(ValueError, match="propose_tau = 0.95 is above tau = 0.9"):
        model_f16.generate(tokens, 4, k_max=4, mode="confadapt_verify", tau=0.9, propose_tau=0.95)
    with pytest.raises(ValueError, match="confadapt_verify"):
        model_f16.generate(tokens, 4, mode="verify")


def test_generate_cli_runs_the_mode(tmp_path_factory, capsys):
    """`mtp-edge generate --mode confadapt_verify` on SmolLM2 with random MTP tokens, built the demo's way."""
    import json

    from product_util import mtp_smollm2

    from mtp_edge.cli import main

    path = mtp_smollm2(tmp_path_factory.getbasetemp())
    args = ["generate", "-m", str(path), "--threads", "2", "-p", "Count to ten.", "--chat", "-n", "24", "--k-max",
            "4", "--mode", "confadapt_verify"]
    assert main(args + ["--propose-tau", "0.001", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["tokens"]) > 0 and out["passes"] >= 1
    assert main(args + ["--propose-tau", "0.95"]) == 1  # above the model's tau 0.9: the message names the fix
    assert "propose_tau = 0.95 is above tau" in capsys.readouterr().err
