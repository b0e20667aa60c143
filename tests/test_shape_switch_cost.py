"""benchmarks/shape_switch_cost.py end to end on the real SmolLM2 file (CPU): the table and its JSON."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark


def _module():
    return load_benchmark("shape_switch_cost")


def test_shape_switch_cost_times_steady_and_switched_passes(smollm2_path, tmp_path, capsys):
    out = tmp_path / "switch.json"
    assert _module().main(["-m", str(smollm2_path), "--sizes", "3", "--rounds", "3", "--depth", "32",
                           "--json", str(out)]) == 0
    assert "switch ->n" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())["rows"]
    assert row["n"] == 3 and row["depth"] == 32
    # a 3-token pass does three tokens' work on a CPU: dearer than one token, whatever the machine's noise
    assert row["steady_ms"]["3"] > row["steady_ms"]["1"] > 0.0
    assert len(row["after_switch_to_n_ms"]) == 3 and min(row["after_switch_to_n_ms"]) > 0.0
    assert row["alternating_pair_ms"] > 0.0


def test_shape_switch_cost_names_bad_sizes(smollm2_path):
    with pytest.raises(SystemExit, match="--sizes"):
        _module().main(["-m", str(smollm2_path), "--sizes", "four"])
    with pytest.raises(SystemExit, match="at least 2 tokens"):
        _module().main(["-m", str(smollm2_path), "--sizes", "1"])
