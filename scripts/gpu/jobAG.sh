# Life AG (one GPU, session 24): job AF with more after it. The keyed llama.cpp with multi-token mmvq fusion
# (scripts/cuda_mmvq_fusion.sh), built on this workplace's CPU (scripts/gpu/build_cuda_libs_here.sh) and carried as
# llama-cpp-python's package (.carry/l1, l2, l3); only mtp-edge builds here. Order: parity and quick curve, GSM8K
# bench (against session 23's 1.854-1.870x), chat bench, kernel counts of a 1- and 8-token pass (ncu), GSM8K
# questions 101-112 (held out). Each touches a file under /tmp/run so that a poll can fetch what is done.
# Usage: the part calls, the three library calls (`cp .carry/lX/lpart_* /tmp/gg/`), `call3.sh jobAG.sh 0; pollI.sh N done`.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
carried_q8_0_on_gpu
write_gsm8k_heldout_prompts
( installed python3 -c "import llama_cpp; print('gpu offload', llama_cpp.llama_supports_gpu_offload())"
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  fused_parity_and_quick_curve
  bench_traced gsm8k_fused_s24 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4; touch $R/gsm8k_done
  bench_traced chat_fused_s24 chat --k-sweep 4; touch $R/chat_done
  NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  installed python3 $REPO/benchmarks/gpu_pass_profile.py -m $M --n-gpu-layers -1 --json $RES/pass_profile_fused_s24.json \
    ${NCU:+--kernels --ncu $NCU} > $RES/pass_profile_fused_s24.txt 2>&1; tail -20 $RES/pass_profile_fused_s24.txt
  touch $R/profile_done
  bench_traced gsm8k_heldout_fused_s24 /tmp/data/gsm8k_heldout_prompts.jsonl --k-sweep 4
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
