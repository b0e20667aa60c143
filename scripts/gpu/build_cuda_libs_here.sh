#!/usr/bin/env bash
# Build llama-cpp-python 0.3.36's llama.cpp for CUDA (sm_90: H100/H200) on this workplace's CPU, with no GPU, and
# pack llama-cpp-python's package around those libraries for the GPU machine (.carry/l1, l2, l3, one call each), so
# that a GPU life skips its ~200 s build (scripts/gpu/jobAF.sh). CUDA 13.0's compiler comes from PyPI; the libraries
# load the machine's own libcudart/libcublas 13. Both patches are applied: one CUDA graph per pass size
# (scripts/cuda_graph_key.sh) and, unless MMVQ_FUSION=0, the multi-token mmvq fusions (scripts/cuda_mmvq_fusion.sh);
# unless MMVQ_WIDE=0, 4-warp matmuls for passes of 5-8 tokens (scripts/cuda_mmvq_wide.sh).
# Takes ~40 minutes on 2 cores (144 CUDA files; session 23): start it in the background early in a session.
# Usage (the venv active: its llama_cpp gives the Python files): bash scripts/gpu/build_cuda_libs_here.sh
# (CONFIGURE_ONLY=1: stop after cmake's configure step; WORK=DIR: where it builds, default /tmp/cudabuild;
# REBUILD=1: build what changed in an earlier run's patched source and build folder, then pack: ~6 minutes for one
# .cu file; MMVQ_WIDE=0: without scripts/cuda_mmvq_wide.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD W=${WORK:-/tmp/cudabuild}
T=$W/toolkit/nvidia/cu13 SRC=$W/llama_cpp_python-0.3.36 B=$W/build
export PATH=$T/bin:$PATH
if [ "${REBUILD:-0}" != 1 ]; then
mkdir -p $W/wheels $W/toolkit
# the compiler, runtime, headers and cuBLAS of CUDA 13.0, as PyPI ships them
python3 -m pip download -q --no-deps -d $W/wheels "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" \
  "nvidia-cuda-cccl==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cublas==13.0.*"
for w in $W/wheels/*.whl; do python3 -m zipfile -e "$w" $W/toolkit; done
chmod +x $T/bin/* $T/nvvm/bin/cicc
( cd $T/lib && ln -sf libcublas.so.13 libcublas.so && ln -sf libcublasLt.so.13 libcublasLt.so && ln -sf libcudart.so.13 libcudart.so )
[ -e $T/lib64 ] || ln -s lib $T/lib64  # nvcc.profile looks for lib64
# the source, patched as the GPU machine's keyed build is
python3 -m pip download -q --no-deps --no-binary=:all: llama-cpp-python==0.3.36 -d $W
rm -rf $SRC && tar xzf $W/llama_cpp_python-0.3.36.tar.gz -C $W
bash scripts/cuda_graph_key.sh $SRC
[ "${MMVQ_FUSION:-1}" = 1 ] && bash scripts/cuda_mmvq_fusion.sh $SRC
[ "${MMVQ_WIDE:-1}" = 1 ] && bash scripts/cuda_mmvq_wide.sh $SRC
cmake -S $SRC/vendor/llama.cpp -B $B -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER=$T/bin/nvcc \
  -DCUDAToolkit_ROOT=$T -DGGML_CUDA_NO_VMM=ON -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
  > $W/configure.log
[ "${CONFIGURE_ONLY:-0}" = 1 ] && { echo "build_cuda_libs_here.sh: configured in $B"; exit 0; }
fi
cmake --build $B -j"$(nproc)" --target llama > $W/build.log
# llama-cpp-python's Python files (the installed CPU package: the same 0.3.36) around the CUDA libraries
P=$(python3 -c "import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))")
rm -rf $W/pkg && mkdir -p $W/pkg && cp -r "$P" $W/pkg/llama_cpp
rm -rf $W/pkg/llama_cpp/lib/* && find $W/pkg -name __pycache__ -prune -exec rm -rf {} +
cp -P $B/bin/lib*.so* $W/pkg/llama_cpp/lib/
# its dist-info too: mtp-edge reads llama-cpp-python's version from it (session 24's job AG stopped without it)
cp -r "$(dirname "$P")"/llama_cpp_python-*.dist-info $W/pkg/
tar czf $W/llama_cpp_cuda.tgz -C $W/pkg .
# 13 MB parts, one a call: a call carries the checkout (47 MiB in session 26, docs/results/traces growing) and one
# part within 64 MiB; 19 MB parts stopped fitting in session 26
rm -rf .carry/l1 .carry/l2 .carry/l3 .carry/l4 .carry/l5
split -b 13000000 $W/llama_cpp_cuda.tgz $W/lpart_
i=1; for part in $W/lpart_*; do mkdir -p .carry/l$i && mv "$part" .carry/l$i/; i=$((i + 1)); done
du -sh .carry/l?
