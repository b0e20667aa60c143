# Life J (one GPU): (1) the traced bench at main (the guard leaves each generation's first two passes untimed and
# prices a change of pass shape: the replay of four H200 traces puts auto tau 0.9 at 97% of the best fixed row);
# (2) run 8's rank-128 adapter (carried by calladd.sh to /tmp/add/r128) trained on for the whole life, the cosine
# annealed to its end; then the shipped model (run 8 shrunk to rank 32) and the new rank-128 model through the
# runtime on the GPU, one after the other; the new adapter comes back in 15 MB parts (pollI.sh 5 done aa|ab|...).
# Usage: bash .carry/dev/call3.sh jobJ.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 4
[ -d /tmp/add/r128 ] || { echo "no /tmp/add/r128: run calladd.sh with .carry/r1, r2, r3 first"; exit 1; }
COMMON="--base $BASE --data /tmp/data/teacher_answers.jsonl --holdout-data /tmp/data/holdout.jsonl --holdout-n 256
  --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --init-adapter /tmp/add/r128 --warmup 30 --regions 12
  --batch 128 --steps ${HORIZON:-1100} --save-every 100 --log-every 20 --no-progress --ntp-weight 3 --lora-rank 128 --lr 2e-4"
train_around_bench r128 "$COMMON"
merge_to_q8_0 r128 $BASE $R/out_r128/model
eval_models_on_gpu q8_0 r128
echo "exit 0" > $R/done
