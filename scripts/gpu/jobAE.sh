# Life AE (one GPU, session 23, ~450 s of device time): job AD's ncu count showed an 8-token pass running 725
# kernels where a one-token pass runs 579, the 146 more being the matmul + residual-add and gate/up + SwiGLU fusions
# llama.cpp applies to one-token passes only. This builds the keyed llama-cpp-python with those fusions let through
# for passes of up to 8 tokens (scripts/cuda_mmvq_fusion.sh), checks that an 8-token pass still computes what eight
# one-token passes do, fused and with GGML_CUDA_DISABLE_FUSION=1 (benchmarks/pass_parity.py), calibrates, and runs
# the GSM8K bench of job AD (the shipped run-13 adapter, Q8_0, flash attention, host rows, median of 3).
# Usage: the session-21 part calls, then `call3.sh jobAE.sh 0; pollI.sh 480 done` (or `pollI.sh N calib_done` when
# the device time left holds only the build and the quick calibration, ~300 s from t0).
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
job_paths
MMVQ_FUSION=1 build_keyed_cuda
write_gsm8k_prompts
M=/tmp/mtp_q8_0.gguf
installed python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype q8_0 -o $M -q
( fused_parity_and_quick_curve
  installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json > $RES/calibrate_gpu_q8_0_fused_s23.json
  bench_traced gsm8k_fused_s23 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,6
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
