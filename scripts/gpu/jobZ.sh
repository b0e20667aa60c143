# Life Z (one GPU, session 20, ran at commit 8960796; its row_threads option was removed after it): host rows
# (row_threads 0) against one by one (the default), and the AVX-512 row kernels, on chat and GSM8K
# (--compare-rows). Usage: the five part calls, then `call3.sh jobZ.sh 0; pollI.sh 480 done`, then pollI.sh 120 done
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh
shipped_q8_0_on_gpu
( installed python3 -c "import os; print('cores', os.cpu_count())"
  grep -m1 "model name" /proc/cpuinfo; grep -o -m1 -w avx512f /proc/cpuinfo
  bench_traced gsm8k_s20z /tmp/data/gsm8k_prompts.jsonl --k-sweep 4 --compare-rows
  bench_traced chat_s20z chat --k-sweep 4 --compare-rows
  echo ALL_DONE ) > $R/bench.log 2>&1
echo "exit 0" > $R/done
