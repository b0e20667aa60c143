# Life AF (one GPU, session 23, for the ~260 s of device time left): job AE without the ~200 s CUDA build. The keyed
# llama.cpp with multi-token mmvq fusion (scripts/cuda_mmvq_fusion.sh) was built on this workplace's CPU with CUDA
# 13.0's nvcc from PyPI (sm_90, GGML_CUDA_NO_VMM; scripts/gpu/build_cuda_libs_here.sh, ~40 minutes on 2 cores) and
# carried as llama-cpp-python's package with those libraries (.carry/l1, l2, l3); only mtp-edge builds here.
# Not run in session 23: the 247 s of device time left were too few to start a machine. Then job AE's parity check and quick curve first
# (the figures that matter if the life ends early), then the GSM8K bench.
# Usage: the session-21 part calls, the three library calls (`cp .carry/lX/lpart_* /tmp/gg/`), then
# `call3.sh jobAF.sh 0; pollI.sh N done`.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
carried_q8_0_on_gpu
( installed python3 -c "import llama_cpp; print('gpu offload', llama_cpp.llama_supports_gpu_offload())"
  fused_parity_and_quick_curve
  bench_traced gsm8k_fused_s23 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
