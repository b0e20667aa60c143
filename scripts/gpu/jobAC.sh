# Life AC (one GPU, session 22, the whole life): job AB's bench of the shipped run-13 adapter (main's rules, host
# rows, session 20's four sets) with a training life around it (run 14) instead of after it:
#  - the trainer starts first and writes its new text (--self-prompt N --seed 2: requests unlike seeds 0 and 1, with
#    the teacher's greedy answers) while the keyed CUDA build runs on the CPUs;
#  - once the build is done the trainer is frozen (SIGSTOP: its GPU memory stays, its kernels stop), so the bench
#    has the GPU alone; then it thaws (SIGCONT) and trains until DEADLINE, when timeout's SIGTERM saves it;
#  - run 14 is run 13 on more distinct text: from the shipped adapter, rank 32 (the shipping size), all the text
#    so far (teacher answers, seeds 0 and 1) plus seed 2's.
# The adapter comes back in 15 MB parts (pollI.sh ... "run14_aa run14_ab"), the new requests in results/.
# Usage: the session-21 part calls, then `call3.sh jobAC.sh SECONDS_AFTER_T0; pollI.sh 495 bench_done`, polls.
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
job_paths
training_text
mkdir -p $R/out_run14
LEFT=$(( DEADLINE - $(date +%s) ))
timeout -s TERM $LEFT python3 -m mtp_edge distill --base $BASE --holdout-data /tmp/data/holdout.jsonl --holdout-n 256 \
  --holdout-every 100 --gen-max-new-tokens 256 --seq-len 384 --k-max 6 --regions 12 --batch 64 --mask-mode range \
  --init-adapter $SHIPPED --lora-rank 32 --lr ${LR:-3e-4} --warmup 30 --save-every 100 --log-every 20 \
  --no-progress --ntp-weight 3 --data /tmp/data/teacher_answers.jsonl /tmp/data/self_prompted_seed0.jsonl \
  /tmp/data/self_prompted_seed1.jsonl --self-prompt ${NEW_PROMPTS:-20000} --seed 2 --gen-batch 1024 \
  --steps ${HORIZON:-1000} --out $R/out_run14 > $R/log_run14 2>&1 &
TRAINER=$!
build_keyed_cuda
write_gsm8k_prompts
write_gsm8k_heldout_prompts
# the bench alone on the GPU: the trainer (python, child of timeout) frozen until it ends
pkill -STOP -f '^python3 -m mtp_edge distill'; sleep 3
M=/tmp/mtp_q8_0.gguf
installed python3 -m mtp_edge convert $BASE --adapter $SHIPPED --outtype q8_0 -o $M -q
( nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
  installed python3 -m mtp_edge calibrate -m $M --n-gpu-layers -1 --json > $RES/calibrate_gpu_q8_0_s22.json
  bench_traced chat_run13 chat --k-sweep 4,6
  bench_traced gsm8k_run13 /tmp/data/gsm8k_prompts.jsonl --k-sweep 4,6
  bench_traced chatheldout_run13 $REPO/docs/results/chat_heldout_prompts.jsonl --k-sweep 4,6
  bench_traced gsm8kheldout_run13 /tmp/data/gsm8k_heldout_prompts.jsonl --k-sweep 4,6
  echo ALL_DONE ) > $R/bench.log 2>&1
touch $R/bench_done
pkill -CONT -f '^python3 -m mtp_edge distill'
wait $TRAINER
grep '^{' $R/log_run14 | grep holdout > $RES/holdout_run14.jsonl; cp $R/log_run14 $RES/
[ -f $R/out_run14/self_prompted.jsonl ] && gzip -c $R/out_run14/self_prompted.jsonl > $RES/self_prompted_seed2.jsonl.gz
tar cf - -C $R/out_run14 model | split -b 15000000 - $R/adapter.tar.part_run14_
ls -la $R/adapter.tar.part_* > $RES/parts.txt
echo "exit 0" > $R/done
