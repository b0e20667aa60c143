# Life B: CUDA build on the CPUs | full-FT capacity probe on the GPU, then GPU bench, then the full evaluation
set -x
source .carry/dev/env.sh
REPO=$PWD; R=/tmp/run; RES=$R/results; mkdir -p $RES; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
ADAPTER=$REPO/mtp_edge/assets/smollm2_mtp
source .carry/dev/cuda.sh; start_cuda_build
# 1. full fine-tuning probe (is LoRA r32 the limit?), same data and objective as the shipped adapter's run
mkdir -p $R/full && cp $R/out/self_prompted.jsonl $R/full/
TL=$(( DEADLINE - $(date +%s) ))
python3 -m mtp_edge distill --base $BASE --data /tmp/data/teacher_answers.jsonl --out $R/full --self-prompt 6144 \
  --full --lr ${FULL_LR:-5e-5} --warmup 60 --k-max 6 --regions 12 --seq-len 384 --batch 128 --steps $(( TL * 100 / 68 )) \
  --time-limit $TL --save-every 100000 --log-every 20 --no-progress --ntp-weight 3 --eval-data /tmp/data/test.jsonl \
  --eval-n 100 --eval-settings headline --eval-max-tokens 200 > $R/log 2>&1
cp $R/full/eval.json $RES/eval_full_ft_headline100.json; grep '^{"step"' $R/log > $RES/full_ft_curve.jsonl
rm -rf $R/full/model $R/full/checkpoint
# 2. GPU bench with the CUDA build (waits for it)
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
write_gsm8k_prompts
( export PYTHONPATH=/tmp/site3:/tmp/site2:/tmp/site; cd /tmp
  python3 -c "import mtp_edge, mtp_edge._core, llama_cpp; print(mtp_edge.__file__, llama_cpp.__file__, llama_cpp.llama_supports_gpu_offload())"
  python3 -m mtp_edge convert $BASE --adapter $ADAPTER --outtype f16 -o /tmp/mtp_f16.gguf -q
  python3 -m mtp_edge calibrate -m /tmp/mtp_f16.gguf --n-gpu-layers -1 --json > $RES/calibrate_gpu_f16.json
  for P in /tmp/data/gsm8k_prompts.jsonl chat; do
    N=$(basename $P .jsonl | cut -d_ -f1)
    python3 -m mtp_edge bench -m /tmp/mtp_f16.gguf --n-gpu-layers -1 --prompts $P --n-prompts ${NP:-12} --max-tokens 128 \
      --repeats 3 --json $RES/bench_gpu_f16_$N.json --plot $RES/bench_gpu_f16_$N.png > $RES/bench_gpu_f16_$N.txt 2>&1
  done ) > $R/bench.log 2>&1
echo BENCH_DONE >> $R/bench.log
# 3. the shipped adapter on all 1,319 test questions (headline rows), then the paper table on 200
python3 -m mtp_edge.distill.evaluate --base $BASE --adapter $ADAPTER --data /tmp/data/test.jsonl --n 1319 --batch 512 \
  --max-tokens 256 --settings headline --json $RES/eval_shipped_headline1319.json > $R/eval.log 2>&1
python3 -m mtp_edge.distill.evaluate --base $BASE --adapter $ADAPTER --data /tmp/data/test.jsonl --n 200 --batch 200 \
  --max-tokens 256 --settings paper --json $RES/eval_shipped_paper200.json >> $R/eval.log 2>&1
echo "exit $?" > $R/done
