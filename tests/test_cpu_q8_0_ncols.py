"""scripts/cpu_q8_0_ncols.sh on a stand-in of llama-cpp-python 0.3.36's CPU sources: the multi-token Q8_0 kernel
beside ggml_vec_dot_q8_0_q8_0, the hook after the barrier that publishes the quantized tokens (ahead of llamafile's
path, 2-8 tokens only, switchable off at run time), applied once, and nothing written where any expected line is not
the release's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "cpu_q8_0_ncols.sh"
GGML_CPU = """#include "common.h"
#include "tiled/tiled.h"

void ggml_compute_forward_mul_mat(void) {
    quantize();
    ggml_barrier(params->threadpool);

#if GGML_USE_LLAMAFILE
    if (src1->type != vec_dot_type) {
        llamafile_sgemm();
    }
#endif
}
"""
QUANTS = """static inline float hsum_float_8(const __m256 x) { return 0; }

void ggml_vec_dot_q8_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs, const void * GGML_RESTRICT vx) {
}
"""


def _tree(tmp_path: Path, ggml_cpu: str = GGML_CPU) -> tuple[Path, Path]:
    d = tmp_path / "vendor" / "llama.cpp" / "ggml" / "src" / "ggml-cpu"
    (d / "arch" / "x86").mkdir(parents=True)
    (d / "ggml-cpu.c").write_text(ggml_cpu)
    (d / "arch" / "x86" / "quants.c").write_text(QUANTS)
    return d / "ggml-cpu.c", d / "arch" / "x86" / "quants.c"


def _run(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(folder)], capture_output=True, text=True)


def test_q8_0_passes_of_two_to_eight_tokens_take_the_kernel_once(tmp_path):
    cpu, quants = _tree(tmp_path)
    assert _run(tmp_path).returncode == 0
    patched_cpu, patched_quants = cpu.read_text(), quants.read_text()
    # the hook runs after the quantized tokens are published and before llamafile's path, for 2-8 Q8_0 tokens
    hook = patched_cpu.index("mtp_edge_mul_mat_q8_0_ncols((int) ne00")
    assert patched_cpu.index("ggml_barrier(params->threadpool);") < hook < patched_cpu.index("llamafile_sgemm();")
    assert "ne11 >= 2 &&\n            ne11 <= 8" in patched_cpu and "src0->type == GGML_TYPE_Q8_0" in patched_cpu
    assert 'getenv("MTP_EDGE_CPU_Q8_0_NCOLS")' in patched_cpu
    assert patched_cpu.count("#if defined(__AVX2__)") == 2  # the declaration and the hook: x86 builds only
    # the kernel sits beside the one-token kernel whose loop it repeats per token
    kernel = patched_quants.index("void mtp_edge_mul_mat_q8_0_ncols(")
    assert kernel < patched_quants.index("void ggml_vec_dot_q8_0_q8_0(")
    assert "acc[j] = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc[j]);" in patched_quants
    again = _run(tmp_path)
    assert again.returncode == 0 and "already has" in again.stdout
    assert (cpu.read_text(), quants.read_text()) == (patched_cpu, patched_quants)


def test_another_version_is_refused_and_left_as_it_was(tmp_path):
    cpu, quants = _tree(tmp_path, GGML_CPU.replace("#if GGML_USE_LLAMAFILE\n", "#ifdef GGML_USE_LLAMAFILE\n"))
    before = (cpu.read_text(), quants.read_text())
    other = _run(tmp_path)
    assert other.returncode == 1 and "another version" in other.stderr
    assert (cpu.read_text(), quants.read_text()) == before  # the edits that did match were not written either
    missing = _run(tmp_path / "nowhere")
    assert missing.returncode == 1 and "unpacked llama-cpp-python source" in missing.stderr
