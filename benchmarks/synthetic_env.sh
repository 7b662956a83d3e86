# Sourced by the synthetic-task benchmarks (loop_synthetic.sh, overoptimization.sh) after they set
# THREADS and OUT: offline hubs, THREADS threads, the policy prompt every stage of the loop uses
# (P: its flags), and `timed NAME command...`, which runs a stage once and records its wall time
# in ${TIMES:-$OUT/times}/NAME (a recorded stage is skipped).
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
TEMPLATE=$'Question: {question}\n\nStep-by-step solution:\n\n'
P=(--prompt-template "$TEMPLATE" --no-chat-template)
mkdir -p "$OUT/times"
timed() {  # the seconds go to ${TIMES:-$OUT/times}/NAME; a stage with a time there is skipped
  local name=$1 times=${TIMES:-$OUT/times}; shift
  [ -f "$times/$name" ] && return 0
  mkdir -p "$times"
  local start; start=$(date +%s)
  "$@"
  echo $(( $(date +%s) - start )) > "$times/$name"
}
