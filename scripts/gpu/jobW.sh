# Life W (one GPU, session 18, ~600 s of device time): session 18's policy (the margin holds the prior's pass size too;
# the guard keeps masks unless plain is 3% faster a token; verifying passes up to the trained k_max + 2) on the prompt
# sets of job V, and on prompts no policy change was judged on: 12 chat requests written for this
# (docs/results/chat_heldout_prompts.jsonl) and GSM8K test questions 101-112. Usage as job T: `call3.sh jobW.sh 0`,
# then pollI.sh 280 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
write_gsm8k_heldout_prompts
bench_t() {  # usage: bench_t NAME PROMPTS: the short list of rows, traced
  installed python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $2 --n-prompts 12 --max-tokens 128 \
    --repeats 3 --k-sweep 4,6 --tau-sweep '' --lookup '' --json $RES/bench_gpu_q8_0_$1.json \
    --trace $RES/trace_gpu_q8_0_$1.jsonl > $RES/bench_gpu_q8_0_$1.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$1.jsonl; cat $RES/bench_gpu_q8_0_$1.txt
}
( bench_t chat_s18w chat
  bench_t gsm8k_s18w /tmp/data/gsm8k_prompts.jsonl
  bench_t chatheldout_s18w $REPO/docs/results/chat_heldout_prompts.jsonl
  bench_t gsm8kheldout_s18w /tmp/data/gsm8k_heldout_prompts.jsonl
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
