# Life D (a machine of several GPUs): GPUs 1..N-1 train (torchrun, data parallel) from the shipped adapter until
# TRAIN_END; GPU 0 waits for the CUDA build, then benches the shipped model alone (Q8_0, F16) and calibrates the
# scale-projection shapes; at the end every GPU evaluates the new adapter on all test questions, one setting each.
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
NG=$(nvidia-smi -L | wc -l); TRAIN_END=${TRAIN_END:-$DEADLINE}
BUILD_JOBS=$(( $(nproc) - 8 )); source .carry/dev/cuda.sh; start_cuda_build
# 1. training on GPUs 1..N-1 (one process each; one process on GPU 1 when torchrun failed its smoke run)
TRAIN_GPUS=$(seq -s, 1 $(( NG - 1 ))); NP=$(( NG - 1 ))
[ -f /tmp/ddp_ok ] || NP=1
LAUNCH="python3 -m torch.distributed.run --standalone --nproc_per_node $NP -m mtp_edge"
[ $NP = 1 ] && LAUNCH="python3 -m mtp_edge"
TRAIN="--base $BASE --data /tmp/data/teacher_answers.jsonl --out $R/out --self-prompt 6144 --gen-batch 1024
  --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --lora-rank 32 --init-adapter $SHIPPED --lr ${LR:-2e-4} --warmup 30
  --regions 12 --batch $(( ${PER:-48} * NP )) --steps ${HORIZON:-3000} --save-every 250 --log-every 25 --no-progress
  --ntp-weight 3"
( export OMP_NUM_THREADS=4; CUDA_VISIBLE_DEVICES=$TRAIN_GPUS $LAUNCH distill $TRAIN --time-limit $(( TRAIN_END - $(date +%s) - 90 )) > $R/log 2>&1
  echo "exit $?" > $R/train_done ) &
TRAINER=$!
# 2. GPU 0: the bench alone on it, then the scale-projection calibration
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
write_gsm8k_prompts
( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site CUDA_VISIBLE_DEVICES=0; cd /tmp
  python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  for T in ${TYPES:-q8_0 f16}; do
    [ $T = q8_0 ] || [ $(date +%s) -lt $(( TRAIN_END - 300 )) ] || { echo "no time left for $T"; continue; }
    bench_on_gpu $T
    # where a pass's time goes: llama_decode (synchronised) against the loop's own work
    [ $T = q8_0 ] && python3 $REPO/benchmarks/bench_pass_overhead.py -m /tmp/mtp_q8_0.gguf --n-gpu-layers -1 --repeats 3 \
      --max-tokens 128 --json $RES/pass_overhead_gpu_q8_0.json > $RES/pass_overhead_gpu_q8_0.txt 2>&1
  done
  echo BENCH_DONE
  [ $(date +%s) -lt $(( TRAIN_END - 180 )) ] && python3 $REPO/benchmarks/scale_projection.py --workdir /tmp/scale --n-gpu-layers -1 --repeats 3 \
    --ours-eff-k 1.89@6 --json $RES/scale_projection_gpu.json > $RES/scale_projection_gpu.txt 2>&1
  echo SCALE_DONE ) > $R/bench.log 2>&1
touch $R/gpu0_free
# 3. evaluation of the new adapter on every test question, the headline settings spread over the GPUs
wait $TRAINER
EV="--base $BASE --adapter $R/out/model --data /tmp/data/test.jsonl --n ${EVAL_N:-1319} --batch 512 --max-tokens 256 --settings headline"
i=0
for S in "MTP static k=1" "original model, k=1" "ConfAdapt tau=0.9 " "ConfAdapt tau=0.8 "; do
  CUDA_VISIBLE_DEVICES=$(( i % NG )) python3 -m mtp_edge.distill.evaluate $EV --only "$S" --json $RES/eval_$i.json > $R/eval_$i.log 2>&1 &
  i=$(( i + 1 ))
done
wait
python3 - <<'PY' > $R/out/eval.md
import json, glob
from mtp_edge.distill.evaluate import SettingResult, markdown_table
rows = [SettingResult(**r) for f in sorted(glob.glob('/tmp/run/results/eval_*.json')) for r in json.load(open(f))]
order = ["original", "MTP static", "ConfAdapt tau=0.9 ", "ConfAdapt tau=0.8 "]
rows.sort(key=lambda r: [r.label.startswith(o) for o in order].index(True))
json.dump([r.__dict__ for r in rows], open('/tmp/run/out/eval.json', 'w'), indent=1)
print(markdown_table(rows))
PY
echo "exit $?" > $R/done
