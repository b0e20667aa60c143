# poll (life D): wait up to $1 s or until $2 (a file under /tmp/run) exists; bring back logs, results, the model
source .carry/dev/env.sh
end=$(( $(date +%s) + $1 )); W=/tmp/run/${2:-done}
while [ $(date +%s) -lt $end ] && [ ! -f $W ] && [ ! -f /tmp/run/done ]; do sleep 5; done
cp /tmp/run/job.log /tmp/run/log /tmp/run/bench.log /tmp/run/eval_*.log $OUT/ 2>/dev/null
tail -c 20000 /tmp/run/build.log > $OUT/build.log 2>/dev/null
[ -d /tmp/run/results ] && tar czf $OUT/results.tgz -C /tmp/run results
R=/tmp/run/out
[ -f $R/eval.md ] && cp $R/eval.md $R/eval.json $OUT/
if [ -f $R/model/adapter_model.safetensors ]; then  # the last save (final once train_done exists)
  tar cf - -C $R model | split -b 15000000 - $OUT/model.tar.part_
fi
cat /tmp/run/train_done /tmp/run/done 2>/dev/null; grep -v '^{' /tmp/run/log | grep -v Converting | tail -6; grep '^{' /tmp/run/log | tail -2
tail -2 /tmp/run/build.log 2>/dev/null; grep -E "^mode|^plain|^prompt|^mtp|^k_max|^auto|^lossless|DONE" /tmp/run/bench.log 2>/dev/null
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
echo "poll at $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
