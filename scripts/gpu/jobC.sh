# Life C: CUDA build on the CPUs | training continuation (phase 1) on the GPU; then the GPU bench alone on the
# GPU; then training phase 2 (--resume) until DEADLINE; then the new adapter's headline evaluation
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
source .carry/dev/cuda.sh; start_cuda_build
TRAIN="--base $BASE --data /tmp/data/teacher_answers.jsonl --out $R/out --self-prompt 6144 --gen-batch 1024
  --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --lora-rank 32 --init-adapter $SHIPPED --lr ${LR:-2e-4} --warmup 30
  --regions 12 --batch 128 --steps ${HORIZON:-1500} --save-every 200 --log-every 20 --no-progress --ntp-weight 3"
# 1. training phase 1 while the CUDA build runs
python3 -m mtp_edge distill $TRAIN --time-limit ${TL1:-400} > $R/log 2>&1
# 2. the GPU bench, alone on the GPU
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
write_gsm8k_prompts
( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp
  python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
  for T in ${TYPES:-q8_0 f16}; do
    bench_on_gpu $T
  done ) > $R/bench.log 2>&1
echo BENCH_DONE >> $R/bench.log
# 3. training phase 2 (same run, resumed) until DEADLINE minus the evaluation's time
[ -f $R/stop_train ] || python3 -m mtp_edge distill $TRAIN --resume --time-limit $(( DEADLINE - $(date +%s) )) \
  --eval-data /tmp/data/test.jsonl --eval-n 200 --eval-settings headline --eval-max-tokens 256 >> $R/log 2>&1
echo "exit $?" > $R/done
