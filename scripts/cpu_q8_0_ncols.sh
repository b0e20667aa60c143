#!/usr/bin/env bash
# Patch llama-cpp-python 0.3.36's CPU backend so that a Q8_0 matmul of 2-8 tokens (a decode pass with masks) loads
# each weight block once for all its tokens. As released, llama.cpp sends such a pass to llamafile's tinyBLAS, which
# is compute-bound on small batches: on session 23's AMD EPYC (Zen 4, 2 threads) a 2-token pass of SmolLM2 cost
# 1.9-2.0x a one-token pass and a 4-token pass 2.3x, so no mask count paid there. The kernel added here is
# ggml_vec_dot_q8_0_q8_0's AVX2 loop with one accumulator per token: the same products summed in the same order as
# a one-token pass sums them, so each token of a batched pass gets exactly the matmul result a one-token pass
# gives it. x86 with AVX2 only (elsewhere nothing changes); MTP_EDGE_CPU_Q8_0_NCOLS=0 at run time gives llama.cpp's
# own path back (read once).
# Usage: bash scripts/cpu_q8_0_ncols.sh LLAMA_CPP_PYTHON_SOURCE_DIR (the unpacked sdist; applied once, idempotent)
set -euo pipefail
D=${1:?usage: cpu_q8_0_ncols.sh LLAMA_CPP_PYTHON_SOURCE_DIR}/vendor/llama.cpp/ggml/src/ggml-cpu
[ -f "$D/ggml-cpu.c" ] && [ -f "$D/arch/x86/quants.c" ] || {
  echo "cpu_q8_0_ncols.sh: no $D/ggml-cpu.c: pass the unpacked llama-cpp-python source folder" >&2; exit 1; }
MARK="mtp-edge: Q8_0 matmuls of 2-8 tokens, one weight load for all"
if grep -q "$MARK" "$D/ggml-cpu.c"; then echo "cpu_q8_0_ncols.sh: $D already has the multi-token Q8_0 kernel"; exit 0; fi
python3 - "$D" "$MARK" "$(dirname "$0")" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[3])
from apply_source_edits import apply_edits  # noqa: E402

