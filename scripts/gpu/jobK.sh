# Life K (one GPU): (1) the traced bench at session 9's main (bench memory kept across generations, one-shape passes
# filled, the guard's yield over ~50 windows: replayed at 97-99% of the best fixed row on all eight H200 traces);
# (2) capacity once more: run 8's rank-128 adapter (carried by calladd.sh to /tmp/add/r128) grown to rank 256 and
# trained for the whole life (rank 128 plateaued in run 9); then shrunk on the machine to rank 32 (the shipping size)
# and that, the shipped model and the rank-256 one through the runtime on the GPU, one after the other. What comes
# back: the rank-32 shrink in 15 MB parts (pollI.sh 5 done "aa ab"); the rank-256 adapter (156 MB) stays there.
# Usage: bash .carry/dev/call3.sh jobK.sh SECONDS_AFTER_T0
set -x
source .carry/dev/env.sh
source .carry/dev/cuda.sh; job_setup 4
need_r128
COMMON=$(r128_distill_args 256 3e-4)
train_around_bench r256 "$COMMON"
rm -f $R/adapter.tar.part_*  # train_around_bench split the 156 MB adapter: too many parts to bring back
installed python3 -m mtp_edge shrink-adapter $R/out_r256/model --rank 32 -o $R/r256s32 --json > $RES/shrink_r256s32.json
tar cf - -C $R r256s32 | split -b 15000000 - $R/adapter.tar.part_
merge_to_q8_0 r256s32 $BASE $R/r256s32
merge_to_q8_0 r256 $BASE $R/out_r256/model
eval_models_on_gpu r256s32 q8_0 r256
echo "exit 0" > $R/done
