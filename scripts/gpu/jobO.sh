# Life O (one GPU, session 13): the traced Q8_0 bench of the session-12 model (range masks, ProbeSchedule in auto)
# with the GPU alone, then GSM8K accuracy on the whole test set (1,319 questions; 100 leave every row at 0-3
# correct; questions 0-499 ran on the workplace CPU in session 13, so shards start at ACC_FROM=500): the original model at k=1 (the Q4_1 file itself: the MTP Q8_0 is its dequantized weights plus the adapter), the MTP model at k=1, ConfAdapt and confadapt_verify at tau 0.9,
# in shards of 40 questions claimed by 15 one-thread CPU workers and one GPU worker until $DEADLINE - 60; the merge
# keeps the shards every row finished, so the rows compare on the same questions however far it got.
# Usage: bash .carry/dev/call3.sh jobO.sh 1540, then pollI.sh 290 bench_done until it is there, then pollI.sh 290 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 2
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
gpu_bench_alone
Q=$R/acc; mkdir -p $Q; EVAL_END=$(( DEADLINE - 60 ))
eval_worker() {  # usage: eval_worker EXTRA_ARGS: claims (shard, row) pairs in order (mkdir is atomic) until EVAL_END
  local s i left
  for s in $(seq ${ACC_FROM:-500} 40 1318); do for i in 0 1 2 3; do  # 0-499: session 13, this CPU
    left=$(( EVAL_END - $(date +%s) )); [ $left -gt 5 ] || return 0
    mkdir $Q/claim_${s}_$i 2>/dev/null || continue
    installed timeout $left python3 $REPO/benchmarks/eval_runtime_gsm8k.py -m /tmp/mtp_q8_0.gguf \
      --original $BASE --data /tmp/data/test.jsonl --skip $s --n 40 --max-tokens 200 \
      --settings accuracy --only $i $1 --json $Q/part_${s}_$i.json > /dev/null 2> $Q/log_${s}_$i
  done; done
}
eval_worker "--threads 1 --n-gpu-layers -1" &
for w in $(seq 15); do eval_worker "--threads 1" & done
wait
ls $Q/part_*.json | wc -l
installed python3 $REPO/benchmarks/eval_runtime_gsm8k.py --merge $Q/part_*.json --json $RES/eval_full_accuracy.json \
  > $RES/eval_full_accuracy.txt 2>&1; cat $RES/eval_full_accuracy.txt
tar czf $RES/acc_parts.tgz -C $R acc
echo "exit 0" > $R/done
