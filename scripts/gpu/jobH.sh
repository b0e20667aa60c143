# Life H (one GPU): the capacity test for the Eff. k plateau on top of run 4's progress (docs/TRAINING.md, "What
# next"), beside the traced bench. Two trainers share the GPU, both warm-started from the shipped run-4 adapter with
# held-out curves: LoRA grown from rank 32 to rank 128 (same function at step 0) at run 6's lr, and full fine-tuning
# (the adapter merged into the weights) at 5e-5. Run 6 (rank 32, same start, lr 3e-4) is the control: its held-out
# match moved by at most 0.02 per row in 1,100 steps of batch 128. Batch 64 each (two at 128 do not fit), the
# schedule in steps doubled to match run 6's in sequences. While the CUDA build runs they train; then both are stopped
# by SIGTERM (saved), the bench runs alone with --trace, both resume until DEADLINE, and the three models (shipped,
# rank 128, full) are merged to Q8_0 and measured side by side through the runtime on the GPU (100 GSM8K test
# questions, ConfAdapt tau 0.9 and 0.8).
# Usage: bash .carry/dev/call3.sh jobH.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 4
COMMON="--base $BASE --data /tmp/data/teacher_answers.jsonl --holdout-data /tmp/data/holdout.jsonl --holdout-n 256
  --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --init-adapter $SHIPPED --warmup 60 --regions 12
  --batch 64 --steps ${HORIZON:-2400} --save-every 100 --log-every 20 --no-progress --ntp-weight 3"
declare -A MODE=([r128]="--lora-rank 128 --lr 3e-4" [full]="--full --lr ${FULL_LR:-5e-5}")
RUNS="r128 full"
for r in $RUNS; do mkdir -p $R/out_$r; cp $R/out/self_prompted.jsonl $R/out_$r/; done
# 1. both trainers while the build runs; stopped (and saved) once the build is done and both have begun
PIDS=""; LOGS=""
for r in $RUNS; do python3 -m mtp_edge distill $COMMON ${MODE[$r]} --out $R/out_$r > $R/log_$r 2>&1 & PIDS="$PIDS $!"; LOGS="$LOGS $R/log_$r"; done
stop_trainers_after_build "$LOGS" $PIDS
# 2. the GPU bench with per-pass traces, alone on the GPU
gpu_bench_alone
# 3. both trainers resumed until DEADLINE
LEFT=$(( DEADLINE - $(date +%s) ))
PIDS=""
for r in $RUNS; do
  [ $LEFT -gt 90 ] && { python3 -m mtp_edge distill $COMMON ${MODE[$r]} --out $R/out_$r --resume --time-limit $(( LEFT - 45 )) >> $R/log_$r 2>&1 & PIDS="$PIDS $!"; }
done
wait $PIDS
for r in $RUNS; do grep '^{' $R/log_$r | grep holdout > $RES/holdout_$r.jsonl; cp $R/log_$r $RES/; done
# 4. the three models through the runtime on the GPU (the installed package, from /tmp: cuda.sh `installed`)
merge_to_q8_0 r128 $BASE $R/out_r128/model
merge_to_q8_0 full $R/out_full/model
eval_models_on_gpu q8_0 r128 full
echo "exit 0" > $R/done
