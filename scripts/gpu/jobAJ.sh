# Life AJ (one GPU, session 25): the peer a Python user has today, on the default build (fusion cap 4): GSM8K and
# chat with llama-cpp-python's prompt-lookup decoding (2 and 10 drafted tokens) beside plain and mtp-edge's rows.
# Usage: the part calls, the three library calls, `call3.sh jobAJ.sh 0; pollI.sh N done`.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
carried_q8_0_on_gpu
( nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  bench_traced gsm8k_lookup_cap4_s25 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4 --lookup 2,10; touch $R/gsm8k_done
  bench_traced chat_lookup_cap4_s25 chat --k-sweep 4 --lookup 2,10
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
