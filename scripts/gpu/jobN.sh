# Life N (one GPU, no CUDA build): does a mask embedding per slot ("range" mask mode, METHOD.md 1) let the 135M
# model's mask rows see further than one shared mask? Two rank-32 trainers share the GPU, both warm-started from the
# shipped adapter (run 10 shrunk to rank 32) on the same data (GSM8K teacher answers + the self-prompted requests),
# schedule and seed; they differ only in --mask-mode. The range run starts as an exact copy of the shipped model
# (every slot's row = the trained mask row), so its held-out curve against the single run's is the effect of the
# per-slot rows alone (the single run is the control: a rank-32 run from a shrunk start may recover some of the
# shrink). Both adapters (19.6 MB each, the shipping size) come back in 15 MB parts for the runtime on the CPU.
# Usage: bash .carry/dev/call3.sh jobN.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
sed -n 1001,1256p /tmp/data/test.jsonl > /tmp/data/holdout.jsonl  # held out: the eval tables use the first questions
COMMON="--base $BASE --data /tmp/data/teacher_answers.jsonl --self-prompt 5011 --holdout-data /tmp/data/holdout.jsonl
  --holdout-n 256 --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --regions 12 --batch 64
  --init-adapter $REPO/mtp_edge/assets/smollm2_mtp --lora-rank 32 --lr ${LR:-3e-4} --warmup 30 --steps ${HORIZON:-2000}
  --save-every 100 --log-every 20 --no-progress --ntp-weight 3"
LEFT=$(( DEADLINE - $(date +%s) ))
PIDS=""
for m in range single; do
  mkdir -p $R/out_$m; cp $R/out/self_prompted.jsonl $R/out_$m/
  python3 -m mtp_edge distill $COMMON --mask-mode $m --out $R/out_$m --time-limit $(( LEFT - 60 )) > $R/log_$m 2>&1 &
  PIDS="$PIDS $!"
done
wait $PIDS
for m in range single; do
  grep '^{' $R/log_$m | grep holdout > $RES/holdout_$m.jsonl; cp $R/log_$m $RES/
  tar cf - -C $R/out_$m model | split -b 15000000 - $R/adapter.tar.part_${m}_
done
ls -la $R/adapter.tar.part_* > $RES/parts.txt
echo "exit 0" > $R/done
