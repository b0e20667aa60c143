# Life Y (one GPU, session 20, ~660 s of device time): top-1 rows computed in llama.cpp's graph (device rows, the
# GPU default of the commit it ran) against host rows, side by side in every bench (--compare-rows), on chat, GSM8K
# and the two held-out sets. Device rows lost everywhere and are off by default since; the same benches with host
# rows as the default are what scripts/gpu/README.md's session-20 calls ran after it. Usage as job X: `call3.sh jobY.sh 0` with `pollI.sh 495 done`, then pollI.sh 330 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
write_gsm8k_heldout_prompts
( for rows in device-rows no-device-rows; do
    installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --$rows --json > $RES/calibrate_gpu_q8_0_${rows}_s20.json
  done
  bench_traced chat_s20 chat --k-sweep 4,6 --compare-rows
  bench_traced gsm8k_s20 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,6 --compare-rows
  bench_traced chatheldout_s20 $REPO/docs/results/chat_heldout_prompts.jsonl --k-sweep 4,6 --compare-rows
  bench_traced gsm8kheldout_s20 /tmp/data/gsm8k_heldout_prompts.jsonl --k-sweep 4,6 --compare-rows
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
