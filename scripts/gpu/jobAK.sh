# Life AK (one GPU, session 25): the 4-warp matmul for passes of 5-8 tokens (scripts/cuda_mmvq_wide.sh) on top of
# the keyed, fusion-capped build (cap 4), rebuilt here and carried as .carry/l1-l3. On an H100 a pass cost 1.28 ms at
# 4 tokens and 1.49 at 5 (session 25's jobAH, caps 4 and 8 alike): llama.cpp drops from 4 warps to 2 there. Order:
# parity of 5- and 8-token passes (wide against MTP_EDGE_MMVQ_WIDE=0 and against one-token passes), the full curve
# with MTP_EDGE_MMVQ_WIDE=0 and 1 alternated, GSM8K and chat benches with it on.
# Usage: the part calls, the three library calls, `call3.sh jobAK.sh 0; pollI.sh N gsm8k_done`, `pollI.sh N done`
# (short of device time: `PARITY_NS=8 WIDES="0 1" SKIP_CHAT=1 bash .carry/dev/call3.sh jobAK.sh 0`).
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
carried_q8_0_on_gpu
( nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  for n in ${PARITY_NS:-5 8}; do
    MTP_EDGE_MMVQ_WIDE=0 installed python3 $REPO/benchmarks/pass_parity.py -m $M --n-gpu-layers -1 --n $n \
      --save /tmp/narrow$n.npy --json $RES/parity_narrow${n}_s25.json
    MTP_EDGE_MMVQ_WIDE=1 installed python3 $REPO/benchmarks/pass_parity.py -m $M --n-gpu-layers -1 --n $n \
      --against /tmp/narrow$n.npy --json $RES/parity_wide${n}_s25.json
  done
  for wide in ${WIDES:-0 1 0 1}; do
    MTP_EDGE_MMVQ_WIDE=$wide installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json \
      > $RES/calibrate_wide${wide}.json
    python3 -c "import json; d=json.load(open('$RES/calibrate_wide${wide}.json')); print('wide $wide', [round(x, 3) for x in d['cost_ms']['512'][:10]])"
    cp $RES/calibrate_wide${wide}.json $RES/calibrate_wide${wide}_$(date +%s).json
  done
  touch $R/calib_done
  bench_traced gsm8k_wide_s25 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,8; touch $R/gsm8k_done
  [ "${SKIP_CHAT:-0}" = 1 ] || bench_traced chat_wide_s25 chat --k-sweep 4,8
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
