# sourced by jobB/jobC: the CUDA build of llama-cpp-python + mtp-edge on the CPUs, and the bench's prompt file
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
