# Life AM (one GPU, session 27): run 15, the paper's full fine-tuning at higher learning rates (docs/TRAINING.md,
# "What next", item 2). Runs 5-14 (LoRA ranks 32-256, more steps, more text, soft targets) left the held-out match
# flat within +-0.01 a row; full fine-tuning was tried once, at 5e-5 (run 7: flat but for row 3, +0.03). Two
# full-FT trainers share the GPU, both from the shipped adapter merged into the weights (--full --init-adapter),
# run 13's data and settings (range masks, k in [2, 6], batch 64, --ntp-weight 3): lr 1.5e-4 and 4e-4. No CUDA build
# (nothing here needs llama.cpp): they train from the start until DEADLINE, then each is evaluated with the torch
# reference decoder (100 GSM8K test questions, headline settings) and merged to a Q8_0 GGUF in 15 MB parts for the
# polls (pollI.sh 300 done "f1aa f1ab ..."), where the CPU runtime measures it.
# Usage: the GGUF part calls (call table, scripts/gpu/README.md), then `call3.sh jobAM.sh SECONDS_AFTER_T0`, polls.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
job_paths
training_text
COMMON="--base $BASE --full --init-adapter $SHIPPED --holdout-data /tmp/data/holdout.jsonl --holdout-n 256
  --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --regions 12 --batch 64 --mask-mode range
  --warmup 30 --save-every 200 --log-every 20 --no-progress --ntp-weight 3 --steps ${HORIZON:-800}
  --data /tmp/data/teacher_answers.jsonl /tmp/data/self_prompted_seed0.jsonl /tmp/data/self_prompted_seed1.jsonl
  --eval-data /tmp/data/test.jsonl --eval-n 100 --eval-settings headline --eval-max-tokens 200"
declare -A LR=([f1]=${LR1:-1.5e-4} [f2]=${LR2:-4e-4})
LEFT=$(( DEADLINE - $(date +%s) ))
PIDS=""
for a in ${ARMS:-f1 f2}; do
  mkdir -p $R/out_$a
  python3 -m mtp_edge distill $COMMON --lr ${LR[$a]} --time-limit $LEFT --out $R/out_$a > $R/log_$a 2>&1 &
  PIDS="$PIDS $!"
done
# the shipped model through the same reference evaluation, beside them (the step-0 row of the table)
python3 -m mtp_edge.distill.evaluate --base $BASE --adapter $SHIPPED --data /tmp/data/test.jsonl --n 100 --batch 128 \
  --max-tokens 200 --settings headline --k-max 6 --json $RES/eval_ref_shipped.json > $RES/eval_ref_shipped.log 2>&1
wait $PIDS
for a in ${ARMS:-f1 f2}; do
  grep '^{' $R/log_$a | grep holdout > $RES/holdout_$a.jsonl; cp $R/log_$a $RES/
  cp $R/out_$a/eval.md $RES/eval_ref_$a.md 2>/dev/null; cp $R/out_$a/eval.json $RES/eval_ref_$a.json 2>/dev/null
done
# the converter from the checkout (env.sh gave it mtp_edge/convert, as pyproject installs it)
for a in ${ARMS:-f1 f2}; do
  ( cd /tmp && python3 -m mtp_edge convert $R/out_$a/model --outtype q8_0 \
      -o /tmp/run15_$a.q8_0.gguf -q ) > $RES/convert_$a.log 2>&1
  [ -f /tmp/run15_$a.q8_0.gguf ] && split -b 15000000 /tmp/run15_$a.q8_0.gguf $R/adapter.tar.part_$a
  sha256sum /tmp/run15_$a.q8_0.gguf >> $RES/parts.txt 2>/dev/null
done
ls -la $R/adapter.tar.part_* >> $RES/parts.txt
echo "exit 0" > $R/done
