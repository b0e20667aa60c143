# Life F (one GPU): as life E (the CUDA build on the CPUs while the GPU writes data and trains; the trainer stopped
# by SIGTERM for the bench alone on the GPU; training resumed until DEADLINE), with two changes: run 6 tests the
# memorisation hypothesis (one more teacher answer per question sampled at temperature 0.7, and a held-out curve
# on 256 GSM8K test questions never trained on), and while phase 2 trains the paper-style table of the shipped
# model runs through the runtime on the CPUs (one process per row, 1 thread each, the GPU hidden from them).
# Usage: bash .carry/dev/call3.sh jobF.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
BUILD_JOBS=$(( $(nproc) - 2 )); source .carry/dev/cuda.sh; start_cuda_build
sed -n 1001,1256p /tmp/data/test.jsonl > /tmp/data/holdout.jsonl  # the eval tables use the first questions
DATA=/tmp/data/teacher_answers.jsonl; [ -f $DATA ] || DATA="/tmp/data/train.jsonl --self-generate"
TRAIN="--base $BASE --data $DATA --out $R/out --self-prompt 6144 --gen-batch 1024 --gen-samples ${SAMPLES:-1}
  --gen-temperature 0.7 --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 --holdout-every 100
  --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --lora-rank 32 --init-adapter $SHIPPED --lr ${LR:-3e-4} --warmup 30
  --regions 12 --batch 128 --steps ${HORIZON:-1200} --save-every 100 --log-every 20 --no-progress --ntp-weight 3"
# 1. data + training phase 1 while the build runs; stopped (and saved) once the build is done and training has begun
python3 -m mtp_edge distill $TRAIN > $R/log 2>&1 &
TRAINER=$!
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
until grep -q '^train:' $R/log || ! kill -0 $TRAINER 2>/dev/null; do sleep 2; done; sleep 5
kill -TERM $TRAINER; wait $TRAINER; echo "phase 1 exit $?" >> $R/log
# 2. the GPU bench, alone on the GPU
write_gsm8k_prompts
export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site
( cd /tmp
  python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  T=q8_0; bench_on_gpu $T
  python3 $REPO/benchmarks/bench_pass_overhead.py -m /tmp/mtp_$T.gguf --n-gpu-layers -1 --repeats 3 \
    --max-tokens 128 --json $RES/pass_overhead_gpu_$T.json > $RES/pass_overhead_gpu_$T.txt 2>&1
  echo BENCH_DONE ) > $R/bench.log 2>&1
touch $R/bench_done
# 3. the paper table of the shipped model on the CPUs (rows in parallel), while training phase 2 runs on the GPU
mkdir -p $RES/table
for i in $(seq 0 10); do
  ( cd /tmp && CUDA_VISIBLE_DEVICES="" python3 $REPO/benchmarks/eval_runtime_gsm8k.py -m /tmp/mtp_q8_0.gguf \
      --original $BASE --data /tmp/data/test.jsonl --n ${EVAL_N:-100} --max-tokens 200 --threads 1 --only $i \
      --json $RES/table/row$i.json > $RES/table/row$i.log 2>&1 ) &
done
LEFT=$(( DEADLINE - $(date +%s) ))
[ $LEFT -gt 90 ] && PYTHONPATH=/tmp/site:$REPO python3 -m mtp_edge distill $TRAIN --resume --time-limit $(( LEFT - 45 )) >> $R/log 2>&1
echo "exit $?" > $R/done
