"""benchmarks/gpu_pass_profile.py: the per-pass breakdown on synthetic kernel timelines, the trace parsing, and the
script end to end on the real SmolLM2 file (CPU: wall times only, no kernels)."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark


def _module():
    return load_benchmark("gpu_pass_profile")


def test_union_length_counts_overlaps_once():
    m = _module()
    assert m.union_length([]) == 0.0
    assert m.union_length([(0, 10), (5, 15), (20, 25), (21, 22)]) == pytest.approx(20.0)


def test_pass_breakdown_assigns_kernels_to_the_pass_that_holds_their_start():
    m = _module()
    # two 1-token passes (100 us each: host 20, kernels 10+10 with a 5 us gap, copy 55) and one 8-token pass
    passes = [(1, 0.0, 100.0), (1, 200.0, 300.0), (8, 400.0, 560.0)]
    kernels = [(20.0, 30.0, "mul_mat_vec"), (35.0, 45.0, "rms_norm"),
               (220.0, 230.0, "mul_mat_vec"), (235.0, 245.0, "rms_norm"),
               (430.0, 470.0, "mul_mat_vec"), (460.0, 480.0, "flash_attn"), (490.0, 500.0, "rms_norm"),
               (150.0, 160.0, "between passes: warm-up")]
    out = m.pass_breakdown(passes, kernels)
    one, eight = out[1], out[8]
    assert one["passes"] == 2 and one["kernels"] == 2
    assert one["wall"] == 100.0 and one["busy"] == 20.0 and one["span"] == 25.0 and one["gaps"] == 5.0
    assert one["before"] == 20.0 and one["after"] == 55.0
    assert one["top_kernels_us_per_pass"] == {"mul_mat_vec": 10.0, "rms_norm": 10.0}
    # overlapping kernels (430-480) count once in busy time; the 10 us gap before rms_norm is idle
    assert eight["kernels"] == 3 and eight["busy"] == 60.0 and eight["span"] == 70.0 and eight["gaps"] == 10.0
    assert eight["after"] == 60.0


def test_kernels_and_passes_reads_the_profilers_chrome_trace():
    m = _module()
    trace = {"traceEvents": [
        {"ph": "X", "cat": "user_annotation", "name": f"{m.PASS_LABEL}=4", "ts": 10.0, "dur": 90.0},
        {"ph": "X", "cat": "user_annotation", "name": "warm", "ts": 0.0, "dur": 5.0},
        {"ph": "X", "cat": "kernel", "name": "k1", "ts": 20.0, "dur": 3.0},
        {"ph": "X", "cat": "cpu_op", "name": "aten::sum", "ts": 25.0, "dur": 1.0},
        {"ph": "i", "cat": "kernel", "name": "marker", "ts": 30.0},
        {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy DtoH (Device -> Pinned)", "ts": 40.0, "dur": 8.0},
    ]}
    passes, kernels = m.kernels_and_passes(trace)
    assert passes == [(4, 10.0, 100.0)]
    assert kernels == [(20.0, 23.0, "k1"), (40.0, 48.0, "[memcpy] Memcpy DtoH (Device -> Pinned)")]


def test_gpu_pass_profile_end_to_end_on_cpu(smollm2_path, tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert _module().main(["-m", str(smollm2_path), "--n-gpu-layers", "0", "--sizes", "1,3", "--rounds", "3",
                           "--depth", "16", "--json", str(out)]) == 0
    assert "kernels" in capsys.readouterr().out
    result = json.loads(out.read_text())
    one, three = result["by_size"]["1"], result["by_size"]["3"]
    assert one["passes"] == three["passes"] == 3 and one["kernels"] == 0
    # three tokens' work on a CPU: dearer than one, whatever the machine's noise
    assert three["wall"] > one["wall"] > 0.0


def test_gpu_pass_profile_names_bad_sizes(smollm2_path):
    with pytest.raises(SystemExit, match="--sizes"):
        _module().main(["-m", str(smollm2_path), "--sizes", "four"])
    with pytest.raises(SystemExit, match="at least 1 token"):
        _module().main(["-m", str(smollm2_path), "--sizes", "0"])
