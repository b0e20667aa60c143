# Life P (one GPU, session 14): the shipped session-12 model on the GPU, and llama.cpp's fused attention kernel.
# llama-cpp-python opens contexts with flash attention off, so every GPU row so far ran the unfused attention: for a
# pass of several tokens that is batched matmuls, a softmax and copies per layer, where the one-token pass has its
# mat-vec path. In order of what matters: (1) the Q8_0 curve with the kernel off and on; (2) the traced GSM8K bench
# as in sessions 5-11 (kernel off: comparable with session 11); (3) the same bench with --flash-attn on every row,
# plain llama-cpp-python included; (4) the per-pass breakdown (bench_pass_overhead.py) off and on; (5) chat, off
# then on. Each bench writes its JSON after every prompt, so a poll brings back what finished.
# Usage: bash .carry/dev/call3.sh jobP.sh 1540, then pollI.sh 290 bench_done until it is there, then pollI.sh 290 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 2
write_gsm8k_prompts
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
M=/tmp/mtp_q8_0.gguf
installed python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype q8_0 -o $M -q
bench_p() {  # usage: bench_p NAME PROMPTS --no-flash-attn|--flash-attn: the traced bench of sessions 5-11 on $M
  installed python3 -m mtp_edge bench -m $M --n-gpu-layers -1 --prompts $2 --n-prompts 12 --max-tokens 128 \
    --repeats 3 $3 --json $RES/bench_gpu_q8_0_$1.json --trace $RES/trace_gpu_q8_0_$1.jsonl > $RES/bench_gpu_q8_0_$1.txt 2>&1
  gzip -f $RES/trace_gpu_q8_0_$1.jsonl; cat $RES/bench_gpu_q8_0_$1.txt
}
(
  installed python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.llama_supports_gpu_offload())"
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --no-flash-attn --json > $RES/calibrate_gpu_q8_0.json
  installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --flash-attn --json > $RES/calibrate_gpu_q8_0_fa.json
  bench_p gsm8k /tmp/data/gsm8k_prompts.jsonl --no-flash-attn
  bench_p gsm8k_fa /tmp/data/gsm8k_prompts.jsonl --flash-attn
  echo BENCH_DONE ) > $R/bench.log 2>&1
touch $R/bench_done
( installed python3 $REPO/benchmarks/bench_pass_overhead.py -m $M --n-gpu-layers -1 --repeats 3 --max-tokens 64 \
    --no-flash-attn --json $RES/pass_overhead_gpu_q8_0.json > $RES/pass_overhead_gpu_q8_0.txt 2>&1
  installed python3 $REPO/benchmarks/bench_pass_overhead.py -m $M --n-gpu-layers -1 --repeats 3 --max-tokens 64 \
    --flash-attn --json $RES/pass_overhead_gpu_q8_0_fa.json > $RES/pass_overhead_gpu_q8_0_fa.txt 2>&1
  bench_p chat chat --no-flash-attn
  bench_p chat_fa chat --flash-attn
  echo CHAT_DONE ) >> $R/bench.log 2>&1
echo "exit 0" > $R/done
