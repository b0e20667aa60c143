# poll (lives E and F): wait up to $1 s or until $2 (a file under /tmp/run) exists; bring back in few files (at most 8 come
# back): results + logs + generated data in one tgz, the adapter in 15 MB parts once training is done
source .carry/dev/env.sh
end=$(( $(date +%s) + $1 )); W=/tmp/run/${2:-done}
while [ $(date +%s) -lt $end ] && [ ! -f $W ] && [ ! -f /tmp/run/done ]; do sleep 5; done
R=/tmp/run; mkdir -p $R/results/logs
cp $R/job.log $R/log $R/log_r* $R/bench.log $R/results/logs/ 2>/dev/null; tail -c 20000 $R/build.log > $R/results/logs/build.log 2>/dev/null
for f in teacher_answers self_prompted teacher_samples holdout_answers; do
  [ -f $R/out/$f.jsonl ] && [ ! -f $R/results/$f.jsonl.gz ] && gzip -c $R/out/$f.jsonl > $R/results/$f.jsonl.gz
done
tar czf $OUT/results.tgz -C $R results
if [ -f $R/done ] && [ -f $R/out/model/adapter_model.safetensors ]; then
  tar cf - -C $R/out model | split -b 15000000 - $OUT/model.tar.part_
fi
cat $R/done 2>/dev/null; grep -v '^{' $R/log | grep -v Converting | tail -6; grep '^{' $R/log | tail -2
tail -2 $R/build.log 2>/dev/null; grep -E "^mode|^plain|^prompt|^mtp|^k_max|^auto|^lossless|DONE" $R/bench.log 2>/dev/null
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
echo "poll at $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
