# Life AH (one GPU, session 24): the fusion cap measured side by side. Session 24's job AG found the fused 8-token
# pass no cheaper than the release's (579 kernels, as one token, but 1.78 ms against 1.64), fused 2-4-token passes
# 3-6% cheaper, and confadapt_verify then chose 4-token passes over 8. The library is rebuilt with
# MTP_EDGE_MMVQ_FUSION_MAX_COLS (scripts/cuda_mmvq_fusion.sh, default 4) and carried as .carry/l1-l3; this job
# calibrates caps 1 (the release), 4 and 8 one after another on one machine, then benches GSM8K and chat at the
# default cap 4 (the bench calibrates itself under the same setting).
# Usage: the part calls, the three library calls, `call3.sh jobAH.sh 0; pollI.sh N gsm8k_done`, `pollI.sh N done`
# (short of device time: `CAPS="1 4 8" SKIP_CHAT=1 bash .carry/dev/call3.sh jobAH.sh 0`).
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
carried_q8_0_on_gpu
( nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  for cap in ${CAPS:-1 4 8 1 4 8}; do
    MTP_EDGE_MMVQ_FUSION_MAX_COLS=$cap installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json \
      > $RES/calibrate_cap${cap}.json
    python3 -c "import json; d=json.load(open('$RES/calibrate_cap${cap}.json')); print('cap $cap', [round(x, 3) for x in d['cost_ms']['512'][:10]])"
    cp $RES/calibrate_cap${cap}.json $RES/calibrate_cap${cap}_$(date +%s).json
  done
  touch $R/calib_done
  bench_traced gsm8k_cap4_s24 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4; touch $R/gsm8k_done
  [ "${SKIP_CHAT:-0}" = 1 ] || bench_traced chat_cap4_s24 chat --k-sweep 4
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
