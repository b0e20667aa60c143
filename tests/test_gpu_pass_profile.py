"""benchmarks/gpu_pass_profile.py: the ncu log parsing and the one-pass arithmetic on synthetic logs, and the script
end to end on the real SmolLM2 file (CPU: wall times only)."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark

HEADER = '"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"'


def _module():
    return load_benchmark("gpu_pass_profile")


def _log(names: list[str], unit: str = "ns") -> str:
    rows = [f'"{i}","void {n}(const float *, int)","gpu__time_duration.sum","{unit}","{1000 + i:,}"'
            for i, n in enumerate(names)]
    return "\n".join(["==PROF== Connected to process 1", HEADER, *rows, "==PROF== Disconnected"])


def test_parse_ncu_csv_reads_names_and_durations_in_order():
    m = _module()
    kernels = m.parse_ncu_csv(_log(["rms_norm_f32<256>", "mul_mat_vec_q<8, 1, 1>"]))
    assert [k for k, _ in kernels] == ["void rms_norm_f32<256>(const float *, int)",
                                       "void mul_mat_vec_q<8, 1, 1>(const float *, int)"]
    assert [us for _, us in kernels] == pytest.approx([1.0, 1.001])  # ns with thousands separators
    assert m.parse_ncu_csv(_log(["k"], unit="us")) == [("void k(const float *, int)", 1000.0)]
    assert m.short_name("void mul_mat_vec_q<8, 8, 0, 0, 0>(const void *, int)") == "mul_mat_vec_q<8, 8, 0, 0, 0>"


def test_one_pass_is_the_difference_of_one_and_three_passes():
    m = _module()
    prefill = [("void mmq(x)", 5.0)] * 7
    a_pass = [("void get_rows(x)", 1.0), ("void mmvq(x)", 3.0), ("void mmvq(x)", 3.0), ("void add(x)", 2.0)]
    result = m.one_pass(prefill + a_pass, prefill + a_pass * 3)
    assert result["kernels"] == 4 and result["ncu_us"] == 9.0
    assert list(result["by_kernel"]) == ["mmvq", "add", "get_rows"]  # by ncu time
    assert result["by_kernel"]["mmvq"] == {"count": 2, "ncu_us": 6.0}
    with pytest.raises(ValueError, match="not two whole passes apart"):
        m.one_pass(prefill + a_pass, prefill + a_pass * 2 + a_pass[:1])


def test_gpu_pass_profile_times_passes_on_cpu(smollm2_path, tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert _module().main(["-m", str(smollm2_path), "--n-gpu-layers", "0", "--sizes", "1,3", "--rounds", "3",
                           "--depth", "16", "--json", str(out)]) == 0
    assert "ms a pass" in capsys.readouterr().out
    result = json.loads(out.read_text())
    # three tokens' work on a CPU: dearer than one, whatever the machine's noise
    assert result["wall_ms"]["3"] > result["wall_ms"]["1"] > 0.0 and result["kernels"] == {}


def test_gpu_pass_profile_names_bad_input(smollm2_path, tmp_path):
    m = _module()
    with pytest.raises(SystemExit, match="comma-separated"):
        m.main(["-m", str(smollm2_path), "--sizes", "four"])
    with pytest.raises(SystemExit, match="at least 1 token"):
        m.main(["-m", str(smollm2_path), "--sizes", "0"])
    with pytest.raises(SystemExit, match="Nsight Compute"):
        m.main(["-m", str(smollm2_path), "--kernels", "--ncu", str(tmp_path / "no-ncu")])
