# Life V (one GPU, session 18, ~600 s of device time): session 17's decoder (prompt-lookup drafts in the verifying
# modes; auto's pass size kept by the margin only when chosen on evidence) and session 18's: auto sizes verifying
# passes up to the trained k_max + 2, the masks in untrained slots only proposing. Rows as job T: chat, GSM8K, chat
# again, traced, each writing its JSON after every prompt; then benchmarks/lookup_drafts.py at one pass size (4, 6,
# 8), the fixed sizes auto is measured against. Usage as job T: `call3.sh jobV.sh 0`, then pollI.sh 280 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
bench_t() {  # usage: bench_t NAME PROMPTS [LOOKUP]: the short list of rows, traced (LOOKUP: the peer's drafts)
  installed python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $2 --n-prompts 12 --max-tokens 128 \
    --repeats 3 --k-sweep 4,6 --tau-sweep '' --lookup "${3:-}" --json $RES/bench_gpu_q8_0_$1.json \
    --trace $RES/trace_gpu_q8_0_$1.jsonl > $RES/bench_gpu_q8_0_$1.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$1.jsonl; cat $RES/bench_gpu_q8_0_$1.txt
}
( bench_t chat_s18 chat
  bench_t gsm8k_s18 /tmp/data/gsm8k_prompts.jsonl 10
  bench_t chat2_s18 chat
  installed python3 $REPO/benchmarks/lookup_drafts.py -m $M --n-gpu-layers -1 --prompts /tmp/data/gsm8k_prompts.jsonl,chat \
    --n-prompts 12 --sizes 4,6,8 --repeats 2 --json $RES/lookup_drafts_gpu_q8_0_s18.json
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
