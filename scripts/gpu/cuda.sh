# sourced by jobB..jobE: the CUDA build of llama-cpp-python + mtp-edge on the CPUs, the bench's prompt file, the bench
start_cuda_build() {  # in the background; sets BUILD (its pid); log in $R/build.log
  ( tar xzf .carry/c/lcp.tgz -C /tmp && cd /tmp/lcp-src && \
    CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90" CMAKE_BUILD_PARALLEL_LEVEL=${BUILD_JOBS:-14} \
    python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target /tmp/site2 . && cd $REPO && \
    python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target /tmp/site3 . && echo BUILD_OK ) > $R/build.log 2>&1 &
  BUILD=$!
}
write_gsm8k_prompts() {  # the first 16 GSM8K test questions as a bench prompt file
  python3 - <<'PY'
import json
rows = [json.loads(l) for l in open('/tmp/data/test.jsonl')][:16]
with open('/tmp/data/gsm8k_prompts.jsonl', 'w') as f:
    for r in rows:
        f.write(json.dumps({"prompt": r["question"], "answer": r["answer"].split("####")[-1].strip()}) + "\n")
PY
}
bench_on_gpu() {  # usage: bench_on_gpu TYPE: merge the shipped adapter to TYPE, calibrate, bench GSM8K and chat
  local T=$1 P N
  python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype $T -o /tmp/mtp_$T.gguf -q
  python3 -m mtp_edge calibrate -m /tmp/mtp_$T.gguf --n-gpu-layers -1 --json > $RES/calibrate_gpu_$T.json
  for P in /tmp/data/gsm8k_prompts.jsonl chat; do
    N=$(basename $P .jsonl | cut -d_ -f1)
    python3 -m mtp_edge bench -m /tmp/mtp_$T.gguf --n-gpu-layers -1 --prompts $P --n-prompts ${NPROMPTS:-12} \
      --max-tokens 128 --repeats 3 --json $RES/bench_gpu_${T}_$N.json --trace $RES/trace_gpu_${T}_$N.jsonl \
      > $RES/bench_gpu_${T}_$N.txt 2>&1
    cat $RES/bench_gpu_${T}_$N.txt
  done
}
