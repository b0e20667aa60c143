"""benchmarks/eval_runtime_gsm8k.py: shards of a test set run apart and merged give the rows of one run."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark

def _eval_module():
    return load_benchmark("eval_runtime_gsm8k")


def _row(index: int, skip: int, n: int, correct: int, tokens: int, passes: int) -> dict:
    return {"index": index, "skip": skip, "label": f"row {index}", "correct": correct, "tokens": tokens,
            "passes": passes, "checked": tokens - passes, "agreed": tokens - passes - 1, "wrong": 1,
            "n_questions": n, "seconds": 1.0}


def test_merge_sums_the_shards_every_row_finished():
    ev = _eval_module()
    rows = [_row(0, 0, 40, 1, 100, 100), _row(0, 40, 40, 2, 120, 120), _row(0, 80, 40, 5, 90, 90),
            _row(1, 0, 40, 0, 100, 40), _row(1, 40, 40, 3, 120, 50)]  # row 1 never finished questions 80..119
    merged, ranges = ev.merge_rows(rows)
    assert ranges == [[0, 40], [40, 40]]
    assert [(r["index"], r["correct"], r["tokens"], r["passes"], r["n_questions"]) for r in merged] == [
        (0, 3, 220, 220, 80), (1, 3, 220, 90, 80)]
    assert merged[1]["eff_k"] == pytest.approx(220 / 90)
    assert merged[1]["accuracy"] == pytest.approx(3 / 80)
    assert merged[1]["agreement"] == pytest.approx((220 - 90 - 2) / (220 - 90))


def test_merge_refuses_a_part_given_twice():
    ev = _eval_module()
    with pytest.raises(ValueError, match="appears twice"):
        ev.merge_rows([_row(0, 0, 40, 1, 100, 100), _row(0, 0, 40, 1, 100, 100)])


def test_two_shards_merged_equal_one_run(smollm2_path, tmp_path, capsys):
    """Greedy k=1 on the real SmolLM2 GGUF: questions 0-1 and 2-3 run apart, merged, are the four run at once."""
    ev = _eval_module()
    data = tmp_path / "gsm8k.jsonl"
    rows = [{"question": f"Tom has {a} apples and buys {b} more. How many apples does he have?",
             "answer": f"#### {a + b}"} for a, b in ((3, 4), (10, 5), (7, 8), (2, 9))]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["-m", str(smollm2_path), "--data", str(data), "--max-tokens", "12", "--threads", "2",
              "--settings", "headline", "--only", "0"]
    ev.main(common + ["--n", "4", "--json", str(tmp_path / "all.json")])
    ev.main(common + ["--n", "2", "--json", str(tmp_path / "a.json")])
    ev.main(common + ["--skip", "2", "--n", "2", "--json", str(tmp_path / "b.json")])
    with pytest.raises(SystemExit):  # past the end of the file: a clear message, not an empty row
        ev.main(common + ["--skip", "4", "--n", "2"])
    assert "has no questions after the first 4" in capsys.readouterr().err
    ev.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json", str(tmp_path / "m.json")])
    whole = json.loads((tmp_path / "all.json").read_text())["rows"][0]
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["question_ranges"] == [[0, 2], [2, 2]]
    for key in ("correct", "tokens", "passes", "n_questions"):
        assert merged["rows"][0][key] == whole[key], key
    assert whole["n_questions"] == 4 and whole["tokens"] >= 4


def test_chat_verify_effk_runs_a_prompt_file_alone(tmp_path, tmp_path_factory, capsys):
    """benchmarks/chat_verify_effk.py --prompts FILE --no-builtin: one block of rows for the file, on the shipped
    MTP model; --no-builtin without a file is refused with a message."""
    from product_util import mtp_smollm2

    chat = load_benchmark("chat_verify_effk")
    prompts = tmp_path / "two.jsonl"
    prompts.write_text('{"prompt": "Name one color."}\n{"prompt": "Say hello in French."}\n')
    out = tmp_path / "chat.json"
    chat.main(["-m", str(mtp_smollm2(tmp_path_factory.getbasetemp())), "--threads", "2", "--max-tokens", "8", "--prompts", str(prompts),
               "--no-builtin", "--json", str(out)])
    rows = json.loads(out.read_text())
    assert sorted(rows) == ["two (2): confadapt 0.9", "two (2): confadapt_verify 0.9/0.5", "two (2): lossless 0.5"]
    for r in rows.values():
        assert r["tokens"] >= 2 and 1 <= r["passes"] <= r["tokens"] and r["eff_k"] == r["tokens"] / r["passes"]
    assert rows["two (2): lossless 0.5"]["wrong_per_token"] == 0.0  # verified tokens agree by construction
    with pytest.raises(SystemExit):
        chat.main(["-m", "unused.gguf", "--no-builtin"])
    assert "--no-builtin needs at least one --prompts FILE" in capsys.readouterr().err