d, mark = Path(sys.argv[1]), sys.argv[2]
kernel = f"""
// {mark}: ggml_vec_dot_q8_0_q8_0's AVX2 loop with one accumulator per
// token, so every token's sum is the one a one-token pass computes (same products, same order).
#if defined(__AVX2__)
static inline __attribute__((always_inline)) void mtp_edge_q8_0_rows(const int ncols, const int nb,
        const char * GGML_RESTRICT vx, const size_t bx, const int64_t row0, const int64_t row1,
        const char * GGML_RESTRICT vy, const size_t by, float * GGML_RESTRICT dst, const size_t bs) {{
    for (int64_t r = row0; r < row1; ++r) {{
        const block_q8_0 * GGML_RESTRICT x = (const block_q8_0 *) (vx + r*bx);
        __m256 acc[8];
        for (int j = 0; j < ncols; ++j) acc[j] = _mm256_setzero_ps();
        for (int ib = 0; ib < nb; ++ib) {{
            const float dx = GGML_CPU_FP16_TO_FP32(x[ib].d);
            const __m256i qx = _mm256_loadu_si256((const __m256i *) x[ib].qs);
            for (int j = 0; j < ncols; ++j) {{
                const block_q8_0 * GGML_RESTRICT y = (const block_q8_0 *) (vy + j*by) + ib;
                const __m256 d = _mm256_set1_ps(dx * GGML_CPU_FP16_TO_FP32(y->d));
                const __m256i qy = _mm256_loadu_si256((const __m256i *) y->qs);
                acc[j] = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc[j]);
            }}
        }}
        for (int j = 0; j < ncols; ++j) dst[j*(bs/sizeof(float)) + r] = hsum_float_8(acc[j]);
    }}
}}

void mtp_edge_mul_mat_q8_0_ncols(int n, int ncols, const void * GGML_RESTRICT vx, size_t bx, int64_t row0,
        int64_t row1, const void * GGML_RESTRICT vy, size_t by, float * GGML_RESTRICT dst, size_t bs) {{
    const int nb = n / QK8_0;
    const char * x = (const char *) vx;
    const char * y = (const char *) vy;
    switch (ncols) {{  // a constant count per call keeps the accumulators in registers
        case 2: mtp_edge_q8_0_rows(2, nb, x, bx, row0, row1, y, by, dst, bs); break;
        case 3: mtp_edge_q8_0_rows(3, nb, x, bx, row0, row1, y, by, dst, bs); break;
        case 4: mtp_edge_q8_0_rows(4, nb, x, bx, row0, row1, y, by, dst, bs); break;
        case 5: mtp_edge_q8_0_rows(5, nb, x, bx, row0, row1, y, by, dst, bs); break;
        case 6: mtp_edge_q8_0_rows(6, nb, x, bx, row0, row1, y, by, dst, bs); break;
        case 7: mtp_edge_q8_0_rows(7, nb, x, bx, row0, row1, y, by, dst, bs); break;
        default: mtp_edge_q8_0_rows(8, nb, x, bx, row0, row1, y, by, dst, bs); break;
    }}
}}
#endif
"""
hook = f"""    ggml_barrier(params->threadpool);

#if defined(__AVX2__)
    // {mark} (scripts/cpu_q8_0_ncols.sh); each thread a
    // share of the rows, after the barrier that publishes the quantized tokens. MTP_EDGE_CPU_Q8_0_NCOLS=0: llama.cpp's path.
    static int mtp_edge_ncols_on = -1;
    if (mtp_edge_ncols_on < 0) {{
        const char * env = getenv("MTP_EDGE_CPU_Q8_0_NCOLS");
        mtp_edge_ncols_on = env == NULL || atoi(env) != 0;
    }}
    if (mtp_edge_ncols_on && src0->type == GGML_TYPE_Q8_0 && vec_dot_type == GGML_TYPE_Q8_0 && ne11 >= 2 &&
            ne11 <= 8 && ne02 == 1 && ne03 == 1 && ne12 == 1 && ne13 == 1 && ne00 % QK8_0 == 0) {{
        const void * cols = (src1->type == vec_dot_type) ? src1->data : params->wdata;
        const size_t col_stride = (src1->type == vec_dot_type) ? nb11 : ggml_row_size(vec_dot_type, ne10);
        mtp_edge_mul_mat_q8_0_ncols((int) ne00, (int) ne11, src0->data, nb01, ith*ne01/nth, (ith + 1)*ne01/nth,
                                    cols, col_stride, (float *) dst->data, nb1);
        return;
    }}
#endif

#if GGML_USE_LLAMAFILE
    if (src1->type != vec_dot_type) {{"""
edits = {
    "ggml-cpu.c": [
        ('#include "tiled/tiled.h"\n',
         '#include "tiled/tiled.h"\n\n'
         f'#if defined(__AVX2__)  // {mark}: arch/x86/quants.c\n'
         'void mtp_edge_mul_mat_q8_0_ncols(int n, int ncols, const void * vx, size_t bx, int64_t row0, int64_t row1,\n'
         '                                 const void * vy, size_t by, float * dst, size_t bs);\n#endif\n'),
        ("    ggml_barrier(params->threadpool);\n\n#if GGML_USE_LLAMAFILE\n    if (src1->type != vec_dot_type) {", hook),
    ],
    "arch/x86/quants.c": [
        ("void ggml_vec_dot_q8_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs,",
         kernel.lstrip("\n") + "\nvoid ggml_vec_dot_q8_0_q8_0(int n, float * GGML_RESTRICT s, size_t bs,"),
    ],
}
apply_edits("cpu_q8_0_ncols.sh", d, edits)  # every edit checked before any file is written
PY
grep -q "$MARK" "$D/ggml-cpu.c" && echo "cpu_q8_0_ncols.sh: $D runs Q8_0 passes of 2-8 tokens with one weight load"
