# Life AD (one GPU, session 23, ~1,000 s of device time): (1) where a GPU pass's time goes, per pass size, with and
# without CUDA graphs (benchmarks/gpu_pass_profile.py under the torch profiler: kernels, busy time, gaps, host time
# before and after), the breakdown issue 5 asks for where a target is out of reach; (2) the two open figures again
# with main's rules, the shipped run-13 adapter: chat, where auto reached 94.4% of the best fixed row in session 22,
# and GSM8K, where confadapt_verify reached 1.925x / 1.886x against the 2x target; chat and GSM8K twice, interleaved.
# As it ran (session 23) the profile step died at once: torch's CUDA and llama.cpp's in one process crash there
# (free(): invalid pointer / SIGSEGV); gpu_pass_profile.py now counts kernels with ncu instead (--kernels), and the
# session's kernel counts came from ncu by hand (docs/results/gpu_pass_kernels_h100_s23.json).
# Usage: the session-21 part calls, then `call3.sh jobAD.sh 0; pollI.sh 495 done`, then `pollI.sh 420 done`.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
( nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  installed python3 $REPO/benchmarks/gpu_pass_profile.py -m $M --n-gpu-layers -1 --json $RES/pass_profile_graphs.json \
    --trace $RES/pass_profile_graphs_trace.json.gz
  GGML_CUDA_DISABLE_GRAPHS=1 installed python3 $REPO/benchmarks/gpu_pass_profile.py -m $M --n-gpu-layers -1 \
    --json $RES/pass_profile_nographs.json
  echo PROFILE_DONE ) > $R/profile.log 2>&1
cp $R/profile.log $RES/
( installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json > $RES/calibrate_gpu_q8_0_s23.json
  bench_traced chat_s23a chat --k-sweep 4,6
  bench_traced gsm8k_s23a /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,6
  bench_traced chat_s23b chat --k-sweep 4,6
  bench_traced gsm8k_s23b /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,6
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
