"""scripts/cuda_mmvq_fusion.sh on a stand-in of llama-cpp-python 0.3.36's CUDA sources: the three edits that let
llama.cpp's one-token mmvq fusions through for passes of up to 8 tokens, applied once, and nothing written where
any expected line is not the release's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "cuda_mmvq_fusion.sh"
GGML_CUDA = """static bool ggml_cuda_should_fuse_mul_mat_vec_q(const ggml_tensor * tensor) {
    //we only support fusion for ncols_dst = 1
    if (tensor->op == GGML_OP_MUL_MAT && dst->ne[1] != 1) {
        return false;
    }

    if (tensor->op == GGML_OP_MUL_MAT_ID && dst->ne[2] > get_mmvq_mmid_max_batch(src0->type, cc)) {
        return false;
    }
"""
MMVQ = """    if constexpr (c_ncols_dst == 1) {
        if (has_fusion) {
            launch_fused();
        }
    }
    GGML_ASSERT(!has_fusion && "fusion only supported for ncols_dst=1");
...
    if (fusion) {
        GGML_ASSERT(  ids || dst->ne[1] == 1);
    }
"""


def _tree(tmp_path: Path, mmvq: str = MMVQ) -> tuple[Path, Path]:
    d = tmp_path / "vendor" / "llama.cpp" / "ggml" / "src" / "ggml-cuda"
    d.mkdir(parents=True)
    (d / "ggml-cuda.cu").write_text(GGML_CUDA)
    (d / "mmvq.cu").write_text(mmvq)
    return d / "ggml-cuda.cu", d / "mmvq.cu"


def _run(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(folder)], capture_output=True, text=True)


def test_the_fusions_open_to_eight_columns_once(tmp_path):
    cu, mmvq = _tree(tmp_path)
    assert _run(tmp_path).returncode == 0
    fused_cu, fused_mmvq = cu.read_text(), mmvq.read_text()
    assert "dst->ne[1] > mtp_edge_fusion_max_cols" in fused_cu and "dst->ne[1] != 1" not in fused_cu
    assert 'getenv("MTP_EDGE_MMVQ_FUSION_MAX_COLS")' in fused_cu and "atoll(env) : 4" in fused_cu
    assert "if constexpr (c_ncols_dst <= MMVQ_MAX_BATCH_SIZE)" in fused_mmvq
    assert "dst->ne[1] <= MMVQ_MAX_BATCH_SIZE" in fused_mmvq and "x_bias->nb[1] == dst->nb[1]" in fused_mmvq
    again = _run(tmp_path)
    assert again.returncode == 0 and "already fuses" in again.stdout
    assert (cu.read_text(), mmvq.read_text()) == (fused_cu, fused_mmvq)


def test_another_version_is_refused_and_left_as_it_was(tmp_path):
    cu, mmvq = _tree(tmp_path, MMVQ.replace("dst->ne[1] == 1);", "dst->ne[1] <= 4);"))
    before = (cu.read_text(), mmvq.read_text())
    other = _run(tmp_path)
    assert other.returncode == 1 and "another version" in other.stderr
    assert (cu.read_text(), mmvq.read_text()) == before  # the edit that did match was not written either
    missing = _run(tmp_path / "nowhere")
    assert missing.returncode == 1 and "unpacked llama-cpp-python source" in missing.stderr
