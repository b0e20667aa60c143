# Life AB (one GPU, ~700 s of device time): session 21's shipped adapter (run 13: run 11 on twice the distinct text;
# on the CPU GSM8K lossless 2.66 -> 2.77 and chat confadapt_verify 1.71 -> 1.78 tokens a pass) on the GPU with main's
# rules (host rows), the four sets of session 20 (chat, GSM8K, and the two held-out sets), so its speedups stand
# beside run 11's in docs/RESULTS.md "Session 20". Usage as job Y: `call3.sh jobAB.sh 0; pollI.sh 495 done`, then
# `pollI.sh 330 done` (the part calls are README's session-21 table: X = a_2, a2, b_1, b_2, b2).
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
write_gsm8k_heldout_prompts
( installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json > $RES/calibrate_gpu_q8_0_s22.json
  bench_traced chat_run13 chat --k-sweep 4,6
  bench_traced gsm8k_run13 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,6
  bench_traced chatheldout_run13 $REPO/docs/results/chat_heldout_prompts.jsonl --k-sweep 4,6
  bench_traced gsm8kheldout_run13 /tmp/data/gsm8k_heldout_prompts.jsonl --k-sweep 4,6
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
