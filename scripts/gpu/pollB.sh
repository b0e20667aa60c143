# poll (life B): wait up to $1 s or until done; bring back logs and results
source .carry/dev/env.sh
end=$(( $(date +%s) + $1 ))
while [ $(date +%s) -lt $end ] && [ ! -f /tmp/run/done ]; do sleep 5; done
cp /tmp/run/job.log /tmp/run/log /tmp/run/bench.log /tmp/run/eval.log $OUT/ 2>/dev/null
tail -c 20000 /tmp/run/build.log > $OUT/build.log 2>/dev/null
[ -d /tmp/run/results ] && tar czf $OUT/results.tgz -C /tmp/run results
cat /tmp/run/done 2>/dev/null; grep -v '^{' /tmp/run/log | grep -v Converting | tail -6; grep '^{' /tmp/run/log | tail -2
tail -3 /tmp/run/build.log 2>/dev/null; tail -4 /tmp/run/bench.log 2>/dev/null; grep -h '^|' /tmp/run/eval.log 2>/dev/null | tail -14
echo "poll at $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
