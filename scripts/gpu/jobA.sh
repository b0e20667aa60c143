# Life A: Magpie data, then LoRA distillation until DEADLINE, then the headline evaluation
set -x
source .carry/dev/env.sh
R=/tmp/run; BASE=/tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf; NSP=${NSP:-6144}
COMMON="--base $BASE --data /tmp/data/teacher_answers.jsonl --out $R/out --self-prompt $NSP --gen-batch 1024 --gen-max-new-tokens 256 --seq-len 384 --k-max 6"
python3 - <<PY > $R/log 2>&1
from mtp_edge.distill.train import TrainConfig, prepare
prepare(TrainConfig(base="$BASE", data="/tmp/data/teacher_answers.jsonl", out="$R/out", self_prompts=$NSP, gen_batch=1024,
                    gen_max_new_tokens=256, seq_len=384, k_max=6, lora_rank=32))
PY
TL=$(( DEADLINE - $(date +%s) ))
case "$(nvidia-smi --query-gpu=name --format=csv,noheader)" in *H200*) SPS=0.52;; *) SPS=0.68;; esac
STEPS=$(python3 -c "print(max(100, int($TL / $SPS)))")
echo "training $TL s, horizon $STEPS steps" >> $R/log
python3 -m mtp_edge distill $COMMON --lora-rank 32 --lr ${LR:-4e-4} --warmup 60 --regions 12 --batch 128 \
  --steps $STEPS --time-limit $TL --save-every 200 --log-every 20 --no-progress --ntp-weight ${NTPW:-3} \
  --eval-data /tmp/data/test.jsonl --eval-n 100 --eval-settings headline --eval-max-tokens 200 >> $R/log 2>&1
echo "exit $?" > $R/done
