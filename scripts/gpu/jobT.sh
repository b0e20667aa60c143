# Life T (one GPU, session 16, second machine, ~700 s of device time): auto's pass size after next_fixed_pass (the
# prior's size until the estimate rests on enough passes), on llama.cpp with one CUDA graph per pass size only (one
# build). The short list of rows, in order of what matters: chat, GSM8K, chat again; each writes its JSON after
# every prompt. Usage: the one-line first call, call2.sh x2, `call3.sh jobT.sh 0`, then pollI.sh 280 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
bench_t() {  # usage: bench_t NAME PROMPTS: the short list of rows, traced
  installed python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $2 --n-prompts 12 --max-tokens 128 \
    --repeats 3 --k-sweep 4,6 --tau-sweep '' --lookup '' --json $RES/bench_gpu_q8_0_$1.json \
    --trace $RES/trace_gpu_q8_0_$1.jsonl > $RES/bench_gpu_q8_0_$1.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$1.jsonl; cat $RES/bench_gpu_q8_0_$1.txt
}
( bench_t chat_keyed chat
  bench_t gsm8k_keyed /tmp/data/gsm8k_prompts.jsonl
  bench_t chat2_keyed chat
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
