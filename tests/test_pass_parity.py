"""benchmarks/pass_parity.py on the real SmolLM2 file (CPU): a batched pass's rows against one-token passes, and
against rows it saved itself."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark


def _module():
    return load_benchmark("pass_parity")


def test_pass_parity_compares_rows_and_saved_rows(smollm2_path, tmp_path, capsys):
    m = _module()
    saved, out = tmp_path / "rows.npy", tmp_path / "parity.json"
    assert m.main(["-m", str(smollm2_path), "--n", "4", "--save", str(saved)]) == 0
    assert m.main(["-m", str(smollm2_path), "--n", "4", "--against", str(saved), "--json", str(out)]) == 0
    assert "argmax equal on" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert len(result["max_abs_diff"]) == 4 and result["max_abs_diff"][0] == 0.0  # row 0 sees the same context
    assert result["against"]["worst"] == 0.0 and result["against"]["all_argmax_equal"]  # the same build, twice


def test_compare_reports_each_rows_difference_and_argmax():
    m = _module()
    np = pytest.importorskip("numpy")
    a = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    b = np.array([[0.0, 2.5, 1.0], [0.0, 1.0, 0.0]])
    r = m.compare(a, b)
    assert r["max_abs_diff"] == [0.5, 3.0] and r["argmax_equal"] == [True, False]
    assert r["worst"] == 3.0 and not r["all_argmax_equal"]


def test_pass_parity_names_bad_input(smollm2_path, tmp_path):
    with pytest.raises(SystemExit, match="at least 2"):
        _module().main(["-m", str(smollm2_path), "--n", "1"])
    np = pytest.importorskip("numpy")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(SystemExit, match="shape"):
        _module().main(["-m", str(smollm2_path), "--n", "4", "--against", str(wrong)])
