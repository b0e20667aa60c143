#!/usr/bin/env bash
# Patch llama-cpp-python 0.3.36's CUDA sources so that a quantized matmul of 5-8 tokens keeps 4 warps a block where
# K is small. llama.cpp's mmvq kernel on NVIDIA (its "generic" table) runs 4 warps for 1-4 columns and 2 for 5-8;
# with SmolLM2's K of 576 and 1,536 (18 and 48 Q8_0 blocks, 8 blocks a warp a trip) 2 warps loop over K twice and
# three times where 4 do it once and twice. On an H100 a pass costs 1.28 ms at 4 tokens and 1.49 ms at 5 (session
# 25, fusion cap 4 and 8 alike: not the fusion): the jump is this switch, and what 8-token passes pay on top of it.
# With the patch a pass of 5-8 tokens launches the 4-warp kernel where 4 warps cover K in at most two trips
# (K <= 2,048 for Q8_0: small models; large ones keep llama.cpp's choice). MTP_EDGE_MMVQ_WIDE=0 at run time gives
# llama.cpp's own choice back (read once). The kernel is llama.cpp's own, instantiated with its small_k flag, which
# for 5-8 columns otherwise changes nothing; the rows and the reduction are the same, only the split of K differs.
# Usage: bash scripts/cuda_mmvq_wide.sh LLAMA_CPP_PYTHON_SOURCE_DIR (the unpacked sdist; applied once, idempotent)
set -euo pipefail
D=${1:?usage: cuda_mmvq_wide.sh LLAMA_CPP_PYTHON_SOURCE_DIR}/vendor/llama.cpp/ggml/src/ggml-cuda
[ -f "$D/mmvq.cu" ] || { echo "cuda_mmvq_wide.sh: no $D/mmvq.cu: pass the unpacked llama-cpp-python source folder" >&2; exit 1; }
MARK="mtp-edge: 4 warps for 5-8 columns where K is small"
if grep -q "$MARK" "$D/mmvq.cu"; then echo "cuda_mmvq_wide.sh: $D already widens 5-8-column matmuls"; exit 0; fi
python3 - "$D/mmvq.cu" "$MARK" "$(dirname "$0")" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[3])
from apply_source_edits import apply_edits  # noqa: E402

path, mark = Path(sys.argv[1]), sys.argv[2]
text = path.read_text()
edits = [(  # the kernel's warp count: small_k (unused for 5-8 columns before) now asks for 4 warps
    "            case 5:\n            case 6:\n            case 7:\n            case 8:\n                return 2;\n"
    "            default:\n                return 1;\n        }\n    } else if (table_id == MMVQ_PARAMETERS_GCN) {",
    f"            case 5:\n            case 6:\n            case 7:\n            case 8:\n"
    f"                return small_k ? 4 : 2;  // {mark}\n"
    "            default:\n                return 1;\n        }\n    } else if (table_id == MMVQ_PARAMETERS_GCN) {"),
    (  # the host: when to launch it
    "    if (has_ids && ncols_dst > 1) {\n",
    f"    // {mark}: at most two trips of 4 warps through K (MTP_EDGE_MMVQ_WIDE=0: llama.cpp's 2 warps)\n"
    "    static const bool mtp_edge_wide = [] {\n"
    "        const char * env = getenv(\"MTP_EDGE_MMVQ_WIDE\");\n"
    "        return env == nullptr || atoi(env) != 0;\n"
    "    }();\n"
    "    const bool wide_k = mtp_edge_wide && !has_ids && table_id == MMVQ_PARAMETERS_GENERIC &&\n"
    "                        blocks_per_row_x <= 2 * 4 * blocks_per_iter_1warp;\n\n"
    "    if (has_ids && ncols_dst > 1) {\n")]
launch = ("            std::pair<dim3, dim3> dims = calc_launch_params<type>(c_ncols_dst, nrows_x, nchannels_dst, "
          "nsamples_dst, warp_size, table_id);\n"
          "            mul_mat_vec_q_switch_fusion<type, c_ncols_dst>(")
for c in range(5, 9):  # the launches of 5-8 columns: the 4-warp kernel where wide_k, else llama.cpp's
    head = f"            constexpr int c_ncols_dst = {c};\n"
    start = text.find(head)
    end = text.find("        } break;\n", start)
    if start < 0 or end < 0 or text.count(head) != 1 or text[start:end].count(launch) != 1:
        sys.exit(f"cuda_mmvq_wide.sh: the expected code of llama-cpp-python 0.3.36 is not in {path} (another version?)")
    body = text[start + len(head):end]
    wide = body.replace("table_id);\n", "table_id, true);\n").replace(
        "mul_mat_vec_q_switch_fusion<type, c_ncols_dst>(", "mul_mat_vec_q_switch_fusion<type, c_ncols_dst, true>(")
    indent = lambda s: "".join("    " + line if line.strip() else line for line in s.splitlines(True))
    edits.append((head + body, head + "            if (wide_k) {\n" + indent(wide) + "            } else {\n"
                  + indent(body) + "            }\n"))
apply_edits("cuda_mmvq_wide.sh", path.parent, {path.name: edits})  # all checked before the file is written
PY
grep -q "$MARK" "$D/mmvq.cu" && echo "cuda_mmvq_wide.sh: $D launches 4 warps for 5-8-column matmuls with small K"
