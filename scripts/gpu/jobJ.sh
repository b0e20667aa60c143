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
mkdir -p $R/out_r128; cp $R/out/self_prompted.jsonl $R/out_r128/
python3 -m mtp_edge distill $COMMON --out $R/out_r128 > $R/log_r128 2>&1 & PID=$!
stop_trainers_after_build "$R/log_r128" $PID
gpu_bench_alone
LEFT=$(( DEADLINE - $(date +%s) ))
[ $LEFT -gt 90 ] && python3 -m mtp_edge distill $COMMON --out $R/out_r128 --resume --time-limit $(( LEFT - 45 )) >> $R/log_r128 2>&1
grep '^{' $R/log_r128 | grep holdout > $RES/holdout_r128.jsonl; cp $R/log_r128 $RES/
# 15 MB parts: a 40 MB file does not come back from the machine
tar cf - -C $R/out_r128 model | split -b 15000000 - $R/adapter.tar.part_
# from /tmp: `python3 -m` puts the current directory (the checkout, without mtp_edge.convert) first on the path
export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site
cd /tmp
python3 -m mtp_edge convert $BASE --adapter $R/out_r128/model --outtype q8_0 -o /tmp/mtp_r128.gguf -q
for m in q8_0 r128; do  # one after the other: three at once on the GPU took 7x as long a row
  [ -f /tmp/mtp_$m.gguf ] && python3 $REPO/benchmarks/eval_runtime_gsm8k.py -m /tmp/mtp_$m.gguf \
    --data /tmp/data/test.jsonl --n ${EVAL_N:-100} --max-tokens 200 --n-gpu-layers -1 --settings headline --only 1,2 \
    --json $RES/eval_gpu_$m.json > $RES/eval_gpu_$m.log 2>&1
  tail -4 $RES/eval_gpu_$m.log
done
echo "exit 0" > $R/done
