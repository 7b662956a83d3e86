#!/usr/bin/env bash
# The loop again on another seed, with seed 0's choices fixed (issue 11: "a second seed
# reproduces the sign of every difference"). New problems, warm-up, labels, training and
# samples; no choice is made, so no validation stage runs:
#
#   SEED=1 bash benchmarks/loop_seed.sh        # ~70 min alone on the 2-core CPU; OUT=runs/seed1
#
# The choices, from seed 0's validation (docs/results/loop_synthetic.json and
# loop_synthetic_test2.json): binary-search labels with early stop; the verifier fitted to
# its labels (`fit`: the top 8 layers trained, the frozen ones cached, $EPOCHS epochs over all
# labels, lr 1e-4, heads 1e-3); the mean aggregation, chosen by the validation weighted vote.
# Seed 0 reached its verifier through four trainings, each from the one before (2 epochs of
# every weight, 3 more, then 4 + 3 epochs of the top 8 layers: BENCHMARKS.md); `fit` is the
# one-command version of the last two, run from the warmed-up policy, to fit the time here.
# The splits' sizes, the label budget, N, beam and every sampling flag are loop_synthetic.sh's.
# Writes OUT/loop_synthetic.json and copies it to docs/results/loop_synthetic_seed$SEED.json.
# Every stage is skipped when its output exists, so a rerun continues; delete OUT to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${SEED:-1}
OUT=${OUT:-runs/seed$SEED}
EPOCHS=${EPOCHS:-6}
N=16 TEST=320 THREADS=${THREADS:-2} AGG=mean
PRM=${PRM:-prm}
PY=${PY:-python}
. benchmarks/synthetic_env.sh

"$PRM" synthetic --out "$OUT/problems" --seed "$SEED" --split sft=256 label=512 val=128 test="$TEST"
[ -f "$OUT/policy/sft.json" ] || timed sft "$PRM" sft --data "$OUT/problems/sft.jsonl" --model embedded "${P[@]}" \
  --epochs 1 --lr 2e-4 --batch-size 8 --max-new-tokens 64 --eval-data "$OUT/problems/val.jsonl" \
  --eval-problems 64 --seed "$SEED" --out "$OUT/policy"
[ -f "$OUT/labels.jsonl.done" ] || { timed label "$PRM" label --problems "$OUT/problems/label.jsonl" --samples 6 \
  --method binary_search --early-stop --min-correct 2 --policy "$OUT/policy" --rollouts 4 --max-new-tokens 64 \
  "${P[@]}" --no-progress --seed "$SEED" --group-size 16 --batch-size 64 --out "$OUT/labels.jsonl" \
  --pairs-out "$OUT/orm_pairs.jsonl" && touch "$OUT/labels.jsonl.done"; }
"$PRM" eval labels --labels "$OUT/labels.jsonl" --problems "$OUT/problems/label.jsonl" --out "$OUT/label_quality.json"
[ -f "$OUT/rm/model.safetensors" ] || timed train "$PRM" train --data "$OUT/labels.jsonl" --format trl_stepwise \
  --backbone "$OUT/policy" --objective joint --max-length 256 --train-top-layers 8 --cache-frozen-layers \
  --learning-rate 1e-4 --head-lr 1e-3 --num-train-epochs "$EPOCHS" --per-device-train-batch-size 16 \
  --seed "$SEED" --threads "$THREADS" --logging-steps 20 --save-total-limit 1 --out "$OUT/rm"
"$PY" benchmarks/loop_synthetic.py fix-choices "$OUT" binary_search fit "$OUT/rm" "$AGG"

SEARCH_COMMON=(--policy "$OUT/policy" "${P[@]}" --max-new-tokens 64 --temperature 0.7 --engine-batch-size 64 \
  --problem-batch-size 16 --seed "$SEED" --no-plot)
[ -f "$OUT/test/summary.json" ] || timed test_bon "$PRM" search --data "$OUT/problems/test.jsonl" --method bon \
  --n "$N" --prm "$OUT/rm" --orm "$OUT/rm" --aggregation "$AGG" "${SEARCH_COMMON[@]}" --out "$OUT/test"
[ -f "$OUT/test_beam/summary.json" ] || timed test_beam "$PRM" search --data "$OUT/problems/test.jsonl" \
  --method beam --prm "$OUT/rm" --beam-width 2 --n 8 --aggregation "$AGG" --max-steps 4 --max-step-tokens 32 \
  "${SEARCH_COMMON[@]}" --out "$OUT/test_beam"
"$PRM" search --results "$OUT/test/bon.jsonl" --beam-results "$OUT/test_beam/beam.jsonl" --aggregation "$AGG" \
  --data "$OUT/problems/test.jsonl" --policy "$OUT/policy" --seed "$SEED" --out "$OUT/report" \
  --plot-title "Synthetic arithmetic, $TEST test problems, SmolLM2-135M warmed up (seed $SEED), N=$N"
"$PRM" eval truth --results "$OUT/test/bon.jsonl" "$OUT/test_beam/beam.jsonl" --problems "$OUT/problems/test.jsonl" \
  --keys "prm:$AGG" orm --out "$OUT/test_truth.json"
"$PY" benchmarks/loop_synthetic.py report "$OUT" "$AGG"
cp "$OUT/loop_synthetic.json" "docs/results/loop_synthetic_seed$SEED.json"
cp "$OUT/report/accuracy_vs_k.png" "docs/figures/loop_synthetic_seed${SEED}_accuracy_vs_k.png"
echo "wrote docs/results/loop_synthetic_seed$SEED.json and docs/figures/loop_synthetic_seed${SEED}_accuracy_vs_k.png"
