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
job_paths() {  # what every job names: the checkout, the run folder, its results, the base GGUF, the shipped adapter
  REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
  SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
}
shipped_q8_0_on_gpu() {  # what the bench jobs T-AB start with: the paths, the keyed CUDA build, the GSM8K prompt
  job_paths; build_keyed_cuda; write_gsm8k_prompts  # file, and the shipped adapter merged to Q8_0 at $M
  M=/tmp/mtp_q8_0.gguf
  installed python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype q8_0 -o $M -q
}
training_text() {  # what the trainers of jobs AA on read besides call3's files: the held-out answers (GSM8K test
  # questions 1001-1256; the eval tables use the first questions) and seed 0's self-prompted requests beside seed 1's
  sed -n 1001,1256p /tmp/data/test.jsonl > /tmp/data/holdout.jsonl
  cp $R/out/self_prompted.jsonl /tmp/data/self_prompted_seed0.jsonl
}
job_setup() {  # what jobF/jobG start with: the paths, and the CUDA build on all cores but $1 (default 2)
  job_paths
  BUILD_JOBS=$(( $(nproc) - ${1:-2} )); start_cuda_build
  sed -n 1001,1256p /tmp/data/test.jsonl > /tmp/data/holdout.jsonl  # held out: the eval tables use the first questions
}
stop_trainers_after_build() {  # usage: stop_trainers_after_build "LOG ..." PID ...: SIGTERM (they save) once the
  local logs=$1; shift        # build is done and every trainer has begun training
  wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
  local log pid i=0 pids=("$@")
  for log in $logs; do
    pid=${pids[$i]}; i=$((i + 1))
    until grep -q '^train:' $log || ! kill -0 $pid 2>/dev/null; do sleep 2; done
  done
  sleep 5; kill -TERM "$@"; wait "$@"
}
gpu_bench_alone() {  # the Q8_0 bench (traced) on the GPU with nothing else there; touches $R/bench_done
  write_gsm8k_prompts
  ( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp
    python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
    nvidia-smi --query-gpu=name --format=csv,noheader | head -1
    bench_on_gpu q8_0; gzip -f $RES/trace_gpu_*.jsonl
    echo BENCH_DONE ) > $R/bench.log 2>&1
  touch $R/bench_done
}
installed() {  # run a command with the installed CUDA build of mtp-edge, from /tmp: `python3 -m` puts the current
  # directory first on the path, and the checkout's mtp_edge/ (without mtp_edge.convert) shadowed the installed
  # package in sessions 7 and 8, whatever PYTHONPATH said
  ( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp && "$@" )
}
merge_to_q8_0() {  # usage: merge_to_q8_0 NAME SRC [ADAPTER]: /tmp/mtp_NAME.gguf
  installed python3 -m mtp_edge convert $2 ${3:+--adapter $3} --outtype q8_0 -o /tmp/mtp_$1.gguf -q
}
eval_models_on_gpu() {  # usage: eval_models_on_gpu NAME ...: each /tmp/mtp_NAME.gguf through the runtime, one after
  local m                # another (three at once on the one GPU took 7x as long a row); torch stays out of them
  for m in "$@"; do
    [ -f /tmp/mtp_$m.gguf ] && installed python3 $REPO/benchmarks/eval_runtime_gsm8k.py -m /tmp/mtp_$m.gguf \
      --data /tmp/data/test.jsonl --n ${EVAL_N:-100} --max-tokens 200 --n-gpu-layers -1 \
      --settings ${EVAL_SETTINGS:-headline} --only ${EVAL_ONLY:-1,2} --json $RES/eval_gpu_$m.json > $RES/eval_gpu_$m.log 2>&1
    tail -4 $RES/eval_gpu_$m.log
  done
}
train_around_bench() {  # usage: train_around_bench NAME "DISTILL ARGS": one trainer ($R/out_NAME) while the build
  # runs, stopped (saved) for the traced bench alone on the GPU, resumed until DEADLINE; then its held-out curve and
  # its adapter in 15 MB parts for the polls (a 40 MB file does not come back from the machine)
  local name=$1 args=$2 left
  mkdir -p $R/out_$name; cp $R/out/self_prompted.jsonl $R/out_$name/
  python3 -m mtp_edge distill $args --out $R/out_$name > $R/log_$name 2>&1 &
  stop_trainers_after_build "$R/log_$name" $!
  gpu_bench_alone
  left=$(( DEADLINE - $(date +%s) ))
  [ $left -gt 90 ] && python3 -m mtp_edge distill $args --out $R/out_$name --resume --time-limit $(( left - 45 )) >> $R/log_$name 2>&1
  grep '^{' $R/log_$name | grep holdout > $RES/holdout_$name.jsonl; cp $R/log_$name $RES/
  tar cf - -C $R/out_$name model | split -b 15000000 - $R/adapter.tar.part_
}
need_r128() {  # run 8's rank-128 adapter, carried by calladd.sh (.carry/r1, r2, r3) to /tmp/add/r128
  [ -d /tmp/add/r128 ] || { echo "no /tmp/add/r128: run calladd.sh with .carry/r1, r2, r3 first"; exit 1; }
}
r128_distill_args() {  # usage: r128_distill_args RANK LR: lives J and K's distill arguments, from run 8's rank-128 adapter
  echo "--base $BASE --data /tmp/data/teacher_answers.jsonl --holdout-data /tmp/data/holdout.jsonl --holdout-n 256
  --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --init-adapter /tmp/add/r128 --warmup 30 --regions 12
  --batch 128 --steps ${HORIZON:-1100} --save-every 100 --log-every 20 --no-progress --ntp-weight 3 --lora-rank $1 --lr $2"
}
build_keyed_cuda() {  # jobs T on: the keyed CUDA build (scripts/cuda_graph_key.sh) of llama-cpp-python in
  # /tmp/site2 and mtp-edge in /tmp/site3, on all cores but one; writes $R/done and exits on a failed build;
  # MMVQ_FUSION=1 also fuses multi-token passes as one-token ones (scripts/cuda_mmvq_fusion.sh, job AE)
  ( set -e
    tar xzf .carry/c/lcp.tgz -C /tmp && bash $REPO/scripts/cuda_graph_key.sh /tmp/lcp-src
    [ "${MMVQ_FUSION:-0}" = 1 ] && bash $REPO/scripts/cuda_mmvq_fusion.sh /tmp/lcp-src
    cd /tmp/lcp-src
    CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90" CMAKE_BUILD_PARALLEL_LEVEL=$(( $(nproc) - 1 )) \
      python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target /tmp/site2 .
    cd $REPO && python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target /tmp/site3 . && echo BUILD_OK
  ) > $R/build.log 2>&1
  tail -5 $R/build.log > $RES/build_tail.txt
  grep -q BUILD_OK $R/build.log || { echo "exit 1 (build)" > $R/done; exit 1; }
}
bench_traced() {  # usage: bench_traced NAME PROMPTS [BENCH ARGS...]: the bench of $M on the GPU, 12 prompts, 128
  local name=$1 prompts=$2; shift 2  # tokens, median of 3, traced; results and trace in $RES
  installed python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $prompts --n-prompts 12 --max-tokens 128 \
    --repeats 3 --tau-sweep '' --lookup '' "$@" --json $RES/bench_gpu_q8_0_$name.json \
    --trace $RES/trace_gpu_q8_0_$name.jsonl > $RES/bench_gpu_q8_0_$name.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$name.jsonl; cat $RES/bench_gpu_q8_0_$name.txt
}
write_gsm8k_heldout_prompts() {  # GSM8K test questions 101-112: a set no rule of the policy was judged on
  python3 - <<'PY'
import json
rows = [json.loads(l) for l in open('/tmp/data/test.jsonl')][100:112]
with open('/tmp/data/gsm8k_heldout_prompts.jsonl', 'w') as f:
    for r in rows:
        f.write(json.dumps({"prompt": r["question"], "answer": r["answer"].split("####")[-1].strip()}) + "\n")
PY
}
fused_parity_and_quick_curve() {  # jobs AE, AF: an 8-token pass of $M against eight one-token passes, fused and with
  # GGML_CUDA_DISABLE_FUSION=1 (benchmarks/pass_parity.py), then the quick curve; touches $R/calib_done
  installed python3 $REPO/benchmarks/pass_parity.py -m $M --n-gpu-layers -1 --n 8 --save /tmp/fused8.npy \
    --json $RES/parity_fused_s23.json
  ( export GGML_CUDA_DISABLE_FUSION=1
    installed python3 $REPO/benchmarks/pass_parity.py -m $M --n-gpu-layers -1 --n 8 --against /tmp/fused8.npy \
      --json $RES/parity_unfused_s23.json )
  installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --quick --json > $RES/calibrate_gpu_q8_0_fused_quick_s23.json
  python3 -c "import json; d=json.load(open('$RES/calibrate_gpu_q8_0_fused_quick_s23.json')); print(d['sizes'], {k: [round(x, 3) for x in v] for k, v in d['cost_ms'].items()})"
  touch $R/calib_done
}
carried_llama_cpp_metadata() {  # the package of build_cuda_libs_here.sh before session 24 had no dist-info, and
  # mtp-edge checks llama-cpp-python's version from it (session 24's first try of job AG stopped there)
  local d=/tmp/site2/llama_cpp_python-0.3.36.dist-info
  ls -d /tmp/site2/llama_cpp_python-*.dist-info > /dev/null 2>&1 && return 0
  mkdir -p $d && printf 'Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: 0.3.36\n' > $d/METADATA && touch $d/RECORD
}
carried_q8_0_on_gpu() {  # jobs AF-AH: the paths, the carried CUDA llama-cpp-python (.carry/l1-l3, built by
  # build_cuda_libs_here.sh) in /tmp/site2, mtp-edge built here in /tmp/site3, the GSM8K prompt file, and the shipped
  # adapter merged to Q8_0 at $M; writes $R/done and exits when mtp-edge does not build
  job_paths
  mkdir -p /tmp/site2 && cat /tmp/gg/lpart_* | tar xzf - -C /tmp/site2
  carried_llama_cpp_metadata
  export LD_LIBRARY_PATH=/tmp/site2/llama_cpp/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  python3 -m pip install --no-build-isolation --no-deps --no-cache-dir --target /tmp/site3 . > $R/build.log 2>&1 \
    || { echo "exit 1 (mtp-edge build)" > $R/done; exit 1; }
  write_gsm8k_prompts
  M=/tmp/mtp_q8_0.gguf
  installed python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype q8_0 -o $M -q
}
