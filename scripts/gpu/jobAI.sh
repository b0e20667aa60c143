# Life AI (one GPU, session 25): session 25's job AH measured the fusion cap (cap 4 = the release's curve from 5
# tokens on, 7-8% cheaper at 2-4) and benched GSM8K and chat once at cap 4; this job repeats both and adds the
# held-out GSM8K and chat sets, all at the default cap 4, for the record of the default build.
# Usage: the part calls, the three library calls, `call3.sh jobAI.sh 0; pollI.sh N gsm8k_done`, `pollI.sh N done`.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
carried_q8_0_on_gpu
write_gsm8k_heldout_prompts
( nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  bench_traced gsm8k_cap4_s25b /tmp/data/gsm8k_prompts.jsonl --k-sweep 4; touch $R/gsm8k_done
  bench_traced chat_cap4_s25b chat --k-sweep 4
  bench_traced gsm8kheldout_cap4_s25 /tmp/data/gsm8k_heldout_prompts.jsonl --k-sweep 4
  bench_traced chatheldout_cap4_s25 $REPO/docs/results/chat_heldout_prompts.jsonl --k-sweep 4
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
