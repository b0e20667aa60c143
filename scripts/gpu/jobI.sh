# Life I (one GPU): (1) the traced bench at main's policy (smoothed guard, per-generation pass size: session 7's replay
# predicts auto tau 0.9 ~98% of the best fixed row), alone on the GPU; (2) the capacity direction run 7 left open:
# LoRA grown from rank 32 to rank 128 on top of run 4, ONE trainer at batch 128 for the whole life (run 6's recipe
# and schedule in sequences, rank the only change: run 6 is the control), held-out curve every 100 steps; then the
# shipped and the rank-128 model merged to Q8_0 and measured side by side through the runtime on the GPU; the
# rank-128 adapter comes back in two parts (pollI.sh 5 aa, pollI.sh 5 ab).
# Usage: bash .carry/dev/call3.sh jobI.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 4
COMMON="--base $BASE --data /tmp/data/teacher_answers.jsonl --holdout-data /tmp/data/holdout.jsonl --holdout-n 256
  --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --init-adapter $SHIPPED --warmup 60 --regions 12
  --batch 128 --steps ${HORIZON:-1800} --save-every 100 --log-every 20 --no-progress --ntp-weight 3 --lora-rank 128 --lr 3e-4"
mkdir -p $R/out_r128; cp $R/out/self_prompted.jsonl $R/out_r128/
# 1. the trainer while the build runs; stopped (and saved) once the build is done and it has begun
python3 -m mtp_edge distill $COMMON --out $R/out_r128 > $R/log_r128 2>&1 & PID=$!
stop_trainers_after_build "$R/log_r128" $PID
# 2. the GPU bench with per-pass traces, alone on the GPU
gpu_bench_alone
# 3. the trainer resumed until DEADLINE
LEFT=$(( DEADLINE - $(date +%s) ))
[ $LEFT -gt 90 ] && python3 -m mtp_edge distill $COMMON --out $R/out_r128 --resume --time-limit $(( LEFT - 45 )) >> $R/log_r128 2>&1
grep '^{' $R/log_r128 | grep holdout > $RES/holdout_r128.jsonl; cp $R/log_r128 $RES/
tar cf - -C $R/out_r128 model | split -b 40000000 - $R/adapter.tar.part_
# 4. both models through the runtime on the GPU, side by side, with the installed package (the checkout alone has no
# mtp_edge.convert) and torch kept out of the runtime's processes
export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site
(cd /tmp && python3 -m mtp_edge convert $BASE --adapter $R/out_r128/model --outtype q8_0 -o /tmp/mtp_r128.gguf -q)  # from /tmp: python -m puts the cwd (the checkout) first
for m in q8_0 r128; do
  [ -f /tmp/mtp_$m.gguf ] && ( cd /tmp && python3 $REPO/benchmarks/eval_runtime_gsm8k.py -m /tmp/mtp_$m.gguf \
    --data /tmp/data/test.jsonl --n ${EVAL_N:-100} --max-tokens 200 --n-gpu-layers -1 --settings headline --only 1,2 \
    --json $RES/eval_gpu_$m.json > $RES/eval_gpu_$m.log 2>&1 )
  tail -4 $RES/eval_gpu_$m.log
done
echo "exit 0" > $R/done
