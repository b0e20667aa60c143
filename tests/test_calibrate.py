"""Pass-cost calibration: the cache (keys, invalidation, atomic writes), measuring on the real model, `auto`."""

from __future__ import annotations

import json
import os

import pytest

from conftest import PROMPTS
from mtp_edge import calibrate
from mtp_edge.calibrate import CostCurve

LINEAR_MS = [10.0 * n for n in range(1, 33)]  # every token costs as much as the first: masks never pay
FLAT_MS = [10.0 + 0.01 * n for n in range(32)]  # extra tokens nearly free


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MTP_EDGE_CACHE", str(tmp_path / "cache"))


def _curve(key: dict, ms: list[float]) -> CostCurve:
    return CostCurve(key, list(range(1, len(ms) + 1)), {64: list(ms)}, repeats=1, quick=True)


def _key(path) -> dict:
    return calibrate.curve_key(path, "CPU", 2, 2, 0)


def test_cache_round_trip_and_invalidation_when_the_model_file_changes(tmp_path):
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF" + b"\0" * 100)
    key = _key(model_file)
    path = calibrate.save_curve(_curve(key, LINEAR_MS))
    assert path.parent.parent == tmp_path / "cache"
    assert calibrate.load_curve(key).pass_cost() == pytest.approx(LINEAR_MS)
    assert calibrate.load_curve(calibrate.curve_key(model_file, "CPU", 4, 4, 0)) is None  # other threads

    model_file.write_bytes(b"GGUF" + b"\1" * 120)  # the model was rewritten (size and mtime change)
    os.utime(model_file, ns=(1, 1))
    new_key = _key(model_file)
    assert new_key != key
    assert calibrate.load_curve(new_key) is None  # stale curve ignored
    assert calibrate.cache_path(new_key) == path  # ... and overwritten in place, not left to pile up
    calibrate.save_curve(_curve(new_key, FLAT_MS))
    assert calibrate.load_curve(new_key).pass_cost() == pytest.approx(FLAT_MS)
    assert calibrate.load_curve(key) is None


