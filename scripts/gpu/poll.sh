# poll: wait up to $1 s (or until the job is done), then bring back logs; with results, the model too
source .carry/dev/env.sh
end=$(( $(date +%s) + $1 ))
while [ $(date +%s) -lt $end ] && [ ! -f /tmp/run/done ]; do sleep 5; done
cp /tmp/run/job.log /tmp/run/log $OUT/ 2>/dev/null
R=/tmp/run/out
[ -f $R/eval.md ] && cp $R/eval.md $R/eval.json $OUT/
if grep -q "distill: wrote" /tmp/run/log 2>/dev/null; then
  tar cf - -C $R model | split -b 15000000 - $OUT/model.tar.part_
  [ -f $R/self_prompted.jsonl ] && gzip -c $R/self_prompted.jsonl > $OUT/self_prompted.jsonl.gz
fi
cat /tmp/run/done 2>/dev/null; grep -v '^{' /tmp/run/log | tail -15; grep '^{' /tmp/run/log | tail -3
echo "poll at $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
