# Life S (one GPU, session 16): what a change of pass shape costs on CUDA, and what auto gains where it is cheap.
# llama.cpp (0.3.36's vendored copy) caches CUDA graphs under one key, the graph's first node; a pass of 1 token and
# one of k tokens have the same first node, so every change of pass size throws the cached graph away: the next pass
# runs without a graph and the one after captures it again (~10 ms on an H200, session 14). That is why auto keeps
# one pass shape on a GPU and why it cannot follow the acceptance within a chat answer. This builds llama-cpp-python
# twice from one build folder: as released ("stock"), and with the cache key extended by the first node's second
# extent, the pass size ("keyed": one cached graph per pass size, what llama.cpp PR 28666 proposed upstream; the
# graph's properties are still checked before a replay, so a shared key only costs a recapture). Then, side by side:
# (1) benchmarks/shape_switch_cost.py on both; (2) the FA calibration on both; (3) the chat bench on both;
# (4) the GSM8K bench on both; (5) chat once more on both. Each bench writes its JSON after every prompt.
# Usage: call1.sh, call2.sh x2, then `bash .carry/dev/call3.sh jobS.sh 0`, then pollI.sh 290 bench_done until it is
# there, then pollI.sh 290 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
pip_lcp() {  # usage: pip_lcp TARGET: llama-cpp-python from /tmp/lcp-src into TARGET, built in /tmp/lcpbuild
  CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90" CMAKE_BUILD_PARALLEL_LEVEL=$(( $(nproc) - 2 )) \
    python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target $1 -C build-dir=/tmp/lcpbuild .
}
( set -e
  tar xzf .carry/c/lcp.tgz -C /tmp && cd /tmp/lcp-src && pip_lcp /tmp/site2
  cd $REPO && python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target /tmp/site3 . && echo STOCK_OK
  cd /tmp/lcp-src && bash $REPO/scripts/cuda_graph_key.sh /tmp/lcp-src
  pip_lcp /tmp/site2p && echo BUILD_OK ) > $R/build.log 2>&1
tail -5 $R/build.log > $RES/build_tail.txt
grep -q BUILD_OK $R/build.log || { echo "exit 1 (build)" > $R/done; exit 1; }
write_gsm8k_prompts
with_build() {  # usage: with_build stock|keyed CMD...: the command with that llama-cpp-python build
  local site=/tmp/site2; [ "$1" = keyed ] && site=/tmp/site2p; shift  # each build its own curve cache
  ( export PYTHONPATH=/tmp/site3:$site:/tmp/site MTP_EDGE_CACHE=$site.cache; cd /tmp && "$@" )
}
M=/tmp/mtp_q8_0.gguf
with_build stock python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype q8_0 -o $M -q
bench_s() {  # usage: bench_s BUILD NAME PROMPTS: the traced bench of sessions 5-14 on $M (flash attention on)
  with_build $1 python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $3 --n-prompts 12 --max-tokens 128 \
    --repeats 3 --json $RES/bench_gpu_q8_0_$2_$1.json --trace $RES/trace_gpu_q8_0_$2_$1.jsonl > $RES/bench_gpu_q8_0_$2_$1.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$2_$1.jsonl; cat $RES/bench_gpu_q8_0_$2_$1.txt
}
(
  for b in stock keyed; do
    with_build $b python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
    with_build $b python3 $REPO/benchmarks/shape_switch_cost.py -m $M --n-gpu-layers -1 --sizes 2,4,6 \
      --json $RES/shape_switch_$b.json
    with_build $b python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json > $RES/calibrate_gpu_q8_0_fa_$b.json
  done
  bench_s keyed chat chat
  bench_s stock chat chat
  echo BENCH_DONE ) > $R/bench.log 2>&1
touch $R/bench_done
( bench_s keyed gsm8k /tmp/data/gsm8k_prompts.jsonl
  bench_s stock gsm8k /tmp/data/gsm8k_prompts.jsonl
  bench_s keyed chat2 chat
  bench_s stock chat2 chat
  echo ALL_DONE ) >> $R/bench.log 2>&1
echo "exit 0" > $R/done
