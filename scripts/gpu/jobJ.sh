# Life J (one GPU): (1) the traced bench at main (the guard leaves each generation's first two passes untimed and
# prices a change of pass shape: the replay of four H200 traces puts auto tau 0.9 at 97% of the best fixed row);
# (2) run 8's rank-128 adapter (carried by calladd.sh to /tmp/add/r128) trained on for the whole life, the cosine
# annealed to its end; then the shipped model (run 8 shrunk to rank 32) and the new rank-128 model through the
# runtime on the GPU, one after the other; the new adapter comes back in 15 MB parts (pollI.sh 5 done aa|ab|...).
# Usage: bash .carry/dev/call3.sh jobJ.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 4
need_r128
COMMON=$(r128_distill_args 128 2e-4)
train_around_bench r128 "$COMMON"
merge_to_q8_0 r128 $BASE $R/out_r128/model
eval_models_on_gpu q8_0 r128
echo "exit 0" > $R/done
