# Life E (one GPU): the CUDA build on the CPUs while the GPU writes the data (GSM8K teacher answers, self-prompted
# requests) and trains from the shipped adapter; once the build is done the trainer is stopped by SIGTERM (it saves;
# --resume continues), the GPU benches the shipped model alone (Q8_0, then the pass breakdown), and training
# resumes until DEADLINE. Usage: bash .carry/dev/call3.sh jobE.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
BUILD_JOBS=$(( $(nproc) - 2 )); source .carry/dev/cuda.sh; start_cuda_build
DATA=/tmp/data/teacher_answers.jsonl; [ -f $DATA ] || DATA="/tmp/data/train.jsonl --self-generate"
TRAIN="--base $BASE --data $DATA --out $R/out --self-prompt 6144 --gen-batch 1024
  --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --lora-rank 32 --init-adapter $SHIPPED --lr ${LR:-3e-4} --warmup 30
  --regions 12 --batch 128 --steps ${HORIZON:-1200} --save-every 100 --log-every 20 --no-progress --ntp-weight 3"
# 1. data + training phase 1 while the build runs; stopped (and saved) once the build is done and training has begun
python3 -m mtp_edge distill $TRAIN > $R/log 2>&1 &
TRAINER=$!
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
until grep -q '^train:' $R/log || ! kill -0 $TRAINER 2>/dev/null; do sleep 2; done; sleep 5
kill -TERM $TRAINER; wait $TRAINER; echo "phase 1 exit $?" >> $R/log
# 2. the GPU bench, alone on the GPU
write_gsm8k_prompts
( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp
  python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  T=q8_0; bench_on_gpu $T
  python3 $REPO/benchmarks/bench_pass_overhead.py -m /tmp/mtp_$T.gguf --n-gpu-layers -1 --repeats 3 \
    --max-tokens 128 --json $RES/pass_overhead_gpu_$T.json > $RES/pass_overhead_gpu_$T.txt 2>&1
  echo BENCH_DONE ) > $R/bench.log 2>&1
touch $R/bench_done
# 3. training phase 2: the same run resumed until DEADLINE
LEFT=$(( DEADLINE - $(date +%s) ))
[ $LEFT -gt 90 ] && python3 -m mtp_edge distill $TRAIN --resume --time-limit $(( LEFT - 45 )) >> $R/log 2>&1
echo "exit $?" > $R/done
