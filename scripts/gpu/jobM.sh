# Life M (one GPU, session 11): jobL (the traced Q8_0 bench at main with its "confadapt_verify auto" row, then the
# runtime's verify table on the GPU) plus an F16 bench of the rows that decide the lossless target: on F16 the
# batched and one-token CUDA kernels round alike more often than on Q8_0 (session 4: same text as plain 11/12, 8/8),
# so it shows whether lossless and confadapt_verify are faster than plain with plain's text. No training: the GPU
# stays alone for timing.
# Usage: bash .carry/dev/call3.sh jobM.sh 0, then pollI.sh 540 bench_done, pollI.sh 540 f16_done, pollI.sh 300
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 2
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
gpu_bench_alone
( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp
  python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype f16 -o /tmp/mtp_f16.gguf -q
  python3 -m mtp_edge calibrate -m /tmp/mtp_f16.gguf --n-gpu-layers -1 --json > $RES/calibrate_gpu_f16.json
  for P in /tmp/data/gsm8k_prompts.jsonl chat; do
    N=$(basename $P .jsonl | cut -d_ -f1)
    python3 -m mtp_edge bench -m /tmp/mtp_f16.gguf --n-gpu-layers -1 --prompts $P --n-prompts 12 --max-tokens 128 \
      --repeats 3 --k-sweep 4 --tau-sweep "" --lookup 2 --json $RES/bench_gpu_f16_$N.json > $RES/bench_gpu_f16_$N.txt 2>&1
    cat $RES/bench_gpu_f16_$N.txt
  done ) >> $R/bench.log 2>&1
touch $R/f16_done
EVAL_SETTINGS=verify EVAL_ONLY=1,2,3,4 eval_models_on_gpu q8_0  # /tmp/mtp_q8_0.gguf: the bench's merge
echo "exit 0" > $R/done
