#!/usr/bin/env bash
# Install llama-cpp-python 0.3.36 built for CUDA, with one cached CUDA graph per pass size (scripts/cuda_graph_key.sh).
# On an H200 that made mtp-edge's passes with masks 9-13% faster in the decode loop and every mode's answer start
# cheaper (docs/RESULTS.md, session 16). mtp-edge needs no reinstall: it calls the libllama that llama-cpp-python loads.
# Usage: bash scripts/build_llama_cpp_cuda.sh [CUDA_ARCHITECTURES]   (default "native"; 90 for H100/H200, 89 for L4)
# Needs nvcc, cmake and a C++ compiler; about 5 minutes on 16 cores, longer on fewer.
# MTP_EDGE_MMVQ_FUSION=1 also gives passes of 2-8 tokens llama.cpp's one-token kernel fusions (scripts/
# cuda_mmvq_fusion.sh: an 8-token pass of SmolLM2-135M runs 725 kernels where one token runs 579). Measured on an
# H100 (docs/RESULTS.md, session 24): same logits as unfused; 2-4-token passes 3-6% cheaper, 7-8-token ones 8% dearer,
# so only passes of up to MTP_EDGE_MMVQ_FUSION_MAX_COLS tokens (read at run time, default 4) fuse; chat's
# confadapt_verify went from 1.31x to 1.48-1.52x plain, GSM8K's stayed at 1.83-1.90x (fusing up to 8). Session 25
# measured the default cap of 4 beside 1 and 8 (scripts/gpu/jobAH.sh): the release's curve from 5 tokens on, 7-9%
# cheaper at 2-4 tokens; GSM8K's confadapt_verify decoded 1,509 tok/s against 1,400-1,459 at cap 8.
# MTP_EDGE_MMVQ_WIDE=1 also keeps 4 warps in the quantized matmuls of 5-8-token passes where K is small (scripts/
# cuda_mmvq_wide.sh; llama.cpp drops to 2 there, where an H100 pass jumps from 1.28 ms at 4 tokens to 1.49 at 5).
# Measured in session 26 (scripts/gpu/jobAK.sh, H100): every argmax equal, 5-7-token passes 3-6% cheaper, the
# 8-token pass 1.5%; no change end to end for SmolLM2-MTP, whose verifying passes stay at 4 tokens, so it stays
# opt-in. MTP_EDGE_MMVQ_WIDE=0 at run time turns it off in a build that has it.
set -euo pipefail
V=0.3.36
ARCH=${1:-native}
PY=${PYTHON:-python3}
command -v nvcc > /dev/null || { echo "build_llama_cpp_cuda.sh: nvcc not found: install the CUDA toolkit first" >&2; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$PY" -m pip download -q --no-deps --no-binary=:all: "llama-cpp-python==$V" -d "$T"
tar xzf "$T/llama_cpp_python-$V.tar.gz" -C "$T"
bash "$(dirname "$0")/cuda_graph_key.sh" "$T/llama_cpp_python-$V"
[ "${MTP_EDGE_MMVQ_FUSION:-0}" = 1 ] && bash "$(dirname "$0")/cuda_mmvq_fusion.sh" "$T/llama_cpp_python-$V"
[ "${MTP_EDGE_MMVQ_WIDE:-0}" = 1 ] && bash "$(dirname "$0")/cuda_mmvq_wide.sh" "$T/llama_cpp_python-$V"
CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$ARCH ${CMAKE_ARGS:-}" \
  "$PY" -m pip install --force-reinstall --no-deps --no-cache-dir "$T/llama_cpp_python-$V"
"$PY" -c "import llama_cpp; assert llama_cpp.llama_supports_gpu_offload(), 'built without GPU offload'; print('llama-cpp-python', llama_cpp.__version__, 'with CUDA, one graph per pass size')"
