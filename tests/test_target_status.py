"""benchmarks/target_status.py: issue 5's targets read from bench JSON files (synthetic rows in the bench's format)."""

from __future__ import annotations

import json

import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def ts():
    return load_benchmark("target_status")


def _row(label: str, mode: str, speedup: float, eff_k: float = 1.0) -> dict:
    return {"label": label, "mode": mode, "k_max": 4, "tau": 0.9, "eff_k": eff_k, "speedup": speedup}


def _bench(path, rows) -> None:
    path.write_text(json.dumps({"settings": {}, "rows": rows}))


def test_a_run_reads_auto_its_share_the_best_mode_and_prompt_lookup(ts, tmp_path):
    f = tmp_path / "bench_gpu_h100_q8_0_gsm8k_s27b.json"
    _bench(f, [_row("plain (llama-cpp-python)", "plain", 1.0), _row("prompt lookup 10", "prompt_lookup", 1.2),
               _row("mtp-edge k_max=1", "confadapt", 1.1), _row("k_max=4", "confadapt", 1.6, 1.9),
               _row("auto", "auto", 1.52, 1.9), _row("confadapt_verify auto", "confadapt_verify", 1.9, 2.0)])
    run = ts.read_run(f)
    assert (run.session, run.backend, run.auto, run.lookup) == (27, "gpu", 1.52, 1.2)
    assert run.auto_share == pytest.approx(1.52 / 1.6)
    assert (run.best_tau09, run.best_tau09_efficiency) == (1.9, pytest.approx(0.95))


def test_the_summary_counts_runs_that_meet_each_target(ts, tmp_path):
    runs = []
    for i, (auto, verify) in enumerate([(1.0, 2.1), (0.95, 1.5)]):
        f = tmp_path / f"bench_gpu_h100_chat_s2{i}.json"
        _bench(f, [_row("k_max=2", "confadapt", 1.0), _row("auto", "auto", auto, 1.2),
                   _row("confadapt_verify auto", "confadapt_verify", verify, 2.5)])
        runs.append(ts.read_run(f))
    table = {t["target"]: t for t in ts.summarize(runs)}
    assert (table["auto >= 0.97x plain"]["met"], table["auto >= 0.97x plain"]["worst"]) == (1, 0.95)
    assert table["best tau-0.9 mode >= 2.0x"]["met"] == 1
    assert table["efficiency >= 0.75"]["met"] == 1  # 2.1 / 2.5 = 0.84 and 1.5 / 2.5 = 0.6
    assert "best tau-0.9 mode ahead of prompt lookup" not in table  # no lookup rows: nothing to judge


def test_files_before_since_or_without_auto_are_left_out(ts, tmp_path, capsys):
    old = tmp_path / "bench_cpu_q8_gsm8k_s3.json"
    _bench(old, [_row("k_max=2", "confadapt", 1.1), _row("auto", "auto", 1.0)])
    sweep = tmp_path / "bench_cpu_q8_gsm8k_s27.json"
    _bench(sweep, [_row("k_max=2", "confadapt", 1.1)])
    assert ts.main([str(old), str(sweep), "--since", "20"]) == 1
    assert "no bench file with an auto row" in capsys.readouterr().err
    out = tmp_path / "status.json"
    assert ts.main([str(old), "--since", "0", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["runs"][0]["file"] == old.name
