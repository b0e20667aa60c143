"""The cost-aware mask policy as pure functions (no model)."""

from __future__ import annotations

import pytest

from mtp_edge import _core

LINEAR = [float(n) for n in range(1, 33)]  # small model on a CPU: n tokens cost n times one
FLAT = [1.0 + 0.01 * n for n in range(32)]  # GPU-like: extra tokens nearly free


def estimate(accept: float, passes: int = 200, masks: int = 15) -> _core.AcceptanceEstimate:
    """An estimate after `passes` passes in which every mask was accepted with probability `accept`."""
    est = _core.AcceptanceEstimate(masks)
    for i in range(passes):
        accepted = 0
        # A deterministic sequence with the right acceptance frequency at each position.
        while accepted < masks and ((i * 7919 + accepted * 104729) % 1000) / 1000 < accept:
            accepted += 1
        est.record(masks, accepted)
    return est


def test_linear_curve_low_acceptance_picks_plain_decoding():
    assert _core.choose_masks(LINEAR, estimate(0.2), 15) == 0


def test_flat_curve_high_acceptance_picks_many_masks():
    assert _core.choose_masks(FLAT, estimate(0.9), 15) >= 8


def test_flat_curve_with_no_acceptance_still_picks_plain():
    assert _core.choose_masks(FLAT, estimate(0.0), 15) == 0


