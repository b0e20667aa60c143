# Life G (one GPU): the capacity test for the Eff. k plateau (docs/TRAINING.md, "What next") beside the traced bench.
# Two trainers share the GPU from the base (no warm start), run 2's recipe at batch 64 (two at batch 128 would not fit
# the H200: one trainer reserved ~88 GB in session 6), one at LoRA rank 32 and one at rank 128,
# each with the held-out curve, so the ranks compare at equal steps on the same data. While the CUDA build runs
# they train; then both are stopped by SIGTERM (saved), the bench runs alone with --trace (auto at tau 0.9 first
# measured with per-regime rule memory), and both resume until DEADLINE.
# Usage: bash .carry/dev/call3.sh jobG.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 4
RANKS=${RANKS:-32 128}
train_args() {  # usage: train_args RANK
  echo "--base $BASE --data /tmp/data/teacher_answers.jsonl --out $R/out_r$1 --self-prompt 6144 --gen-batch 1024
    --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384
    --k-max 6 --lora-rank $1 --lr 4e-4 --warmup 60 --regions 12 --batch ${BATCH:-64} --steps ${HORIZON:-3000} --save-every 100
    --log-every 20 --no-progress --ntp-weight 3"
}
for r in $RANKS; do mkdir -p $R/out_r$r; cp $R/out/self_prompted.jsonl $R/out_r$r/; done
# 1. both trainers while the build runs; stopped (and saved) once the build is done and both have begun
PIDS=""; LOGS=""
for r in $RANKS; do python3 -m mtp_edge distill $(train_args $r) > $R/log_r$r 2>&1 & PIDS="$PIDS $!"; LOGS="$LOGS $R/log_r$r"; done
stop_trainers_after_build "$LOGS" $PIDS
# 2. the GPU bench with per-pass traces, alone on the GPU
gpu_bench_alone
# 3. both trainers resumed until DEADLINE
LEFT=$(( DEADLINE - $(date +%s) ))
PIDS=""
for r in $RANKS; do
  [ $LEFT -gt 90 ] && { python3 -m mtp_edge distill $(train_args $r) --resume --time-limit $(( LEFT - 45 )) >> $R/log_r$r 2>&1 & PIDS="$PIDS $!"; }
done
wait $PIDS
for r in $RANKS; do grep '^{' $R/log_r$r | grep -E 'holdout|"step": (0|1000|2000),' | tail -3 > $RES/holdout_r$r.txt; cp $R/log_r$r $RES/; done
echo "exit 0" > $R/done