def test_a_failed_write_leaves_the_old_curve_and_no_temp_file(tmp_path, monkeypatch):
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF")
    key = _key(model_file)
    path = calibrate.save_curve(_curve(key, LINEAR_MS))
    before = path.read_bytes()

    def dump_half_then_fail(obj, f, **kwargs):
        f.write(json.dumps(obj)[:20])
        raise OSError("disk full")

    monkeypatch.setattr(calibrate.json, "dump", dump_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        calibrate.save_curve(_curve(key, FLAT_MS))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_corrupt_cache_file_reads_as_missing(tmp_path):
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF")
    key = _key(model_file)
    path = calibrate.cache_path(key)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "key": ')
    assert calibrate.load_curve(key) is None


def test_interpolation_between_measured_sizes_and_past_the_end():
    values = calibrate.interpolate([1, 2, 4], [10.0, 12.0, 20.0], 6)
    assert values == pytest.approx([10.0, 12.0, 16.0, 20.0, 24.0, 28.0])


def test_policy_curve_lifts_noise_dips():
    curve = CostCurve({}, [1, 2, 4, 8], {64: [10.0, 14.0, 12.0, 30.0]}, repeats=1, quick=True)
    cost = curve.pass_cost()
    assert len(cost) == 32 and cost[:4] == pytest.approx([10.0, 14.0, 14.0, 14.0])
    assert all(a <= b for a, b in zip(cost, cost[1:]))


def test_measuring_the_real_model_leaves_its_cache_consistent(model):
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": PROMPTS[1]}]))
    before = model.generate(prompt, 12, k_max=1).tokens
    curve = calibrate.measure_curve(model, sizes=(1, 2, 4, 8), depths=(32, 96), repeats=1)
    assert curve.sizes == [1, 2, 4, 8] and curve.depths == [32, 96]
    assert all(ms > 0 for ms in curve.cost_ms[32] + curve.cost_ms[96])
    assert curve.key == calibrate.model_key(model) and curve.key["backend"] == "CPU"
    assert model.generate(prompt, 12, k_max=1).tokens == before  # the KV the passes left is gone


@pytest.fixture()
def measured_curve(model):
    """A real (coarse) curve of this machine, cached where `auto` looks for it."""
    curve = calibrate.measure_curve(model, sizes=(1, 2, 4, 8, 32), depths=(64,), repeats=3)
    calibrate.save_curve(curve)
    model._cost_curve = None
    return curve


def test_auto_falls_back_to_plain_decoding_on_an_untrained_model(model, measured_curve):
    """The stand-in mask predicts junk: a mask almost never passes tau 0.9, so auto decodes plainly."""
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": PROMPTS[2]}]))
    assert model.default_k_max == "auto"  # a model with a mask token defaults to auto
    result = model.generate(prompt, 48)
    plain = model.generate(prompt, 48, k_max=1)
    masks_hist = result.stats.masks_hist
    decode_passes = result.stats.passes - 1
    assert masks_hist[0] >= 0.9 * decode_passes, masks_hist
    assert result.stats.eff_k < 1.15 and result.stats.decode_tps > 0
    # ConfAdapt may keep a junk mask token the model is sure of, so the text may differ; the start may not
    assert result.tokens[0] == plain.tokens[0]
    assert model._cost_curve.key == measured_curve.key  # the cached curve was used, not a new calibration


def test_auto_appends_masks_when_they_pay(model):
    """A flat cost curve and a tau every row passes: the policy appends many masks."""
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": PROMPTS[0]}]))
    result = model.generate(prompt, 80, k_max="auto", tau=1e-6, pass_cost=FLAT_MS, mode="static", trace=True)
    hist = result.stats.masks_hist
    assert sum(n for m, n in enumerate(hist) if m >= 8) >= 0.8 * (result.stats.passes - 1), hist
    assert result.stats.trace[0]["prefill"] and result.stats.trace[0]["masks"] > 0  # the prompt's samples acceptance
    # On a linear curve a pass of a accepted tokens + m masks costs a + m: masks never pay, even all accepted, so
    # no pass gets any: not the prompt's (+11-15% of its time on a CPU), not a probe.
    linear = model.generate(prompt, 40, k_max="auto", tau=1e-6, pass_cost=LINEAR_MS, mode="static")
    assert linear.stats.masks_hist == [linear.stats.passes], linear.stats.masks_hist


def _switch_cost_from_trace(trace: list[dict], before: float) -> float:
    """What the decoder should make of a trace: per change of pass size, its first two passes less twice the third,
    averaged (weight 0.25 for the newest) onto the value `before` from earlier generations."""
    value, last, seen, spent = before, 0, 0, 0.0
    for p in trace:
        ms = p["seconds"] * 1e3
        if not p["prefill"]:
            if p["fed"] != last:
                seen, spent = 1, ms
            elif seen:
                seen += 1
                if seen < 3:
                    spent += ms
                else:
                    seen, value = 0, 0.75 * value + 0.25 * max(0.0, spent - 2 * ms)
        last = p["fed"]
    return value


def test_auto_measures_what_a_change_of_pass_size_costs(model):
    """CUDA pays ~9 ms for a new pass shape (two passes without the graph); the decoder measures it on its own
    passes. On this CPU it is small, and what it reports is what its trace says."""
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": PROMPTS[0]}]))
    options = dict(k_max="auto", tau=1e-6, pass_cost=FLAT_MS, mode="static", fixed_shape=True)
    first = model.generate(prompt, 24, **options)  # the prompt's pass -> decode passes: one change, measured
    again = model.generate(prompt, 24, trace=True, **options)
    assert again.stats.shape_switch_ms == pytest.approx(
        _switch_cost_from_trace(again.stats.trace, first.stats.shape_switch_ms), rel=1e-6, abs=1e-9)
    assert 0.0 <= again.stats.shape_switch_ms < 1e3 * again.stats.decode_s


def test_one_shape_auto_fills_every_pass_while_the_guard_allows_masks(model):
    """One-shape passes cost the same with any number of masks, and a plain pass between two of them is two changes
    of shape (~9 ms each on an H200): auto fills each pass and leaves plain passes to the guard. Here masks would pay
    only at ~1.3 tokens a pass and tau 0.999 keeps few: choosing per pass, auto went plain within a few passes."""
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": PROMPTS[1]}]))
    gentle = [1.0 + 0.03 * n for n in range(32)]  # ms for a pass of n + 1 tokens: 12 tokens cost 1.33x one
    result = model.generate(prompt, 40, k_max="auto", tau=0.999, pass_cost=gentle, fixed_shape=True, trace=True)
    decode = [p for p in result.stats.trace if not p["prefill"]]
    assert len(decode) > 16 and all(p["guard_masks"] for p in decode)  # within the guard's first windows
    sizes = {p["fed"] for p in decode}
    assert len(sizes) == 1 and sizes.pop() >= 2, sizes
    assert result.stats.eff_k < 1.3  # what the per-pass policy would have seen: masks that did not pay


def test_calibrate_cli_writes_the_cache_and_prints_json(smollm2_path, capsys):
    from mtp_edge.cli import main

    assert main(["calibrate", "-m", str(smollm2_path), "--threads", "2", "--quick", "--repeats", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    key = printed["key"]
    assert key["threads"] == 2 and printed["quick"] is True and printed["sizes"][0] == 1
    assert calibrate.load_curve(key) is not None


def test_generate_cli_accepts_k_max_auto(smollm2_path, capsys):
    from mtp_edge.cli import main

    assert main(["generate", "-m", str(smollm2_path), "--threads", "2", "-p", "Hi", "-n", "3", "--k-max", "auto",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passes"] >= 1
    assert main(["generate", "-m", str(smollm2_path), "-p", "Hi", "--k-max", "fast"]) == 1
    assert "'auto'" in capsys.readouterr().err


def test_each_attention_kernel_keeps_its_own_curve(tmp_path):
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF" + b"\0" * 100)
    plain_key = _key(model_file)
    fused_key = calibrate.curve_key(model_file, "CPU", 2, 2, 0, flash_attn=True)
    assert plain_key != fused_key and calibrate.cache_path(plain_key) != calibrate.cache_path(fused_key)
    calibrate.save_curve(_curve(plain_key, LINEAR_MS))
    assert calibrate.load_curve(fused_key) is None  # a curve of the other kernel is not this one's
    calibrate.save_curve(_curve(fused_key, FLAT_MS))
    assert calibrate.load_curve(plain_key).pass_cost() == pytest.approx(LINEAR_MS)
    assert calibrate.load_curve(fused_key).pass_cost() == pytest.approx(FLAT_MS)


def test_a_model_opened_with_flash_attention_is_keyed_by_it(smollm2_path):
    from conftest import STAND_IN_MASK_ID, THREADS
    from mtp_edge import MTPModel

    m = MTPModel(smollm2_path, n_ctx=512, n_threads=THREADS, mask_token_id=STAND_IN_MASK_ID, flash_attn=True)
    try:
        assert calibrate.model_key(m)["flash_attn"] is True
        prompt = m.tokenize(m.format_chat([{"role": "user", "content": PROMPTS[1]}]))
        assert len(m.generate(prompt, 8, k_max=3, tau=0.5).tokens) == 8
    finally:
        m.close()


def test_the_switch_cost_is_measured_on_the_real_model_and_kept_with_the_curve(model):
    prompt = model.tokenize(model.format_chat([{"role": "user", "content": PROMPTS[1]}]))
    before = model.generate(prompt, 12, k_max=1).tokens
    switch = calibrate.measure_switch_cost(model, n=3, depth=32, rounds=2)
    assert isinstance(switch, float)
    assert model.generate(prompt, 12, k_max=1).tokens == before  # the KV its passes left is gone
    curve = CostCurve({"backend": "CPU"}, [1, 2], {64: [10.0, 12.0]}, repeats=1, quick=False, switch_ms=switch)
    assert CostCurve.from_json(json.loads(json.dumps(curve.to_json()))).switch_ms == pytest.approx(switch)
    old = curve.to_json()
    del old["switch_ms"]  # a curve cached before the field existed still loads
    assert CostCurve.from_json(old).switch_ms is None


def test_calibrate_reports_the_switch_cost_and_on_cuda_how_to_cut_it():
    from mtp_edge.cli.calibrate import switch_report

    cpu = CostCurve({"backend": "CPU"}, [1, 2], {64: [10.0, 19.0]}, repeats=1, quick=False, switch_ms=0.3)
    assert switch_report(cpu) == ["a change of pass size (1 <-> 4 tokens) adds 0.30 ms"]
    cuda = CostCurve({"backend": "CUDA"}, [1, 2], {64: [1.1, 1.3]}, repeats=1, quick=False, switch_ms=9.4)
    lines = switch_report(cuda)
    assert len(lines) == 2 and "build_llama_cpp_cuda.sh" in lines[1]
    cheap = CostCurve({"backend": "CUDA"}, [1, 2], {64: [1.1, 1.3]}, repeats=1, quick=False, switch_ms=1.0)
    assert len(switch_report(cheap)) == 1  # one graph per size already: nothing to suggest
    assert switch_report(CostCurve({"backend": "CUDA"}, [1], {64: [1.1]}, repeats=1, quick=True)) == []


def test_each_round_times_sizes_largest_first_after_passes_of_their_own_size(model, monkeypatch):
    """Plain decoding is a steady run of one-token passes: the timed one-token pass must not follow big passes."""
    fed: list[int] = []
    real_decode = calibrate._decode

    def recording_decode(ctx, batch, tokens, pos, outputs):
        fed.append(len(tokens))
        return real_decode(ctx, batch, tokens, pos, outputs)

    monkeypatch.setattr(calibrate, "_decode", recording_decode)
    calibrate.measure_curve(model, sizes=(1, 2, 8), depths=(16,), repeats=2)
    block = calibrate.WARM_PASSES + calibrate.TIMED_PASSES
    timed = fed[-2 * 3 * block:]  # after the context fill: 2 rounds x 3 sizes
    assert timed == ([8] * block + [2] * block + [1] * block) * 2


def test_each_kernel_setting_of_the_environment_keeps_its_own_curve(tmp_path, monkeypatch):
    for name in calibrate.KERNEL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    model_file = tmp_path / "m.gguf"
    model_file.write_bytes(b"GGUF" + b"\0" * 100)
    release = _key(model_file)
    assert "kernel_env" not in release  # no setting: the key (and file) of curves saved before settings were keyed
    calibrate.save_curve(_curve(release, LINEAR_MS))
    monkeypatch.setenv("MTP_EDGE_MMVQ_FUSION_MAX_COLS", "8")
    capped = _key(model_file)
    assert capped["kernel_env"] == {"MTP_EDGE_MMVQ_FUSION_MAX_COLS": "8"}
    assert calibrate.cache_path(capped) != calibrate.cache_path(release)
    assert calibrate.load_curve(capped) is None  # the curve of another fusion cap is not this one's
    calibrate.save_curve(_curve(capped, FLAT_MS))
    monkeypatch.setenv("MTP_EDGE_MMVQ_FUSION_MAX_COLS", "")  # set but empty counts as unset
    assert calibrate.load_curve(_key(model_file)).pass_cost() == pytest.approx(LINEAR_MS)
