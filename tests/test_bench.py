"""`mtp-edge bench` end to end on the real small model, plus its prompt loading and answer checking."""

from __future__ import annotations

import json

import pytest

from conftest import STAND_IN_MASK_ID
from mtp_edge import bench
from mtp_edge.answers import extract_number, is_correct
from mtp_edge.cli import main

ROW_KEYS = {"mode", "k_max", "tau", "eff_k", "decode_tps", "speedup", "agreement", "accuracy", "label"}


def test_bench_runs_end_to_end_with_json_and_plot(smollm2_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTP_EDGE_CACHE", str(tmp_path / "cache"))
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    rc = main(["bench", "-m", str(smollm2_path), "--mask-token-id", str(STAND_IN_MASK_ID), "--prompts", "gsm8k",
               "--n-prompts", "2", "--max-tokens", "6", "--repeats", "1", "--threads", "2", "--k-sweep", "2,3",
               "--tau-sweep", "0.6", "--lookup", "2", "--compare-shapes", "--compare-rows", "--json", str(out),
               "--plot", str(png), "--trace", str(tmp_path / "trace.jsonl")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "speedup" in printed and "prompt lookup 2" in printed
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert result["prompts_done"] == 2 and result["complete"] is True
    assert result["settings"]["flash_attn"] is False  # the default on a CPU
    assert result["settings"]["device_rows"] is False  # ... and so are host rows
    assert all(ROW_KEYS <= set(r) for r in rows)
    by_label = {r["label"]: r for r in rows}
    fixed = {label for label in by_label if label.endswith(" fixed shape")}  # --compare-shapes on a CPU
    assert {"k_max=3 fixed shape", "auto fixed shape", "lossless auto fixed shape"} <= fixed
    device = {label for label in by_label if label.endswith(" device rows")}  # --compare-rows on a CPU
    assert device == {"mtp-edge k_max=1 device rows", "auto device rows", "confadapt_verify auto device rows"}
    assert set(by_label) - fixed - device == {"plain (llama-cpp-python)", "prompt lookup 2", "mtp-edge k_max=1", "k_max=2",
                                     "k_max=3", "auto tau=0.6", "auto", "lossless auto", "confadapt_verify auto",
                                     "confadapt_verify auto, no lookup"}
    assert {r["mode"] for r in rows} == {"plain", "prompt_lookup", "confadapt", "auto", "lossless", "confadapt_verify"}
    assert by_label["plain (llama-cpp-python)"]["speedup"] == pytest.approx(1.0)
    assert by_label["k_max=3"]["k_max"] == 3 and by_label["auto"]["k_max"] == "auto"
    # auto rows report what the decoder measured a change of pass size to cost (~9 ms on an H200, ~0 here)
    assert by_label["auto"]["shape_switch_ms"] >= 0.0 and by_label["k_max=3"]["shape_switch_ms"] is None
    for r in rows:
        assert r["decode_tps"] > 0 and r["eff_k"] >= 1.0 and r["prompts"] == 2 and r["ms_per_pass"] > 0
        assert r["accuracy"] is not None  # GSM8K prompts carry answers
    # k_max = 1 through mtp-edge decodes exactly what llama-cpp-python decodes
    assert by_label["mtp-edge k_max=1"]["same_text_as_plain"] == 2
    assert by_label["mtp-edge k_max=1 device rows"]["same_text_as_plain"] == 2
    assert len(result["pass_cost_ms"]) == 32
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --trace: one line per timed MTP run (2 prompts x 1 repeat), every pass timed, the prompt's pass first
    traces = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    mtp_labels = {r["label"] for r in rows if r["mode"] not in ("plain", "prompt_lookup")}
    assert sorted(t["mode"] for t in traces) == sorted(list(mtp_labels) * 2)
    for t in traces:
        passes = t["passes"]
        assert passes[0]["prefill"] and not any(p["prefill"] for p in passes[1:])
        assert all(p["seconds"] > 0 and p["fed"] >= 1 for p in passes)
        # the prompt (cached by the first pass) + every emitted token = what is cached or waiting at the end
        assert passes[-1]["cached"] + passes[-1]["pending"] == passes[0]["cached"] + sum(p["emitted"] for p in passes)
    assert not list(tmp_path.glob("*.tmp"))


def test_bench_stopped_after_a_prompt_leaves_that_prompts_rows(smollm2_path, tmp_path, monkeypatch, capsys):
    """Ctrl-C (or a lost machine) after prompt 1 of 3: the JSON and the trace hold what prompt 1 measured."""
    monkeypatch.setenv("MTP_EDGE_CACHE", str(tmp_path / "cache"))
    real_bench = bench.bench

    def stopped_after_first_prompt(*args, on_prompt_done=None, **kwargs):
        def done_then_interrupt(rows, n):
            on_prompt_done(rows, n)
            raise KeyboardInterrupt
        return real_bench(*args, on_prompt_done=done_then_interrupt, **kwargs)

    monkeypatch.setattr(bench, "bench", stopped_after_first_prompt)
    out, trace = tmp_path / "bench.json", tmp_path / "trace.jsonl"
    rc = main(["bench", "-m", str(smollm2_path), "--mask-token-id", str(STAND_IN_MASK_ID), "--prompts", "gsm8k",
               "--n-prompts", "3", "--max-tokens", "6", "--repeats", "1", "--threads", "2", "--k-sweep", "2",
               "--tau-sweep", "", "--lookup", "2", "--json", str(out), "--trace", str(trace)])
    assert rc == 130
    captured = capsys.readouterr()
    assert "stopped after 1 of 3 prompts" in captured.err and "k_max=2" in captured.out
    result = json.loads(out.read_text())
    assert result["prompts_done"] == 1 and result["complete"] is False
    assert {r["prompts"] for r in result["rows"]} == {1}
    assert all(r["decode_tps"] > 0 for r in result["rows"])
    assert {json.loads(line)["prompt"] for line in trace.read_text().splitlines()} == {0}
    assert not list(tmp_path.glob("*.tmp"))


def test_bench_with_flash_attention_opens_every_engine_with_it(smollm2_path, tmp_path, monkeypatch):
    """--flash-attn reaches plain llama-cpp-python and prompt lookup too, so every row compares like with like."""
    from mtp_edge.calibrate import flash_attn_on
    from mtp_edge.model import MTPModel

    monkeypatch.setenv("MTP_EDGE_CACHE", str(tmp_path / "cache"))
    opened = []
    real_open = bench.open_engines

    def recording_open(*args, **kwargs):
        engines = real_open(*args, **kwargs)
        opened.append([engines.model.llama, engines.plain, *engines.lookup.values()])
        return engines

    monkeypatch.setattr(bench, "open_engines", recording_open)
    out = tmp_path / "bench.json"
    rc = main(["bench", "-m", str(smollm2_path), "--mask-token-id", str(STAND_IN_MASK_ID), "--prompts", "gsm8k",
               "--n-prompts", "1", "--max-tokens", "6", "--repeats", "1", "--threads", "2", "--k-sweep", "",
               "--tau-sweep", "", "--lookup", "2", "--flash-attn", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["settings"]["flash_attn"] is True
    assert opened and all(flash_attn_on(llm) for llm in opened[0]) and len(opened[0]) == 3
    by_label = {r["label"]: r for r in result["rows"]}
    assert by_label["mtp-edge k_max=1"]["same_text_as_plain"] == 1  # the same kernel on both sides
    default = MTPModel(smollm2_path, n_ctx=256, n_threads=2, mask_token_id=STAND_IN_MASK_ID)
    try:
        assert not flash_attn_on(default.llama)  # on a CPU the default stays off, as in llama-cpp-python
    finally:
        default.close()


def test_model_without_mask_runs_only_plain_modes(smollm2_path, tmp_path, capsys):
    out = tmp_path / "b.json"
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "Say hello."}) + "\n\n" + json.dumps({"prompt": "Count to 3."}) + "\n")
    assert main(["bench", "-m", str(smollm2_path), "--prompts", str(prompts), "--max-tokens", "4", "--repeats", "1",
                 "--lookup", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["plain", "prompt_lookup", "confadapt"]
    assert all(r["accuracy"] is None for r in rows)  # no answers in the file
    assert "no mask token" in capsys.readouterr().err


def test_bad_prompt_inputs_are_clear_errors(smollm2_path, tmp_path, capsys):
    assert main(["bench", "-m", str(smollm2_path), "--prompts", str(tmp_path / "missing.jsonl")]) == 1
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": \n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        bench.load_prompts(str(bad))
    bad.write_text('{"question": "no prompt key"}\n')
    with pytest.raises(ValueError, match=r":1: each line must be an object with prompt"):
        bench.load_prompts(str(bad))
    assert main(["bench", "-m", str(tmp_path / "none.gguf")]) == 1
    assert "model file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["bench", "-m", str(smollm2_path), "--k-sweep", "2,x"])
    assert exc.value.code == 2


def test_gsm8k_prompts_have_numeric_answers():
    prompts = bench.load_prompts("gsm8k", 3)
    assert len(prompts) == 3 and all(extract_number(p.answer) for p in prompts)
    assert len(bench.load_prompts("chat")) >= 5


@pytest.mark.parametrize("text, answer, correct", [
    ("She makes 9 * 2 = $18 every day. The answer is 18.", "18", True),
    ("Total: 1,200 dollars", "1200", True),
    ("It is 3.50 and then 4.0", "4", True),
    ("The answer is 17", "18", False),
    ("no number here", "3", False),
    ("-5 degrees", "-5", True),
])
def test_answer_is_the_last_number(text, answer, correct):
    assert is_correct(text, answer) is correct
