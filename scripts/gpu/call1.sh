# call 1: note the start, first GGUF part, GPU smoke run of the whole distill CLI on a tiny checkpoint
[ -f /tmp/t0 ] || date +%s > /tmp/t0
source .carry/dev/env.sh
cp .carry/a/gpart_aa /tmp/gg/
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 - <<'PY'
from mtp_edge.distill.tiny import make_tiny_checkpoint, tiny_records
from mtp_edge.distill.data import save_jsonl
make_tiny_checkpoint('/tmp/tiny', seed=0, embed_std=0.05)
save_jsonl('/tmp/tiny.jsonl', tiny_records(64))
PY
rm -rf /tmp/tinyrun /tmp/tinyrun2
python3 -m mtp_edge distill --base /tmp/tiny --data /tmp/tiny.jsonl /tmp/tiny.jsonl --out /tmp/tinyrun --lora-rank 4 --k-max 6 \
  --steps 30 --batch 16 --regions 3 --seq-len 48 --self-prompt 64 --prompt-max-new-tokens 32 --gen-max-new-tokens 16 \
  --gen-batch 32 --ntp-weight 3 --lr 1e-3 --warmup 5 --no-progress --log-every 10 --eval-data /tmp/tiny.jsonl --eval-n 16 \
  --gen-samples 1 --holdout-data /tmp/tiny.jsonl --holdout-n 16 --holdout-every 10 \
  --eval-settings headline --eval-max-tokens 16 > $OUT/smoke.log 2>&1 || { echo SMOKE1 FAILED; tail -30 $OUT/smoke.log; exit 1; }
python3 -m mtp_edge distill --base /tmp/tiny --data /tmp/tiny.jsonl --out /tmp/tinyrun2 --lora-rank 4 --k-max 6 --steps 5 \
  --batch 16 --regions 3 --seq-len 48 --init-adapter /tmp/tinyrun/model --no-progress >> $OUT/smoke.log 2>&1 || { echo SMOKE2 FAILED; tail -30 $OUT/smoke.log; exit 1; }
grep -E "self-prompt:|ConfAdapt|warm start|distill: wrote" $OUT/smoke.log | tail -8
echo "call1 ok $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
python3 -m mtp_edge distill --base /tmp/tiny --data /tmp/tiny.jsonl --out /tmp/tinyrun3 --full --k-max 6 --steps 5 \
  --batch 16 --regions 3 --seq-len 48 --no-progress --ntp-weight 3 --eval-data /tmp/tiny.jsonl --eval-n 8 --eval-settings headline --eval-max-tokens 8 >> $OUT/smoke.log 2>&1 || { echo SMOKE3 FAILED; tail -30 $OUT/smoke.log; exit 1; }
python3 -m mtp_edge.distill.evaluate --base /tmp/tiny --adapter /tmp/tinyrun/model --data /tmp/tiny.jsonl --n 8 --batch 4 --max-tokens 8 --settings headline >> $OUT/smoke.log 2>&1 || { echo SMOKE4 FAILED; tail -30 $OUT/smoke.log; exit 1; }
echo "smoke full+evaluate ok"
# several GPUs: a data-parallel smoke run through torchrun (jobD trains that way only when it passed)
NG=$(nvidia-smi -L | wc -l)
if [ $NG -ge 2 ]; then
  python3 -m torch.distributed.run --standalone --nproc_per_node 2 -m mtp_edge distill --base /tmp/tiny --data /tmp/tiny.jsonl \
    --out /tmp/tinyddp --lora-rank 4 --k-max 6 --steps 6 --batch 16 --regions 3 --seq-len 48 --no-progress --log-every 2 \
    > /tmp/ddp.log 2>&1 && grep -q "distill: wrote" /tmp/ddp.log && touch /tmp/ddp_ok
  cp /tmp/ddp.log $OUT/ddp_smoke.log
  echo "torchrun smoke on $NG GPUs: $([ -f /tmp/ddp_ok ] && echo ok || echo FAILED)"; grep "processes" /tmp/ddp.log | tail -1
fi
