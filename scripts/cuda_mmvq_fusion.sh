#!/usr/bin/env bash
# Give llama.cpp's CUDA backend its one-token kernel fusions on passes of 2-8 tokens too. In llama-cpp-python
# 0.3.36's llama.cpp the quantized matrix-vector kernel (mmvq, passes of up to 8 tokens) fuses a matmul with the
# residual add after it, and the FFN's gate and up matmuls with their SwiGLU, only when the pass has one token ("we
# only support fusion for ncols_dst = 1"), although the kernel's fused body already loops over the pass's columns.
# A one-token pass of SmolLM2-135M runs 579 kernels, an 8-token pass 725: the 146 more are those unfused adds, GLUs,
# matmuls and their input quantizations (ncu on an H100, docs/RESULTS.md, session 23), and at ~2.3 us a kernel they
# are ~20% of an 8-token pass. This lets the fusions through for up to 8 columns where the fused operand (the
# residual) has the output's layout, which the fusion sites already require it to have the output's shape for;
# the host asserts the column stride too, so a model whose residual is a strided view stops instead of reading
# wrong columns. GGML_CUDA_DISABLE_FUSION=1 turns every fusion off at run time (for parity checks).
# Measured on an H100 (session 24): the fused 8-token pass runs 579 kernels, as one token does, but is no cheaper
# (1.78 ms against 1.64): the fused kernel is slower per column at 7-8 columns. So MTP_EDGE_MMVQ_FUSION_MAX_COLS
# (read once, at the first fusion check) caps the pass size that fuses, default 4; 1 gives the release's behaviour.
# Session 25 measured caps 1, 4 and 8 side by side: cap 1 is the release's curve, cap 4 the release's from 5 tokens on
# and 7-9% cheaper at 2-4 (docs/RESULTS.md).
# Usage: bash scripts/cuda_mmvq_fusion.sh LLAMA_CPP_PYTHON_SOURCE_DIR (the unpacked sdist; applied once, idempotent)
set -euo pipefail
D=${1:?usage: cuda_mmvq_fusion.sh LLAMA_CPP_PYTHON_SOURCE_DIR}/vendor/llama.cpp/ggml/src/ggml-cuda
[ -f "$D/mmvq.cu" ] && [ -f "$D/ggml-cuda.cu" ] || {
  echo "cuda_mmvq_fusion.sh: no $D/mmvq.cu: pass the unpacked llama-cpp-python source folder" >&2; exit 1; }
MARK="mtp-edge: mmvq fusion for passes of up to 8 tokens"
if grep -q "$MARK" "$D/mmvq.cu"; then echo "cuda_mmvq_fusion.sh: $D already fuses multi-token passes"; exit 0; fi
python3 - "$D" "$MARK" "$(dirname "$0")" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[3])
from apply_source_edits import apply_edits  # noqa: E402

d, mark = Path(sys.argv[1]), sys.argv[2]
edits = {
    "ggml-cuda.cu": [(  # the graph's fusion sites ask this before fusing a quantized matmul
        "    //we only support fusion for ncols_dst = 1\n"
        "    if (tensor->op == GGML_OP_MUL_MAT && dst->ne[1] != 1) {\n"
        "        return false;\n"
        "    }\n\n"
        "    if (tensor->op == GGML_OP_MUL_MAT_ID && dst->ne[2] > get_mmvq_mmid_max_batch(src0->type, cc)) {",
        f"    // {mark}; MTP_EDGE_MMVQ_FUSION_MAX_COLS (1-8, default 4) caps the pass size that fuses:\n"
        "    // on an H100 fused 2-4-token passes were 3-6% cheaper, fused 7-8-token ones 8% dearer (session 24)\n"
        "    static const int64_t mtp_edge_fusion_max_cols = [] {\n"
        "        const char * env = getenv(\"MTP_EDGE_MMVQ_FUSION_MAX_COLS\");\n"
        "        const long long n = env ? atoll(env) : 4;\n"
        "        return (int64_t) (n < 1 ? 1 : (n > MMVQ_MAX_BATCH_SIZE ? MMVQ_MAX_BATCH_SIZE : n));\n"
        "    }();\n"
        "    if (tensor->op == GGML_OP_MUL_MAT && dst->ne[1] > mtp_edge_fusion_max_cols) {\n"
        "        return false;\n"
        "    }\n\n"
        "    if (tensor->op == GGML_OP_MUL_MAT_ID && dst->ne[2] > get_mmvq_mmid_max_batch(src0->type, cc)) {")],
    "mmvq.cu": [
        (  # the host: a fused bias column j is read at j * the output's column stride
            "        GGML_ASSERT(  ids || dst->ne[1] == 1);\n",
            f"        // {mark}: column j of a fused bias is read at j * the output's column stride\n"
            "        GGML_ASSERT(  ids || dst->ne[1] <= MMVQ_MAX_BATCH_SIZE);\n"
            "        GGML_ASSERT(  ids || dst->ne[1] == 1 || ((!fusion->x_bias || fusion->x_bias->nb[1] == dst->nb[1]) &&\n"
            "                      (!fusion->gate_bias || fusion->gate_bias->nb[1] == dst->nb[1])));\n"),
        (  # the launch: the fused kernel for every column count mmvq handles
            "    if constexpr (c_ncols_dst == 1) {\n        if (has_fusion) {",
            f"    if constexpr (c_ncols_dst <= MMVQ_MAX_BATCH_SIZE) {{  // {mark}\n        if (has_fusion) {{"),
    ],
}
apply_edits("cuda_mmvq_fusion.sh", d, edits)  # every edit checked before any file is written
PY
grep -q "$MARK" "$D/mmvq.cu" && echo "cuda_mmvq_fusion.sh: $D fuses passes of up to 8 tokens"
