# Life X (one GPU, session 19, ~650 s of device time): job W again at session 19's main, where the prior's near ties
# (within 3%) go to the smaller pass size; the sweep adds k_max = 3, the size the new prior picks on an H200's curve.
# Prompt sets: chat, GSM8K, the held-out chat requests (docs/results/chat_heldout_prompts.jsonl) and GSM8K test
# questions 101-112. Usage as job T: `call3.sh jobX.sh 0`, then pollI.sh 280 done and pollI.sh 330 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
write_gsm8k_heldout_prompts
bench_t() {  # usage: bench_t NAME PROMPTS: the short list of rows, traced
  installed python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $2 --n-prompts 12 --max-tokens 128 \
    --repeats 3 --k-sweep 3,4,6 --tau-sweep '' --lookup '' --json $RES/bench_gpu_q8_0_$1.json \
    --trace $RES/trace_gpu_q8_0_$1.jsonl > $RES/bench_gpu_q8_0_$1.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$1.jsonl; cat $RES/bench_gpu_q8_0_$1.txt
}
( bench_t chat_s19x chat
  bench_t gsm8k_s19x /tmp/data/gsm8k_prompts.jsonl
  bench_t chatheldout_s19x $REPO/docs/results/chat_heldout_prompts.jsonl
  bench_t gsm8kheldout_s19x /tmp/data/gsm8k_heldout_prompts.jsonl
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
