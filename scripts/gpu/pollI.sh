# poll (lives I, J): wait up to $1 s or until $2 (a file under /tmp/run) exists; results + logs in one tgz; with $3
# ("aa ab ac": at most four, 15 MB each) also those parts of the rank-128 adapter's tar (cat adapter.tar.part_* | tar xf -)
source .carry/dev/env.sh
end=$(( $(date +%s) + $1 )); W=/tmp/run/${2:-done}
while [ $(date +%s) -lt $end ] && [ ! -f $W ] && [ ! -f /tmp/run/done ]; do sleep 5; done
R=/tmp/run; mkdir -p $R/results/logs
cp $R/job.log $R/log_* $R/bench.log $R/results/logs/ 2>/dev/null; tail -c 20000 $R/build.log > $R/results/logs/build.log 2>/dev/null
tar czf $OUT/results.tgz -C $R results
for part in $3; do [ -f $R/adapter.tar.part_$part ] && cp $R/adapter.tar.part_$part $OUT/; done  # "aa ab ac": 15 MB each
cat $R/done 2>/dev/null
for f in $R/log_*; do echo "== $f"; grep -v '^{' $f | grep -vE 'Converting|Loading' | tail -3; grep '^{' $f | tail -1 | cut -c1-400; done
tail -2 $R/build.log 2>/dev/null; grep -E "^mode|^plain|^prompt|^mtp|^k_max|^auto|^lossless|DONE" $R/bench.log 2>/dev/null
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
echo "poll at $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
