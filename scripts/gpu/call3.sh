# call 3: last GGUF part + data, then the training job in its own session. usage: call3.sh JOB TRAIN_END_S
source .carry/dev/env.sh
# the GGUF in seven parts (prepare_carry.sh: aa0, aa1, ab0, ab1, abb carried one call each, aab and ac together, so
# that no call passes 64 MiB beside the checkout); the glob puts them in order. A .carry/c of before session 22
# still holds ac.
cat /tmp/gg/gpart_* $( [ -f /tmp/gg/gpart_ac ] || echo .carry/c/gpart_ac ) > /tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf
[ "$(sha256sum /tmp/gg/SmolLM2-135M-Instruct.Q4_1.gguf | cut -d' ' -f1)" = "$(cat .carry/c/gguf.sha256)" ] || { echo GGUF CHECKSUM MISMATCH; exit 1; }
# training data: the committed teacher answers and self-prompted requests (scripts/gpu/data), else what is carried
D=scripts/gpu/data
[ -f $D/smollm2_teacher_answers.jsonl.gz ] && gunzip -c $D/smollm2_teacher_answers.jsonl.gz > /tmp/data/teacher_answers.jsonl
[ -f $D/smollm2_self_prompted.jsonl.gz ] && mkdir -p /tmp/run/out && gunzip -c $D/smollm2_self_prompted.jsonl.gz > /tmp/run/out/self_prompted.jsonl
# session 21's 12,305 more requests (--seed 1) with the teacher's answers: --data /tmp/data/self_prompted_seed1.jsonl
[ -f $D/smollm2_self_prompted_seed1.jsonl.gz ] && gunzip -c $D/smollm2_self_prompted_seed1.jsonl.gz > /tmp/data/self_prompted_seed1.jsonl
for f in .carry/c/teacher_answers.jsonl.gz .carry/c/train.jsonl.gz; do [ -f $f ] && gunzip -c $f > /tmp/data/$(basename $f .gz); done
cp .carry/c/test.jsonl /tmp/data/
[ -f .carry/c/self_prompted.jsonl.gz ] && mkdir -p /tmp/run/out && gunzip -c .carry/c/self_prompted.jsonl.gz > /tmp/run/out/self_prompted.jsonl
export DEADLINE=$(( $(cat /tmp/t0) + $2 ))
setsid nohup bash .carry/dev/$1 > /tmp/run/job.log 2>&1 < /dev/null &
sleep 20; cat /tmp/run/job.log; tail -3 /tmp/run/log 2>/dev/null
echo "call3 ok $(( $(date +%s) - $(cat /tmp/t0) )) s since t0, training ends at +$2 s"
