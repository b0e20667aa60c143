"""benchmarks/replay_guard.py on the H200 traces of sessions 7-10: auto's policy parts replayed on a GPU's real
passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "docs" / "results" / "traces"


def _replay():
    return load_benchmark("replay_guard")


@pytest.mark.parametrize("session", ["s7", "s8", "s9", "r128_s9", "s10"])
@pytest.mark.parametrize("prompts", ["gsm8k", "chat"])
def test_replay_of_the_h200_traces(tmp_path, prompts, session, capsys):
    """The shipped model's Q8_0 on sessions 7-10's H200 traces, and run 9's rank-128 model on session 9's."""
    out = tmp_path / "replay.json"
    model, session = ("r128_q8_0", session[5:]) if session.startswith("r128_") else ("q8_0", session)
    trace = TRACES / f"trace_gpu_h200_{model}_{prompts}_{session}.jsonl.gz"
    module = _replay()
    assert module.main([str(trace), "--json", str(out)]) == 0
    assert "auto, guard (smoothed yield)" in capsys.readouterr().out
    report = json.loads(out.read_text())
    policies = report["policies"]
    assert report["switch_s"] > 3e-3 and report["start_s"] > 3e-3  # CUDA: a new pass shape's first two passes
    best_fixed = max(r["tok_s"] for name, r in policies.items() if name.startswith("always"))
    main = policies[module.MAIN]
    # what auto does now keeps within 5% of the best single policy in hindsight (issue 5's target on this trace)
    assert main["tok_s"] >= 0.95 * best_fixed
    if prompts == "gsm8k":  # masks pay throughout
        # session 7's auto timed each generation's first passes and ran plain a fifth to a half of the time
        if model == "q8_0":
            assert policies["auto, smoothed guard, best size"]["plain_share"] > 0.15
        assert main["plain_share"] < 0.05
        if session in ("s7", "s8"):  # on later traces both lose ~half the passes to the timed generation start
            assert policies["auto, guard (smoothed yield)"]["plain_share"] < policies[
                "auto, guard judging one window"]["plain_share"]
    else:  # masks about break even: each stretch of plain passes that session 8's auto chose cost two changes
        assert main["tok_s"] > policies["auto, + switches priced"]["tok_s"]


def test_replay_names_what_a_trace_lacks(tmp_path):
    bad = tmp_path / "t.jsonl"
    bad.write_text(json.dumps({"mode": "auto", "prompt": 0, "repeat": 0, "passes": []}) + "\n")
    with pytest.raises(SystemExit, match="needs the 'mtp-edge k_max=1' row"):
        _replay().main([str(bad)])


@pytest.mark.parametrize("name", ["q8_0_gsm8k", "q8_0_chat", "r128_q8_0_gsm8k", "r128_q8_0_chat"])
def test_replay_reproduces_the_session_9_bench(tmp_path, name, capsys):
    """Session 9's H200 bench ran auto with no memory across generations (the decoder's rule store was full of the
    untimed tracked runs' rules): the replay of that (`forget`) lands within 5% of what was measured, so its other
    rows are figures to trust."""
    out = tmp_path / "replay.json"
    assert _replay().main([str(TRACES / f"trace_gpu_h200_{name}_s9.jsonl.gz"), "--json", str(out)]) == 0
    policies = json.loads(out.read_text())["policies"]
    bench = {r["label"]: r for r in json.loads((TRACES.parent / f"bench_gpu_h200_{name}_s9.json").read_text())["rows"]}
    measured = bench["auto"]["decode_tps"] / bench["mtp-edge k_max=1"]["decode_tps"]
    replayed = policies["auto as above, memory lost each generation"]["tok_s"] / policies["always plain"]["tok_s"]
    assert abs(replayed - measured) < 0.05 * measured, (replayed, measured)


@pytest.mark.parametrize("prompts", ["gsm8k", "chat"])
def test_replay_of_main_reproduces_the_session_10_bench(tmp_path, prompts):
    """Session 10's H200 bench ran main's auto (memory kept): the replay of main on its own trace lands within 5% of
    the measured row, relative to k_max = 1 (measured 1.257 / replayed 1.225 on GSM8K, 0.998 / 1.012 on chat)."""
    out = tmp_path / "replay.json"
    module = _replay()
    assert module.main([str(TRACES / f"trace_gpu_h200_q8_0_{prompts}_s10.jsonl.gz"), "--json", str(out)]) == 0
    policies = json.loads(out.read_text())["policies"]
    bench_json = TRACES.parent / f"bench_gpu_h200_q8_0_{prompts}_s10.json"
    bench = {r["label"]: r for r in json.loads(bench_json.read_text())["rows"]}
    measured = bench["auto"]["decode_tps"] / bench["mtp-edge k_max=1"]["decode_tps"]
    replayed = policies[module.MAIN]["tok_s"] / policies["always plain"]["tok_s"]
    assert abs(replayed - measured) < 0.05 * measured, (replayed, measured)
    fixed = [r for r in bench.values() if r["mode"] == "confadapt" and "varying" not in r["label"]]  # k_max=1 too
    best_fixed = max(r["decode_tps"] for r in fixed)
    assert bench["auto"]["decode_tps"] >= 0.95 * best_fixed  # issue 5's target, as measured


@pytest.mark.parametrize("name", ["gsm8k_fa_s14", "chat_fa_s14", "gsm8k_fa_keyed_s16", "chat_fa_keyed_s16",
                                  "chat_rerun_fa_keyed_s16", "chat_fa_keyed_s16b"])
def test_replay_of_the_flash_attention_traces_by_the_bench_figure(tmp_path, name):
    """Sessions 14 and 16's H200 traces with flash attention (16: llama.cpp with one CUDA graph per pass size),
    judged as the bench judges (the median over prompts of each prompt's speedup). Session 14's auto chose 6-token
    passes after a winning answer and 2-token ones for nine answers after a poor one (92% of the best fixed row on
    chat); session 16's kept the size unless another was clearly faster, and the 8-token warm-up run had already
    picked 6 (82-83% on chat keyed, which the replay reproduces); main leaves the prior's size only on enough passes
    and is within 5% of the best fixed row on all of them, but one: session 14's chat on llama.cpp as released, where
    a change of shape costs 9.5 ms and the guard's margin for masks (session 18) keeps them through a poor stretch
    (92.5%; priced at 0, as with one graph per pass size, 102.6%). With changes of shape priced at 0 every row's
    figure changes, and the replay says so."""
    module = _replay()
    prompts = name.split("_")[0]
    trace = str(TRACES / f"trace_gpu_h200_q8_0_{name}.jsonl.gz")
    out, free = tmp_path / "replay.json", tmp_path / "free.json"
    assert module.main([trace, "--json", str(out)]) == 0
    policies = json.loads(out.read_text())["policies"]
    best_fixed = max(r["median_speedup"] for name, r in policies.items() if name.startswith("always"))
    floor = 0.9 if name == "chat_fa_s14" else 0.95
    assert policies[module.MAIN]["median_speedup"] >= floor * best_fixed
    if prompts == "chat":
        assert policies["auto, + passes filled, masks judged on 12 windows"]["median_speedup"] < 0.95 * best_fixed
        # a few early passes under the same rule (an 8-token run) sway the margin alone, not main
        early = tmp_path / "early.json"
        assert module.main([trace, "--warmup-tokens", "8", "--json", str(early)]) == 0
        swayed = json.loads(early.read_text())["policies"]
        assert swayed["auto, + pass size kept unless clearly beaten"]["median_speedup"] < 0.95 * best_fixed
        assert swayed[module.MAIN]["median_speedup"] >= floor * best_fixed
    assert module.main([trace, "--switch-ms", "0", "--start-ms", "0", "--json", str(free)]) == 0
    report = json.loads(free.read_text())
    assert report["switch_s"] == 0.0 and report["start_s"] == 0.0
    free_best = max(r["median_speedup"] for name, r in report["policies"].items() if name.startswith("always"))
    assert report["policies"][module.MAIN]["median_speedup"] >= 0.95 * free_best
    assert report["policies"]["always plain"]["tok_s"] > policies["always plain"]["tok_s"]  # no start to pay


def test_replay_all_traces_judges_main_on_every_trace_given(tmp_path, capsys):
    module = load_benchmark("replay_all_traces")
    names = ["trace_gpu_h200_q8_0_chat_fa_keyed_s16.jsonl.gz", "trace_gpu_h200_q8_0_gsm8k_s10.jsonl.gz"]
    out = tmp_path / "all.json"
    assert module.main([str(TRACES / n) for n in names] + ["--json", str(out)]) == 0
    assert "below 95% of the best fixed row on 0 of 2" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) == set(names)
    chat = report[names[0]]
    # the size rule before session 16 lost 15% of the best fixed row on this chat trace; main does not
    assert chat["as traced"]["before_s16"] < 0.9 * chat["as traced"]["best_fixed"] <= chat["as traced"]["main"]
    assert chat["switches free"]["best_fixed"] >= chat["as traced"]["best_fixed"] * 0.99


def test_the_calibrated_replay_decides_by_the_benchs_curve_and_prices_every_size(monkeypatch):
    """Session 19: replayed by the loop's own costs, with a size the sweep lacked run as the next smaller row, auto
    made 100.8% of k_max = 4 on this H200 chat trace, where the bench measured 81%. The bench's calibrated curve
    (its JSON beside traces/) and a row for every size put the replay back where the bench was."""
    rg = _replay()
    trace = str(TRACES / "trace_gpu_h200_q8_0_chat_fa_keyed_s19.jsonl.gz")
    bench = json.loads((TRACES.parent / "bench_gpu_h200_q8_0_chat_fa_keyed_s19.json").read_text())
    assert rg.calibrated_curve(trace) == pytest.approx([c * 1e-3 for c in bench["pass_cost_ms"]])
    rows = rg.load_rows(trace)
    sizes = rg.fixed_rows(rows)
    assert sorted(sizes) == [4, 6]
    costs = rg.loop_costs(rows, sizes)
    every = rg.with_every_size(sizes, costs)
    assert sorted(every) == [2, 3, 4, 5, 6]
    assert costs.pass_s_by_size[4] < costs.pass_s_by_size[5] < costs.pass_s_by_size[6]
    for n in (2, 3, 5):  # cut from the next larger row: no pass emits more than its size leaves room for
        assert all(p["fed"] == n and p["emitted"] <= 1 + p["masks"] for g in every[n] for p in g)
    module = load_benchmark("replay_all_traces")
    judged = module.judge(trace, module.PRICINGS["calibrated"])
    loop = module.judge(trace, module.PRICINGS["switches free"])
    assert judged["best_fixed"] == pytest.approx(loop["best_fixed"])  # the best fixed row is the measured one
    assert loop["main"] >= 0.95 * loop["best_fixed"]  # what the loop-cost replay said of session 18's rule too
    assert judged["main"] >= 0.9 * judged["best_fixed"]
    # session 18's rule (the prior's best size however near the tie) lost 16% here, as the bench measured
    from mtp_edge import _core

    real = _core.next_fixed_pass
    monkeypatch.setattr(_core, "next_fixed_pass", lambda cost, est, k_max, current: real(cost, est, k_max, current, 0.0))
    session_18 = module.judge(trace, module.PRICINGS["calibrated"])
    assert session_18["main"] < 0.87 * session_18["best_fixed"] < judged["main"]


def test_the_per_answer_rule_replay_keeps_main_exact_and_shows_both_sides():
    """benchmarks/replay_answer_rule.py (session 22): its rule-free variant is main exactly as replay_all_traces
    judges it, and the rule helps the H100 chat trace (masks paid on half its answers) while it loses on an H200
    chat trace whose answers open poorly and pay later: why it was not adopted."""
    module = load_benchmark("replay_answer_rule")
    everything = load_benchmark("replay_all_traces")
    variants = {"main": (0, 0.0), "rule": (32, 0.03)}
    h100 = str(TRACES / "trace_gpu_h100_q8_0_chat_fa_keyed_s22.jsonl.gz")
    h200 = str(TRACES / "trace_gpu_h200_q8_0_chat_fa_keyed_s16.jsonl.gz")
    for trace in (h100, h200):
        shares = module.judge(trace, everything.PRICINGS["calibrated"], variants)
        judged = everything.judge(trace, everything.PRICINGS["calibrated"])
        assert shares["main"] == pytest.approx(judged["main"] / judged["best_fixed"])
        if trace == h100:
            assert shares["rule"] > shares["main"] + 0.02
        else:
            assert shares["rule"] < shares["main"] - 0.1
