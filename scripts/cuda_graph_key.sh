#!/usr/bin/env bash
# Give llama.cpp's CUDA backend one cached graph per pass size: in llama-cpp-python 0.3.36's llama.cpp the CUDA graph
# cache is keyed by the graph's first node alone, which a pass of 1 token and one of k tokens share, so every change
# of pass size throws the captured graph away (the next pass runs without it, the one after captures it again: +5.0
# and +4.4 ms for a switch there and back on an H200, where a pass costs 1.1-1.5 ms; docs/RESULTS.md, session 16).
# This adds the first node's second extent (the number of tokens in the pass) to the key. The cached graph's node
# properties are still compared before every replay, so a key two graphs share costs a recapture, never a wrong pass.
# Usage: bash scripts/cuda_graph_key.sh LLAMA_CPP_PYTHON_SOURCE_DIR (the unpacked sdist; applied once, idempotent)
set -euo pipefail
F=${1:?usage: cuda_graph_key.sh LLAMA_CPP_PYTHON_SOURCE_DIR}/vendor/llama.cpp/ggml/src/ggml-cuda/ggml-cuda.cu
[ -f "$F" ] || { echo "cuda_graph_key.sh: no $F: pass the unpacked llama-cpp-python source folder" >&2; exit 1; }
MARK="mtp-edge: one cached graph per pass size"
if grep -q "$MARK" "$F"; then echo "cuda_graph_key.sh: $F already keyed per pass size"; exit 0; fi
[ "$(grep -c '^    return cgraph->nodes\[0\];$' "$F")" = 1 ] || {
  echo "cuda_graph_key.sh: the graph key line of llama-cpp-python 0.3.36 is not in $F (another version?)" >&2; exit 1; }
sed -i "s|^    return cgraph->nodes\[0\];\$|    return (const char *) cgraph->nodes[0] + ((size_t) cgraph->nodes[0]->ne[1] << 32);  /* $MARK */|" "$F"
grep -q "$MARK" "$F" && echo "cuda_graph_key.sh: $F keyed per pass size"
