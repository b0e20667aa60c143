#!/usr/bin/env bash
# Rebuild llama-cpp-python 0.3.36 for this CPU with scripts/cpu_q8_0_ncols.sh applied: Q8_0 passes of 2-8 tokens
# (decode passes with masks) load each weight block once for all their tokens, where llama.cpp as released sends
# them to llamafile's small-batch GEMM. x86 with AVX2 only; elsewhere the build is llama.cpp as released.
# MTP_EDGE_CPU_Q8_0_NCOLS=0 at run time turns the kernel off in a build that has it.
# Usage: bash scripts/build_llama_cpp_cpu.sh   (about 10 minutes on 2 cores; PYTHON=... picks the interpreter)
set -euo pipefail
V=0.3.36
PY=${PYTHON:-python3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$PY" -m pip download -q --no-deps --no-binary=:all: "llama-cpp-python==$V" -d "$T"
tar xzf "$T/llama_cpp_python-$V.tar.gz" -C "$T"
bash "$(dirname "$0")/cpu_q8_0_ncols.sh" "$T/llama_cpp_python-$V"
"$PY" -m pip install --force-reinstall --no-deps --no-cache-dir "$T/llama_cpp_python-$V"
"$PY" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'with the multi-token Q8_0 kernel')"
