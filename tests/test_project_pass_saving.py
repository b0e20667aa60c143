"""benchmarks/project_pass_saving.py: traced passes repriced with a per-pass saving, on a synthetic bench and trace."""

from __future__ import annotations

import gzip
import json

import pytest

from conftest import load_benchmark


def _module():
    return load_benchmark("project_pass_saving")


def test_the_saving_applies_to_multi_token_passes_only():
    saving = _module().pass_saving_ms([1.0, 1.2, 1.3, 1.4], saved_kernels=10, pass_kernels=100, max_n=3)
    assert saving(1) == 0.0 and saving(4) == 0.0  # one-token passes and passes past max_n are untouched
    assert saving(2) == pytest.approx(0.12) and saving(3) == pytest.approx(0.13)


def test_projection_scales_each_modes_speedup_by_its_decode_time(tmp_path, capsys):
    m = _module()
    trace = [  # a prefill pass is never repriced; k_max=1 runs one-token passes only
        {"mode": "mtp-edge k_max=1", "passes": [{"fed": 20, "seconds": 0.005, "prefill": True},
                                                 {"fed": 1, "seconds": 0.001}, {"fed": 1, "seconds": 0.001}]},
        {"mode": "k_max=4", "passes": [{"fed": 24, "seconds": 0.005, "prefill": True},
                                       {"fed": 4, "seconds": 0.002}, {"fed": 4, "seconds": 0.002}]},
    ]
    bench = {"rows": [{"mode": "plain", "label": "plain (llama-cpp-python)", "speedup": 1.0},
                      {"mode": "confadapt", "label": "mtp-edge k_max=1", "speedup": 1.1},
                      {"mode": "confadapt", "label": "k_max=4", "speedup": 1.5}]}
    curve = {"sizes": [1, 2, 3, 4], "cost_ms": {"64": [9.0, 9.0, 9.0, 9.0], "512": [1.0, 1.5, 1.8, 2.0]}}
    paths = {name: tmp_path / name for name in ("bench.json", "trace.jsonl.gz", "curve.json", "out.json")}
    paths["bench.json"].write_text(json.dumps(bench))
    paths["curve.json"].write_text(json.dumps(curve))
    with gzip.open(paths["trace.jsonl.gz"], "wt") as f:
        f.write("\n".join(json.dumps(r) for r in trace) + "\n")
    assert m.main(["--bench", str(paths["bench.json"]), "--trace", str(paths["trace.jsonl.gz"]), "--curve",
                   str(paths["curve.json"]), "--saved-kernels", "25", "--pass-kernels", "100", "--max-n", "4",
                   "--json", str(paths["out.json"])]) == 0
    assert "PROJECTION" in capsys.readouterr().out
    rows = {r["mode"]: r for r in json.loads(paths["out.json"].read_text())["rows"]}
    assert set(rows) == {"mtp-edge k_max=1", "k_max=4"}  # plain has no traced passes
    assert rows["mtp-edge k_max=1"]["projected"] == pytest.approx(1.1)
    # a 4-token pass at depth 512 costs 2.0 ms, 25 of its 100 kernels 0.5 ms: 2.0 -> 1.5 ms a pass
    assert rows["k_max=4"]["time_ratio"] == pytest.approx(0.75) and rows["k_max=4"]["projected"] == pytest.approx(2.0)


def test_bad_inputs_are_named(tmp_path):
    m = _module()
    with pytest.raises(SystemExit, match="--saved-kernels"):
        m.main(["--bench", "b", "--trace", "t", "--curve", "c", "--saved-kernels", "0"])
    with pytest.raises(SystemExit, match="cannot read the inputs"):
        m.main(["--bench", str(tmp_path / "none.json"), "--trace", "t", "--curve", str(tmp_path / "none.json")])
