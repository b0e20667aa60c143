"""scripts/cuda_mmvq_wide.sh on a stand-in of llama-cpp-python 0.3.36's mmvq.cu: 5-8-column matmuls get a 4-warp
launch where K is small, chosen on the host and switchable off at run time, 1-4 columns untouched, applied once, and
nothing written where any expected line is not the release's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "cuda_mmvq_wide.sh"
LAUNCH = """            std::pair<dim3, dim3> dims = calc_launch_params<type>(c_ncols_dst, nrows_x, nchannels_dst, nsamples_dst, warp_size, table_id);
            mul_mat_vec_q_switch_fusion<type, c_ncols_dst>(vx, vy, ids, fusion, dst, ncols_x,
                 dims.first, dims.second, 0, ids_stride, stream);
"""
NWARPS = """    if (table_id == MMVQ_PARAMETERS_GENERIC) {
        switch (ncols_dst) {
            case 1:
            case 2:
            case 3:
            case 4:
                return 4;
            case 5:
            case 6:
            case 7:
            case 8:
                return 2;
            default:
                return 1;
        }
    } else if (table_id == MMVQ_PARAMETERS_GCN) {
"""
MMVQ = NWARPS + "    if (has_ids && ncols_dst > 1) {\n        moe();\n    }\n    switch (ncols_dst) {\n" + "".join(
    f"        case {c}: {{\n            constexpr int c_ncols_dst = {c};\n{LAUNCH}        }} break;\n"
    for c in range(2, 9)) + "    }\n"


def _tree(tmp_path: Path, mmvq: str = MMVQ) -> Path:
    d = tmp_path / "vendor" / "llama.cpp" / "ggml" / "src" / "ggml-cuda"
    d.mkdir(parents=True)
    (d / "mmvq.cu").write_text(mmvq)
    return d / "mmvq.cu"


def _run(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(folder)], capture_output=True, text=True)


def _case(text: str, c: int) -> str:
    start = text.index(f"constexpr int c_ncols_dst = {c};")
    return text[start:text.index("} break;", start)]


def test_five_to_eight_columns_launch_four_warps_where_k_is_small(tmp_path):
    mmvq = _tree(tmp_path)
    assert _run(tmp_path).returncode == 0
    wide = mmvq.read_text()
    assert "return small_k ? 4 : 2;" in wide  # the kernel's warp count for 5-8 columns, by its small_k flag
    assert 'getenv("MTP_EDGE_MMVQ_WIDE")' in wide and "blocks_per_row_x <= 2 * 4 * blocks_per_iter_1warp" in wide
    for c in range(5, 9):  # the host launches the flagged kernel with the matching launch shape, or llama.cpp's
        case = _case(wide, c)
        assert "if (wide_k) {" in case
        assert "mul_mat_vec_q_switch_fusion<type, c_ncols_dst, true>(" in case and "table_id, true);" in case
        assert "mul_mat_vec_q_switch_fusion<type, c_ncols_dst>(" in case.split("} else {")[1]
    for c in range(2, 5):  # 1-4 columns already run 4 warps: left as they were
        assert _case(wide, c) == _case(MMVQ, c)
    again = _run(tmp_path)
    assert again.returncode == 0 and "already widens" in again.stdout
    assert mmvq.read_text() == wide


def test_another_version_is_refused_and_left_as_it_was(tmp_path):
    mmvq = _tree(tmp_path, MMVQ.replace("constexpr int c_ncols_dst = 7;", "constexpr int c_ncols_dst = 7;  // changed"))
    before = mmvq.read_text()
    other = _run(tmp_path)
    assert other.returncode == 1 and "another version" in other.stderr
    assert mmvq.read_text() == before  # the edits that did match were not written either
    missing = _run(tmp_path / "nowhere")
    assert missing.returncode == 1 and "unpacked llama-cpp-python source" in missing.stderr