def test_more_acceptance_never_means_fewer_masks():
    curve = [1.0, 1.3, 1.5, 1.7, 1.9, 2.2, 2.5, 2.9] + [3.0 + 0.4 * n for n in range(24)]
    picks = [_core.choose_masks(curve, estimate(a), 15) for a in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert picks == sorted(picks)


def test_expected_tokens_matches_the_chain_of_acceptances():
    est = _core.AcceptanceEstimate(4, prior_accept=0.5, prior_weight=2.0)
    assert _core.expected_tokens(est, 0) == 1.0
    assert _core.expected_tokens(est, 2) == pytest.approx(1 + 0.5 + 0.25)
    for _ in range(1000):
        est.record(4, 4)
    assert _core.expected_tokens(est, 4) == pytest.approx(5.0, rel=1e-2)


def test_rejection_ends_the_chain_of_tries():
    est = _core.AcceptanceEstimate(4, prior_accept=0.5, prior_weight=0.0)
    est.record(4, 1)  # mask 1 accepted, mask 2 rejected, masks 3-4 never judged
    assert est.conditional(1) == 1.0 and est.conditional(2) == 0.0
    est2 = _core.AcceptanceEstimate(4, prior_accept=0.5, prior_weight=2.0)
    est2.record(4, 1)
    assert est2.conditional(3) == pytest.approx(0.5)  # never judged: the prior alone


def test_probe_interval_keeps_probing_near_one_percent_of_decode_time():
    # A one-mask probe costs cost(2)/cost(1) - 1 more than a plain pass; probes come that many % apart.
    assert _core.probe_interval([12.8, 22.0]) == 72  # SmolLM2 Q4_1 on this CPU (MEASURED.md)
    assert _core.probe_interval(FLAT) == 16  # nearly free: the floor
    assert _core.probe_interval(LINEAR) == 100
    assert _core.probe_interval([1.0, 9.0]) == 256  # the ceiling: acceptance may still change
    assert _core.probe_interval([1.0]) == 16


def test_scaling_an_estimate_moves_it_back_toward_the_prior():
    est = _core.AcceptanceEstimate(2, prior_accept=0.5, prior_weight=2.0)
    for _ in range(10):
        est.record(2, 2)
    before = est.conditional(1)
    est.scale(0.5)
    assert est.conditional(1) == pytest.approx((5 + 1) / (5 + 2))
    assert 0.5 < est.conditional(1) < before


# -- the throughput guard: measured wall time decides between masks and plain passes ------------------------
def _run_guard(guard, passes: int, masks_s_per_token: float, plain_s_per_token: float) -> list[bool]:
    """Feed `passes` passes whose cost per token depends on the guard's regime; returns the regimes used."""
    used = []
    for _ in range(passes):
        allowed = guard.masks_allowed
        used.append(allowed)
        guard.record((masks_s_per_token if allowed else plain_s_per_token) * 2, 2)
    return used


def test_guard_settles_on_plain_when_passes_with_masks_are_measured_slower():
    """The GPU case: the calibrated curve said masks pay, the loop measures them at 1.5x the time per token."""
    guard = _core.ThroughputGuard()
    used = _run_guard(guard, 2000, masks_s_per_token=1.5e-3, plain_s_per_token=1e-3)
    assert used[0] is True and not all(used)  # starts trusting the policy, then measures plain
    assert guard.seconds_per_token(True) == pytest.approx(1.5e-3)
    assert guard.seconds_per_token(False) == pytest.approx(1e-3)
    late = used[len(used) // 2:]
    assert sum(late) / len(late) < 0.05  # re-measures masks now and then (growing intervals), no more


def test_guard_keeps_masks_when_they_are_measured_faster():
    guard = _core.ThroughputGuard()
    used = _run_guard(guard, 2000, masks_s_per_token=0.6e-3, plain_s_per_token=1e-3)
    late = used[len(used) // 2:]
    assert sum(late) / len(late) > 0.95


def test_guard_keeps_masks_on_a_near_tie_and_leaves_them_when_plain_is_clearly_faster():
    """Masks are the regime that learns the text's acceptance: within GUARD_MASKS_MARGIN of plain they stay."""
    assert 0.0 < _core.GUARD_MASKS_MARGIN < 0.1
    near = 1e-3 * (1.0 + _core.GUARD_MASKS_MARGIN / 2)
    used = _run_guard(_core.ThroughputGuard(), 2000, masks_s_per_token=near, plain_s_per_token=1e-3)
    assert sum(used[1000:]) / 1000 > 0.9
    no_margin = _run_guard(_core.ThroughputGuard(masks_margin=0.0), 2000, masks_s_per_token=near,
                           plain_s_per_token=1e-3)
    assert sum(no_margin[1000:]) / 1000 < 0.1  # judged on time alone, plain wins the same tie
    clear = 1e-3 * (1.0 + 2 * _core.GUARD_MASKS_MARGIN)
    used = _run_guard(_core.ThroughputGuard(), 2000, masks_s_per_token=clear, plain_s_per_token=1e-3)
    assert sum(used[1000:]) / 1000 < 0.1


def test_guard_follows_a_change_in_which_regime_is_faster():
    """Acceptance changes with the text: after masks start paying, the guard's re-measurement finds it."""
    guard = _core.ThroughputGuard()
    _run_guard(guard, 1000, masks_s_per_token=2e-3, plain_s_per_token=1e-3)
    used = _run_guard(guard, 3000, masks_s_per_token=0.5e-3, plain_s_per_token=1e-3)
    assert sum(used[-500:]) / 500 > 0.95


def _run_guard_on_swinging_text(guard, passes: int) -> list[bool]:
    """Masks pay on average (2 tokens a pass at 1.38x a plain pass's cost) but the yield swings with the text:
    stretches of 16 passes at 3 and at 1 token a pass (below 1.38: a poor stretch, judged alone, says plain)."""
    used = []
    for i in range(passes):
        allowed = guard.masks_allowed
        used.append(allowed)
        if allowed:
            guard.record(1.38e-3, 3 if (i // 16) % 2 == 0 else 1)
        else:
            guard.record(1e-3, 1)
    return used


def test_guard_keeps_masks_that_pay_on_average_through_poor_stretches_of_text():
    """The yield is smoothed over ~8 windows; judged by one window, the guard ran plain a third of the time (the
    H200 GSM8K trace, benchmarks/replay_guard.py) where masks paid throughout."""
    late = _run_guard_on_swinging_text(_core.ThroughputGuard(), 4000)[2000:]
    assert sum(late) / len(late) > 0.95
    one_window = _run_guard_on_swinging_text(_core.ThroughputGuard(yield_decay=0.0), 4000)[2000:]
    assert sum(one_window) / len(one_window) < 0.9  # the behaviour this replaces: the test can tell them apart


def _run_guard_into_easy_text(guard, windows: int = 60) -> list[bool]:
    """Passes chosen one by one (a CPU): through a hard first half the policy's own passes are plain (1 token at
    1 ms, masks allowed or not); then the text turns easy and passes with masks run, dearer (1.3 ms) and worth 2
    tokens: 0.65 ms a token against plain's 1."""
    used = []
    for i in range(16 * windows):
        allowed = guard.masks_allowed
        used.append(allowed)
        easy = i >= 16 * windows // 2
        guard.record(1.3e-3 if allowed and easy else 1e-3, 2 if allowed and easy else 1)
    return used


def test_guard_keeps_masks_when_the_text_turns_easy_and_passes_get_dearer():
    """A window's cost and its yield move together where passes are chosen one by one. Judged by the latest window's
    cost over a yield smoothed across the hard stretch, the first easy windows looked slower than plain, and the
    guard ran plain for most of the easy half (a 2-core CPU's chat, session 26: 26-38% plain where masks paid)."""
    late = _run_guard_into_easy_text(_core.ThroughputGuard())[16 * 30:]
    assert sum(late) / len(late) > 0.9
    latest_cost = _run_guard_into_easy_text(_core.ThroughputGuard(cost_decay=0.0))[16 * 30:]
    assert sum(latest_cost) / len(latest_cost) < 0.5  # the guard before session 26: the test tells them apart


def test_guard_judges_masks_on_several_windows_before_it_first_measures_plain():
    """A plain pass's time per token is steady; with masks it swings with the text. Judged on its first window, a
    poor opening stretch of a chat answer sent auto to plain where masks paid 7% (session 9's H200 chat traces)."""
    most = _core.ThroughputGuard.first_masks_windows
    assert most > 1
    for first, poor_opening in ((most, True), (1, False)):
        guard = _core.ThroughputGuard(first_masks_windows=first)
        used = []
        for i in range(16 * (most + 4)):
            used.append(guard.masks_allowed)
            if guard.masks_allowed:  # one poor window (1 token a pass), then 2 a pass: 1.38x the cost pays
                guard.record(1.38e-3, 1 if i < 16 else 2)
            else:
                guard.record(1e-3, 1)
        if poor_opening:
            assert all(used[:16 * most])  # masks through their first `most` windows
            assert not any(used[16 * most:16 * (most + 1)])  # then one window of plain passes is measured
            assert all(used[16 * (most + 1):])  # and masks, measured faster over the smoothed yield, come back
        else:  # the guard before session 9: plain measured after one window, and kept for windows on its verdict
            assert not any(used[16:32]) and used.count(False) >= 16 * 4


def test_guard_ignores_the_first_passes_after_a_switch():
    """Switching costs (graph re-capture, cache refills) land on a window's first passes; they are not timed."""
    guard = _core.ThroughputGuard()
    for i in range(16):  # masks window: the first two passes are very slow but do not count
        guard.record(1.0 if i < 2 else 2e-3, 2)
    assert guard.seconds_per_token(True) == pytest.approx(1e-3)


def _generation(guard, passes: int, masks_s: float, plain_s: float, start_s: float, begin: bool) -> list[bool]:
    """One generation on a CUDA-like machine: its first two decode passes follow the prompt's pass (another
    shape) and cost start_s more each; masks pay (2 tokens a pass at masks_s against 1 at plain_s)."""
    if begin:
        guard.begin_generation()
    used = []
    for i in range(passes):
        allowed = guard.masks_allowed
        used.append(allowed)
        guard.record((masks_s if allowed else plain_s) + (start_s if i < 2 else 0.0), 2 if allowed else 1)
    return used


def test_guard_does_not_time_a_generations_first_passes():
    """The H200 trace of session 8: every generation's first two decode passes took 6.6 and 11.3 ms against 1.7;
    timed, they made each generation's first masks window look slow and sent the guard to plain for a window.
    (Judged on the latest window's cost, as then: the cost memory of session 26 smooths such windows out too.)"""
    for begin, most_masks in ((True, True), (False, False)):
        guard = _core.ThroughputGuard(cost_decay=0.0)
        used = [u for _ in range(12) for u in _generation(guard, 80, 1.7e-3, 1.27e-3, 7.5e-3, begin)]
        share = sum(used[len(used) // 2:]) / (len(used) // 2)
        assert (share > 0.95) == most_masks, (begin, share)
    guard = _core.ThroughputGuard()  # as it is: masks kept
    used = [u for _ in range(12) for u in _generation(guard, 80, 1.7e-3, 1.27e-3, 7.5e-3, True)]
    assert sum(used[len(used) // 2:]) / (len(used) // 2) > 0.95


def _explorations(guard, passes: int) -> int:
    """Masks slower than plain throughout: the guard settles on plain and re-measures masks now and then."""
    switches, allowed_before = 0, guard.masks_allowed
    for _ in range(passes):
        allowed = guard.masks_allowed
        switches += allowed != allowed_before
        allowed_before = allowed
        guard.record(2e-3 if allowed else 1.27e-3, 1)
    return switches


def test_guard_re_measures_less_often_where_a_change_of_pass_size_is_dear():
    """Each re-measurement changes the pass size twice; at ~9 ms a change (CUDA) against 20 ms for a window of
    plain passes, re-measuring every 4-64 windows cost ~4% on chat; the interval grows to keep it within 3%."""
    cheap, dear = _core.ThroughputGuard(), _core.ThroughputGuard()
    dear.set_switch_cost(9e-3)
    n_cheap, n_dear = _explorations(cheap, 3000), _explorations(dear, 3000)
    assert n_dear < n_cheap
    assert n_dear * 9e-3 <= 0.03 * 3000 * 1.27e-3 + 4 * 9e-3  # within the budget, bar the first look at masks


# The H200 bench (F16 SmolLM2-MTP, graphs replayed): 1 token 1.41 ms, a 6-token pass 2.76 ms.
GPU_REPLAYED = [1.41, 2.3, 2.46, 2.6, 2.7, 2.76] + [2.8 + 0.05 * n for n in range(26)]


def test_fixed_pass_prices_every_pass_with_masks_at_the_fixed_size():
    # Eff. k ~1.7 (our model): a 6-token pass at 1.96x a plain one does not pay; Eff. k ~3.3 (the paper's) does
    assert _core.choose_masks(GPU_REPLAYED, estimate(0.4), 5, fixed_pass=6) == 0
    masks = _core.choose_masks(GPU_REPLAYED, estimate(0.8), 5, fixed_pass=6)
    assert 1 <= masks <= 5
    # the same acceptance on a free-ish curve: masks fill what the re-fed tokens leave of the fixed pass
    assert _core.choose_masks(FLAT, estimate(0.9), 5, fixed_pass=6) >= 1


def test_fixed_pass_decision_uses_the_fixed_size_not_the_mask_count():
    # cheap small passes but an expensive 8-token pass: with fixed_pass=8 the policy must see the 8-token cost
    curve = [1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 4.0] + [4.0 + 0.1 * n for n in range(24)]
    est = estimate(0.6)
    assert _core.choose_masks(curve, est, 7) >= 1
    assert _core.choose_masks(curve, est, 7, fixed_pass=8) == 0


def test_probe_interval_prices_the_probe_pass():
    assert _core.probe_interval(GPU_REPLAYED, 6) > _core.probe_interval(GPU_REPLAYED, 2)


def test_probe_interval_prices_the_two_changes_of_pass_size_a_probe_makes():
    # the H200 (Q8_0): a plain pass 1.27 ms, a change of size ~9 ms: probes move to the ceiling
    curve = [1.27, 1.40, 1.59, 1.63, 1.72, 1.77]
    assert _core.probe_interval(curve, 5) < 64
    assert _core.probe_interval(curve, 5, switch_cost=9.0) == 256
    assert _core.probe_interval(curve, 5, switch_cost=0.0) == _core.probe_interval(curve, 5)


def _params(**fields) -> _core.DecodeParams:
    p = _core.DecodeParams()
    for name, value in {"k_max": 6, "tau": 0.9, "mask_id": 7, "fixed_shape": True, "track_agreement": False,
                        **fields}.items():
        setattr(p, name, value)
    return p


def test_generations_share_memory_only_within_one_rule_and_pass_regime():
    base = _params()
    # what does not change acceptance or pass costs: the next generation starts from this one's memory
    assert _core.same_rule_memory(base, _params(max_tokens=9, temperature=0.7, seed=3))
    # another accept rule: another acceptance
    for other in (dict(tau=0.8), dict(mode="lossless"), dict(mask_id=8), dict(k_max=4)):
        assert not _core.same_rule_memory(base, _params(**other)), other
    # another pass regime: other costs for the guard (a varying shape pays a GPU graph capture per pass, tracking
    # reads every row). Shared, the bench's varying-shape rows kept the fixed-shape auto at tau 0.9 plain.
    assert not _core.same_rule_memory(base, _params(fixed_shape=False))
    assert not _core.same_rule_memory(base, _params(track_agreement=True))


def test_masks_can_pay_only_where_accepted_masks_would_beat_plain_decoding():
    assert not _core.masks_can_pay(LINEAR, 5)  # n tokens cost n times one: even accepted masks lose
    assert _core.masks_can_pay(FLAT, 5)
    this_cpu = [1.0, 2.07, 2.57, 2.71, 3.14, 3.6, 4.91, 6.47]  # the demo's Q4_1 file, 2 threads, this machine
    assert not _core.masks_can_pay(this_cpu, 5)
    assert _core.masks_can_pay([1.0, 1.3, 1.6, 1.9, 2.2, 2.5], 5)  # 2 accepted tokens for 1.6x one: pays


def test_the_prompt_pass_gets_masks_only_while_they_are_nearly_free():
    gpu_like = [1.0] * 8 + [2.4] * 24  # flat within a kernel tile, a step at 9 tokens (H200 Q8_0 curve)
    assert _core.prompt_pass_masks(gpu_like, 40, 5) == 5
    assert _core.prompt_pass_masks(LINEAR, 40, 5) == 1  # one mask on 40 tokens: +2.5%
    assert _core.prompt_pass_masks(LINEAR, 10, 5) == 0  # +10%
    assert _core.prompt_pass_masks(gpu_like, 7, 5) == 1  # 8 tokens stay in the tile, 9 do not
    assert _core.prompt_pass_masks([], 40, 5) == 0


# -- the pass size of one-shape passes, chosen per generation ------------------------------------------------------
def _estimate_of_chains(conditionals: list[float], passes: int = 400) -> _core.AcceptanceEstimate:
    """An estimate fed passes whose mask j is accepted (after j-1 accepted) with probability conditionals[j-1]."""
    import random

    rng = random.Random(0)
    est = _core.AcceptanceEstimate(len(conditionals))
    for _ in range(passes):
        accepted = 0
        while accepted < len(conditionals) and rng.random() < conditionals[accepted]:
            accepted += 1
        est.record(len(conditionals), accepted)
    return est


def test_best_fixed_pass_follows_the_curve_and_the_acceptance():
    # Our model's acceptance (the H200 k_max=6 row's conditionals ~0.47-0.56): tokens a pass 1.69 at 4 tokens, 1.84
    # at 6. On a curve where the 6-token pass costs 1.95 against 1.66, the 4-token pass pays best; where the two
    # cost about the same, the 6-token one
    h200 = [1.22, 1.40, 1.60, 1.66, 1.85, 1.95] + [2.0 + 0.05 * n for n in range(26)]
    even = [1.22, 1.40, 1.60, 1.66, 1.67, 1.68] + [2.0 + 0.05 * n for n in range(26)]
    ours = _estimate_of_chains([0.47, 0.49, 0.51, 0.42, 0.56])
    assert _core.best_fixed_pass(h200, ours, 6) == 4
    assert _core.best_fixed_pass(even, ours, 6) == 6
    # near-free extra tokens and high acceptance: the largest pass; tokens that cost their full price: the smallest
    assert _core.best_fixed_pass(FLAT, _estimate_of_chains([0.95] * 5), 6) == 6
    assert _core.best_fixed_pass(LINEAR, _estimate_of_chains([0.95] * 5), 6) == 2
    assert _core.best_fixed_pass([], ours, 6) == 6  # no curve (no policy): k_max, as before


def test_best_fixed_pass_keeps_the_last_size_unless_another_is_clearly_faster():
    h200 = [1.22, 1.40, 1.60, 1.66, 1.85, 1.95] + [2.0 + 0.05 * n for n in range(26)]
    ours = _estimate_of_chains([0.47, 0.49, 0.51, 0.42, 0.56])
    margin = _core.PASS_CHANGE_MARGIN
    assert 0.0 < margin < 1.0
    # 4 is best here, 5 and 6 within a few percent of it: the last size stays
    assert _core.best_fixed_pass(h200, ours, 6, 6, margin) == 6
    assert _core.best_fixed_pass(h200, ours, 6, 5, margin) == 5
    # without a margin, or without a last size (or one outside 2..k_max), the best size as before
    assert _core.best_fixed_pass(h200, ours, 6, 6, 0.0) == 4
    assert _core.best_fixed_pass(h200, ours, 6, 0, margin) == 4
    assert _core.best_fixed_pass(h200, ours, 6, 9, margin) == 4
    # a clearly better size wins over the last one: high acceptance on a flat curve leaves 2-token passes
    assert _core.best_fixed_pass(FLAT, _estimate_of_chains([0.95] * 5), 6, 2, margin) == 6
    # and tokens at full price leave 6-token passes for 2-token ones
    assert _core.best_fixed_pass(LINEAR, _estimate_of_chains([0.95] * 5), 6, 6, margin) == 2


def test_fixed_pass_plain_decision_counts_the_passes_that_carry_no_masks():
    """A 2-token pass with every mask accepted alternates a pass of 1 pending + 1 mask (2 tokens) with one of 2
    pending and no mask (1 token): 1.5 tokens a pass, not 2. At 1.6x a plain pass's cost that does not pay."""
    sure = _estimate_of_chains([1.0] * 5)
    curve = [1.0, 1.6, 1.7] + [1.7 + 0.1 * n for n in range(29)]
    assert _core.choose_masks(curve, sure, 1, fixed_pass=2) == 0
    assert _core.choose_masks([1.0, 1.3, 1.5] + [1.5] * 29, sure, 1, fixed_pass=2) == 1  # 1.5 / 1.3 pays


def _probes_over(schedule, outcomes: list[int], passes: int) -> list[int]:
    """The masks of each of `passes` plain-decoding passes; a probe keeps outcomes.pop(0) of its masks (its outcome is
    recorded at once, as ConfAdapt's is)."""
    fed = []
    for _ in range(passes):
        masks = schedule.next_plain_pass()
        fed.append(masks)
        if masks:
            schedule.record(masks, min(masks, outcomes.pop(0)))
    return fed


def test_probes_come_every_interval_with_one_mask_while_they_are_rejected():
    fed = _probes_over(_core.ProbeSchedule(interval=4, most=5), [0] * 10, 12)
    assert fed == [0, 0, 0, 1] * 3


def test_a_probe_that_keeps_every_mask_is_followed_at_once_by_a_deeper_one_until_a_rejection():
    # kept 1 of 1, 2 of 2, 2 of 3 (rejected at the third): probes of 1, 2, 3 masks on consecutive passes, then the
    # interval again from one mask
    fed = _probes_over(_core.ProbeSchedule(interval=3, most=5), [1, 2, 2, 0], 9)
    assert fed == [0, 0, 1, 2, 3, 0, 0, 1, 0]
    # the run of probes stops at `most` masks (k_max - 1)
    fed = _probes_over(_core.ProbeSchedule(interval=2, most=3), [9] * 10, 6)
    assert fed == [0, 1, 2, 3, 0, 1]


def test_a_probe_whose_outcome_comes_a_pass_later_holds_the_next_probe_until_then():
    # verifying modes judge a probe's masks when the next pass verifies their proposals
    schedule = _core.ProbeSchedule(interval=2, most=4)
    assert [schedule.next_plain_pass() for _ in range(2)] == [0, 1]
    assert [schedule.next_plain_pass() for _ in range(3)] == [0, 0, 0]  # in flight: no new probe, no count
    schedule.record(1, 1)
    assert schedule.next_plain_pass() == 2
    schedule.record(0, 0)  # the context had no room for it: rejected
    assert [schedule.next_plain_pass() for _ in range(2)] == [0, 1]
    schedule.policy_chose_masks()  # the estimate recovered: the interval starts again
    assert [schedule.next_plain_pass() for _ in range(2)] == [0, 1]


def test_next_fixed_pass_waits_for_evidence_before_leaving_the_priors_size():
    h200 = [1.22, 1.40, 1.60, 1.66, 1.85, 1.95] + [2.0 + 0.05 * n for n in range(26)]
    prior_size = _core.best_fixed_pass(h200, _core.AcceptanceEstimate(5), 6)
    # three passes of an answer's opening where every mask held: the full estimate would pick the largest pass
    few = _core.AcceptanceEstimate(5)
    for _ in range(3):
        few.record(5, 5)
    assert few.tries(1) < _core.PASS_RESIZE_EVIDENCE
    assert _core.best_fixed_pass(h200, few, 6) == 6
    assert _core.next_fixed_pass(h200, few, 6) == prior_size == 4
    assert _core.next_fixed_pass(h200, few, 6, 5) == 5  # nor does it move a size that earlier answers chose
    # on enough passes of the same, the size moves to the clearly better one
    many = _estimate_of_chains([0.97] * 5, passes=200)
    assert many.tries(1) >= _core.PASS_RESIZE_EVIDENCE
    assert _core.next_fixed_pass(FLAT, many, 6, 4) == 6


def test_the_margin_holds_the_priors_size_against_one_easy_answer():
    """Session 18: the first answer with enough passes picked 6-token passes alone (an easy one) and the margin kept
    them for the 23 chat answers after it, where 4-token passes were best. The prior's size is held like any other."""
    h200 = [1.088, 1.249, 1.318, 1.364, 1.495, 1.529, 1.583, 1.626] + [3.1 + 0.02 * n for n in range(24)]  # keyed
    prior_size = _core.next_fixed_pass(h200, _core.AcceptanceEstimate(5), 6)
    assert prior_size == 4
    easy = _estimate_of_chains([0.8] * 5, passes=60)  # one answer where most masks held
    assert easy.tries(1) >= _core.PASS_RESIZE_EVIDENCE
    assert _core.best_fixed_pass(h200, easy, 6) == 6  # alone it would move...
    assert _core.next_fixed_pass(h200, easy, 6, prior_size) == prior_size  # ...but not by the margin
    nearly_all = _estimate_of_chains([0.95] * 5, passes=60)
    assert _core.next_fixed_pass(h200, nearly_all, 6, prior_size) == 6  # clearly better: it moves


# An H200's calibrated curve (session 19, chat bench, keyed CUDA graphs): under the prior 5-token passes come out a
# hair ahead of 4-token ones; in the loop 4 was 7% faster a token on chat.
H200_S19 = [1.087, 1.287, 1.319, 1.362, 1.443, 1.524, 1.571, 1.618] + [3.2 + 0.02 * n for n in range(24)]


def test_the_priors_near_ties_go_to_the_smaller_pass():
    assert _core.prior_fixed_pass(H200_S19, 6, 0.0) == 5  # the prior's best, by a fraction of a percent
    assert _core.prior_fixed_pass(H200_S19, 6) == 4  # within PRIOR_TIE_MARGIN: the smaller one
    assert _core.next_fixed_pass(H200_S19, _core.AcceptanceEstimate(5), 6) == 4
    assert _core.next_fixed_pass(H200_S19, _core.AcceptanceEstimate(5), 6, 0, 0.0) == 5  # verifying modes: no tie
    # only near ties move: on a flat curve the prior's passes stay large (the 6th token adds 0.5^5 of a token, a
    # tie with 5), on a linear one the smallest wins outright
    assert _core.prior_fixed_pass(FLAT, 6, 0.0) == 6 and _core.prior_fixed_pass(FLAT, 6) == 5
    assert _core.prior_fixed_pass(LINEAR, 6) == 2
    # the tie only picks the prior's size: evidence moves it by the margin as before
    nearly_all = _estimate_of_chains([0.95] * 5, passes=60)
    assert _core.next_fixed_pass(H200_S19, nearly_all, 6, 4) == 6
