# Life F (one GPU): as life E (the CUDA build on the CPUs while the GPU writes data and trains; the trainer stopped
# by SIGTERM for the bench alone on the GPU; training resumed until DEADLINE), with two changes: run 6 tests the
# memorisation hypothesis (one more teacher answer per question sampled at temperature 0.7, and a held-out curve
# on 256 GSM8K test questions never trained on), and while phase 2 trains the paper-style table of the shipped
# model runs through the runtime on the CPUs (one process per row, 1 thread each, the GPU hidden from them).
# Usage: bash .carry/dev/call3.sh jobF.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup
DATA=/tmp/data/teacher_answers.jsonl; [ -f $DATA ] || DATA="/tmp/data/train.jsonl --self-generate"
TRAIN="--base $BASE --data $DATA --out $R/out --self-prompt 6144 --gen-batch 1024 --gen-samples ${SAMPLES:-1}
  --gen-temperature 0.7 --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 --holdout-every 100
  --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --lora-rank 32 --init-adapter $SHIPPED --lr ${LR:-3e-4} --warmup 30
  --regions 12 --batch 128 --steps ${HORIZON:-1200} --save-every 100 --log-every 20 --no-progress --ntp-weight 3"
# 1. data + training phase 1 while the build runs; stopped (and saved) once the build is done and training has begun
python3 -m mtp_edge distill $TRAIN > $R/log 2>&1 &
TRAINER=$!
stop_trainers_after_build $R/log $TRAINER; echo "phase 1 exit $?" >> $R/log
# 2. the GPU bench, alone on the GPU
gpu_bench_alone
export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site  # the table's processes: the CUDA build, torch kept out
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
