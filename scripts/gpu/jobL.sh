# Life L (one GPU): session 10's verifying modes measured. (1) The traced bench of the shipped model at main, whose
# rows now include "confadapt_verify auto" (ConfAdapt's confident prefix at tau 0.9 at once, the rows after it down
# to 0.5 verified by the next pass: Eff. k 2.73 against lossless's 2.65 and ConfAdapt's 2.17 on 100 GSM8K questions
# on the CPU runtime; ~1.7x projected on the H200 from lossless auto's measured 1.667x); (2) the runtime's verify
# table on the GPU (lossless, confadapt_verify at tau 0.9 / 0.8 / 0.7), whose one-shape passes leave pending
# proposals fewer masks. No training: the GPU stays alone for timing.
# Usage: bash .carry/dev/call3.sh jobL.sh 0 (the deadline is unused), then pollI.sh 540 bench_done, pollI.sh 300
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 2
wait $BUILD; tail -5 $R/build.log > $RES/build_tail.txt
gpu_bench_alone
EVAL_SETTINGS=verify EVAL_ONLY=1,2,3,4 eval_models_on_gpu q8_0  # /tmp/mtp_q8_0.gguf: the bench's merge
echo "exit 0" > $R/done
