# Life AL (one GPU, session 26): the throughput guard's cost memory (~8 windows instead of the latest window's,
# cpp_ext/policy.h kCostDecay) on the GPU, where the replays of the H100 and H200 traces put it level with the
# guard before. GSM8K, chat and both held-out sets at the default build (keyed graphs, fusion cap 4; the carried
# library's 4-warp patch switched off, as scripts/build_llama_cpp_cuda.sh builds by default), as jobAI.sh.
# Usage: the part calls, the library calls (four since session 26: .carry/l1-l4), `call3.sh jobAL.sh 0; pollI.sh N gsm8k_done`, `pollI.sh N done`.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
export MTP_EDGE_MMVQ_WIDE=0
carried_q8_0_on_gpu
write_gsm8k_heldout_prompts
( nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  bench_traced gsm8k_guard_s26 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4; touch $R/gsm8k_done
  bench_traced chat_guard_s26 chat --k-sweep 4
  bench_traced gsm8kheldout_guard_s26 /tmp/data/gsm8k_heldout_prompts.jsonl --k-sweep 4
  bench_traced chatheldout_guard_s26 $REPO/docs/results/chat_heldout_prompts.jsonl --k-sweep 4
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
