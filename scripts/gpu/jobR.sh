# Life R (one GPU, no CUDA build): the shipped adapter (run 11, rank 32, range masks) grown to rank ${RANK:-96} and
# trained for the whole life on one trainer at batch 128 (session 12's recipe otherwise): jobQ.sh at twice its rank.
# Why rank 96: the 2x target at tau 0.9 needs ~2.9 tokens a pass on the H200 with flash attention (the model gives
# 2.33-2.39 on the bench's 12 GSM8K prompts, session 14); rank, not steps or text, is what moved the plateau (run 8:
# rank 32 -> 128 +0.15 Eff. k), and truncating back to rank 32 gave most of it away (runs 8, 10). A rank-96 adapter is
# 59 MB in fp16, ~30 MB with its factors stored in int8 (session 15: the shipping format this run is for).
# The adapter comes back in four 15 MB parts (pollI.sh 250 done "aa ab ac ad"); the runtime tables then run on the CPU.
# Usage: bash .carry/dev/call3.sh jobR.sh SECONDS_AFTER_T0 (about 1500: plan the end at t0 + ~1,500 s)
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES $R/out_r; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
sed -n 1001,1256p /tmp/data/test.jsonl > /tmp/data/holdout.jsonl  # held out: the eval tables use the first questions
cp $R/out/self_prompted.jsonl $R/out_r/
LEFT=$(( DEADLINE - $(date +%s) ))
python3 -m mtp_edge distill --base $BASE --data /tmp/data/teacher_answers.jsonl --self-prompt 5011 \
  --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 \
  --k-max 6 --regions 12 --batch 128 --init-adapter $REPO/mtp_edge/assets/smollm2_mtp --lora-rank ${RANK:-96} \
  --mask-mode range --lr ${LR:-3e-4} --warmup 30 --steps ${HORIZON:-1100} --save-every 100 --log-every 20 \
  --no-progress --ntp-weight 3 --out $R/out_r --time-limit $(( LEFT - 60 )) > $R/log_r 2>&1
grep '^{' $R/log_r | grep holdout > $RES/holdout_r.jsonl; cp $R/log_r $RES/
tar cf - -C $R/out_r model | split -b 15000000 - $R/adapter.tar.part_
ls -la $R/adapter.tar.part_* > $RES/parts.txt
echo "exit 0" > $R/done
