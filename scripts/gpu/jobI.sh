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
train_around_bench r128 "$COMMON"
merge_to_q8_0 r128 $BASE $R/out_r128/model
eval_models_on_gpu q8_0 r128
echo "exit 0" > $R/done
