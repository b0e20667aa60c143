# Life G (one GPU): the capacity test for the Eff. k plateau (docs/TRAINING.md, "What next") beside the traced bench.
# Two trainers share the GPU from the base (no warm start), run 2's recipe, one at LoRA rank 32 and one at rank 128,
# each with the held-out curve, so the ranks compare at equal steps on the same data. While the CUDA build runs
# they train; then both are stopped by SIGTERM (saved), the bench runs alone with --trace (auto at tau 0.9 first
# measured with per-regime rule memory), and both resume until DEADLINE.
# Usage: bash .carry/dev/call3.sh jobG.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
SHIPPED=$REPO/mtp_edge/assets/smollm2_mtp
BUILD_JOBS=$(( $(nproc) - 4 )); source .carry/dev/cuda.sh; start_cuda_build
sed -n 1001,1256p /tmp/data/test.jsonl > /tmp/data/holdout.jsonl  # the eval tables use the first questions
RANKS=${RANKS:-32 128}
train_args() {  # usage: train_args RANK
  echo "--base $BASE --data /tmp/data/teacher_answers.jsonl --out $R/out_r$1 --self-prompt 6144 --gen-batch 1024
    --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384
    --k-max 6 --lora-rank $1 --lr 4e-4 --warmup 60 --regions 12 --batch 128 --steps ${HORIZON:-2098} --save-every 100
    --log-every 20 --no-progress --ntp-weight 3"
}
for r in $RANKS; do mkdir -p $R/out_r$r; cp $R/out/self_prompted.jsonl $R/out_r$r/; done
# 1. both trainers while the build runs; stopped (and saved) once the build is done and both have begun
PIDS=""
for r in $RANKS; do python3 -m mtp_edge distill $(train_args $r) > $R/log_r$r 2>&1 & PIDS="$PIDS $!"; done
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
for r in $RANKS; do until grep -q '^train:' $R/log_r$r || ! pgrep -f "out_r$r " > /dev/null; do sleep 2; done; done
sleep 5; kill -TERM $PIDS; wait $PIDS; echo "phase 1 done" >> $R/log_r32
# 2. the GPU bench with per-pass traces, alone on the GPU
write_gsm8k_prompts
( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp
  python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
  T=q8_0; bench_on_gpu $T; gzip -f $RES/trace_gpu_*.jsonl
  echo BENCH_DONE ) > $R/bench.log 2>&1
touch $R/bench_done
# 3. both trainers resumed until DEADLINE
LEFT=$(( DEADLINE - $(date +%s) ))
PIDS=""
for r in $RANKS; do
  [ $LEFT -gt 90 ] && { python3 -m mtp_edge distill $(train_args $r) --resume --time-limit $(( LEFT - 45 )) >> $R/log_r$r 2>&1 & PIDS="$PIDS $!"; }
done
wait $PIDS
for r in $RANKS; do grep '^{' $R/log_r$r | grep -E 'holdout|"step": (0|1000|2000),' | tail -3 > $RES/holdout_r$r.txt; cp $R/log_r$r $RES/; done
echo "exit 0" > $R/done
