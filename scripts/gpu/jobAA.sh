# Life AA (one GPU, no CUDA build): two levers against the 135M plateau (runs 5-12: held-out match flat within
# +-0.016 a row whatever the rank, steps or sampled answers), each alone against the known-flat control (run 12:
# the same start, data and hard loss moved no row by more than 0.01). Both start from the shipped adapter (run 11,
# rank 32, range masks: the shipping size, so no shrink after), batch 64 each, sharing the GPU:
#  soft:  --soft-weight 0.5 (half the loss is KL to the teacher's whole distribution at each row: knowledge
#         distillation, more signal per example than the argmax) on run 11's data;
#  fresh: the hard loss on ~2x the distinct text: run 11's data plus ~14k NEW self-prompted chat requests with the
#         teacher's answers (--seed 1, so requests unlike the committed seed-0 ones; the chat share is where the
#         runtime is weakest: chat Eff. k 1.1-1.4 against 2.0+ on GSM8K).
# Both stop at the deadline by SIGTERM (a clean stop: saved, holdout measured); the adapters (19.7 MB each) come
# back in 15 MB parts (pollI.sh 200 done "soft_aa soft_ab fresh_aa fresh_ab"), the new requests in results/.
# Usage: bash .carry/dev/call3.sh jobAA.sh SECONDS_AFTER_T0 (about 1500)
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES $R/out_soft $R/out_fresh; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
training_text
cp $R/out/self_prompted.jsonl $R/out_soft/  # run 11's 5,011 requests (cached: not regenerated)
COMMON="--base $BASE --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 --holdout-every 100
  --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --regions 12 --batch 64 --mask-mode range
  --init-adapter $REPO/mtp_edge/assets/smollm2_mtp --lora-rank 32 --lr ${LR:-3e-4} --warmup 30
  --save-every 100 --log-every 20 --no-progress --ntp-weight 3"
LEFT=$(( DEADLINE - $(date +%s) - 45 ))
timeout -s TERM $LEFT python3 -m mtp_edge distill $COMMON --data /tmp/data/teacher_answers.jsonl --self-prompt 5011 \
  --soft-weight 0.5 --steps ${HORIZON_SOFT:-1500} --out $R/out_soft > $R/log_soft 2>&1 &
P1=$!
timeout -s TERM $LEFT python3 -m mtp_edge distill $COMMON --data /tmp/data/teacher_answers.jsonl \
  /tmp/data/self_prompted_seed0.jsonl --self-prompt ${NEW_PROMPTS:-15000} --seed 1 --gen-batch 1024 \
  --steps ${HORIZON_FRESH:-1000} --out $R/out_fresh > $R/log_fresh 2>&1 &
P2=$!
wait $P1 $P2
for m in soft fresh; do
  grep '^{' $R/log_$m | grep holdout > $RES/holdout_$m.jsonl; cp $R/log_$m $RES/
  tar cf - -C $R/out_$m model | split -b 15000000 - $R/adapter.tar.part_${m}_
done
gzip -c $R/out_fresh/self_prompted.jsonl > $RES/self_prompted_seed1.jsonl.gz
ls -la $R/adapter.tar.part_* > $RES/parts.txt
echo "exit 0" > $R/done
