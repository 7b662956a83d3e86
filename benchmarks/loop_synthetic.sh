#!/usr/bin/env bash
# The loop, proved at CPU scale: a reward model this toolkit labels and trains, against majority
# vote on held-out synthetic problems with exact step truth, with paired 95% intervals.
#
#   bash benchmarks/loop_synthetic.sh                  # seed 0, ~90 min on the 2-core CPU
#   SEED=1 OUT=runs/loop1 bash benchmarks/loop_synthetic.sh   # another seed, every choice made again
#   SEED=1 bash benchmarks/loop_seed.sh     # another seed with seed 0's choices fixed (~70 min)
#
# Disjoint problem sets (by id and by question text; `prm synthetic`): warm-up ($SFT), labelling
# ($LABEL), validation ($VAL: every choice below) and test ($TEST, touched once at the end).
#  1. `prm sft`: the embedded SmolLM2-135M warmed up on the warm-up set.
#  2. label method, on validation: `prm label` with binary search (early stop) and with
#     Math-Shepherd on $VALCMP validation problems; `prm eval labels` scores both against the
#     exact step truth; the better agreement (then the cheaper) labels $LABEL x $SAMPLES
#     solutions of the policy's own samples.
#  3. recipe, on validation: N=$N samples per validation problem; each recipe in $RECIPES trains
#     a joint PRM+ORM on the first $RECIPE_ROWS labelled solutions, rescores those samples, and
#     the recipe with the best within-problem AUROC (PRM, best aggregation) wins. The winner
#     trains on every label for 2 epochs; epoch 1 or 2 and the aggregation are chosen by
#     validation best-of-N accuracy (ties: within-problem AUROC).
#  4. test, once: N samples per problem scored by the chosen model; beam search (width
#     $BEAM_WIDTH, $BEAM_N candidates per step) with the chosen aggregation; the report with
#     paired intervals against majority vote; `prm eval truth` against the exact step truth.
#  5. docs-ready JSON: $OUT/loop_synthetic.json (fields of docs/results/loop_synthetic.json).
# Every stage is skipped when its output exists, so a rerun continues; delete $OUT to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${SEED:-0}
OUT=${OUT:-runs/loop$SEED}
SFT=${SFT:-256}
LABEL=${LABEL:-512}
SAMPLES=${SAMPLES:-6}
VAL=${VAL:-128}
VALCMP=${VALCMP:-32}
TEST=${TEST:-320}
N=${N:-16}
RECIPES=${RECIPES:-"full top8h"}
RECIPE_VAL=${RECIPE_VAL:-128}  # validation problems each recipe is scored on
FINAL_RECIPE=${FINAL_RECIPE:-}  # empty: the validation winner
RECIPE_ROWS=${RECIPE_ROWS:-1024}
BEAM_WIDTH=${BEAM_WIDTH:-2}
BEAM_N=${BEAM_N:-8}
THREADS=${THREADS:-2}
PRM=${PRM:-prm}
PY=${PY:-python}
# offline hubs, threads, the prompt flags P and `timed NAME command...`
. benchmarks/synthetic_env.sh

# 0. problems
"$PRM" synthetic --out "$OUT/problems" --seed "$SEED" --split sft="$SFT" label="$LABEL" val="$VAL" test="$TEST"
# 1. warm-up
[ -f "$OUT/policy/sft.json" ] || timed sft "$PRM" sft --data "$OUT/problems/sft.jsonl" --model embedded "${P[@]}" \
  --epochs 1 --lr 2e-4 --batch-size 8 --max-new-tokens 64 --eval-data "$OUT/problems/val.jsonl" \
  --eval-problems 64 --seed "$SEED" --out "$OUT/policy"
# 2. label method on validation, then the labels
LABEL_COMMON=(--policy "$OUT/policy" --rollouts 4 --max-new-tokens 64 "${P[@]}" --no-progress --seed "$SEED")
if [ ! -f "$OUT/valcmp/choice.json" ]; then
  timed valcmp_binary_search "$PRM" label --problems "$OUT/problems/val.jsonl" --limit "$VALCMP" --samples 4 \
    --method binary_search --early-stop --min-correct 2 "${LABEL_COMMON[@]}" --out "$OUT/valcmp/binary_search.jsonl"
  timed valcmp_math_shepherd "$PRM" label --problems "$OUT/problems/val.jsonl" --limit "$VALCMP" --samples 4 \
    --method math_shepherd "${LABEL_COMMON[@]}" --out "$OUT/valcmp/math_shepherd.jsonl"
  for method in binary_search math_shepherd; do
    "$PRM" eval labels --labels "$OUT/valcmp/$method.jsonl" --problems "$OUT/problems/val.jsonl" \
      --out "$OUT/valcmp/$method.quality.json"
  done
  "$PY" benchmarks/loop_synthetic.py choose-label "$OUT"
fi
METHOD=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['method'])" "$OUT/valcmp/choice.json")
METHOD_ARGS=(--method "$METHOD")
[ "$METHOD" = binary_search ] && METHOD_ARGS+=(--early-stop --min-correct 2)
[ -f "$OUT/labels.jsonl.done" ] || { timed label "$PRM" label --problems "$OUT/problems/label.jsonl" \
  --samples "$SAMPLES" "${METHOD_ARGS[@]}" "${LABEL_COMMON[@]}" --group-size 16 --batch-size 64 \
  --out "$OUT/labels.jsonl" --pairs-out "$OUT/orm_pairs.jsonl" && touch "$OUT/labels.jsonl.done"; }
"$PRM" eval labels --labels "$OUT/labels.jsonl" --problems "$OUT/problems/label.jsonl" --out "$OUT/label_quality.json"

# 3. recipe on validation
SEARCH_COMMON=(--policy "$OUT/policy" "${P[@]}" --max-new-tokens 64 --temperature 0.7 --engine-batch-size 64 \
  --problem-batch-size 16 --seed "$SEED" --no-plot)
[ -f "$OUT/val_bon/bon.jsonl" ] || timed val_sampling "$PRM" search --data "$OUT/problems/val.jsonl" \
  --method bon --n "$N" "${SEARCH_COMMON[@]}" --out "$OUT/val_bon"
TRAIN_COMMON=(--format trl_stepwise --model "$OUT/policy" --objective joint --batch-size 16 --max-length 256 \
  --seed "$SEED" --logging-steps 20)
recipe_args() {  # each recipe's options, epochs included
  case $1 in
    full) echo "--lr 5e-5 --epochs 1" ;;
    top8h) echo "--lr 1e-4 --head-lr 2e-3 --train-top-layers 8 --epochs 2" ;;
    fullh) echo "--lr 1e-4 --head-lr 2e-3 --epochs 2" ;;
    lora) echo "--lr 3e-4 --lora-r 16 --lora-alpha 32 --epochs 1" ;;
    *) echo "unknown recipe $1" >&2; exit 2 ;;
  esac
}
head -n "$RECIPE_ROWS" "$OUT/labels.jsonl" > "$OUT/labels_recipe.jsonl"
head -n "$RECIPE_VAL" "$OUT/val_bon/bon.jsonl" > "$OUT/val_bon/bon_recipe.jsonl"
for recipe in $RECIPES; do
  # shellcheck disable=SC2046
  [ -f "$OUT/recipe_$recipe/rm/config.json" ] || timed "recipe_${recipe}_train" "$PRM" train \
    --data "$OUT/labels_recipe.jsonl" "${TRAIN_COMMON[@]}" $(recipe_args "$recipe") \
    --save-steps 100000 --out "$OUT/recipe_$recipe/rm"
  [ -f "$OUT/recipe_$recipe/val/summary.json" ] || timed "recipe_${recipe}_score" "$PRM" search \
    --results "$OUT/val_bon/bon_recipe.jsonl" --prm "$OUT/recipe_$recipe/rm" --orm "$OUT/recipe_$recipe/rm" \
    --seed "$SEED" --no-plot --out "$OUT/recipe_$recipe/val"
done
"$PY" benchmarks/loop_synthetic.py choose-recipe "$OUT" $RECIPES
RECIPE=${FINAL_RECIPE:-$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['recipe'])" "$OUT/recipe_choice.json")}
ROWS=$(wc -l < "$OUT/labels.jsonl")
STEPS_PER_EPOCH=$(( (ROWS + 15) / 16 ))
# shellcheck disable=SC2046
[ -f "$OUT/rm/config.json" ] || timed train "$PRM" train --data "$OUT/labels.jsonl" "${TRAIN_COMMON[@]}" \
  $(recipe_args "$RECIPE") --epochs 2 --save-steps "$STEPS_PER_EPOCH" --out "$OUT/rm"
echo "$RECIPE" > "$OUT/final_recipe"
EPOCH1=$(ls -d "$OUT"/rm/checkpoint-* | sort -t- -k2 -n | head -n 1)
for pick in epoch1 epoch2; do
  model=$OUT/rm; [ $pick = epoch1 ] && model=$EPOCH1
  [ -f "$OUT/val_$pick/summary.json" ] || timed "val_score_$pick" "$PRM" search --results "$OUT/val_bon/bon.jsonl" \
    --prm "$model" --orm "$model" --seed "$SEED" --no-plot --out "$OUT/val_$pick"
done
"$PY" benchmarks/loop_synthetic.py choose-final "$OUT" "$EPOCH1"
MODEL=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['model'])" "$OUT/final_choice.json")
AGG=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['aggregation'])" "$OUT/final_choice.json")

# 4. test, once
[ -f "$OUT/test/summary.json" ] || timed test_bon "$PRM" search --data "$OUT/problems/test.jsonl" --method bon \
  --n "$N" --prm "$MODEL" --orm "$MODEL" --aggregation "$AGG" "${SEARCH_COMMON[@]}" --out "$OUT/test"
[ -f "$OUT/test_beam/summary.json" ] || timed test_beam "$PRM" search --data "$OUT/problems/test.jsonl" \
  --method beam --prm "$MODEL" --beam-width "$BEAM_WIDTH" --n "$BEAM_N" --aggregation "$AGG" --max-steps 4 \
  --max-step-tokens 32 "${SEARCH_COMMON[@]}" --out "$OUT/test_beam"
"$PRM" search --results "$OUT/test/bon.jsonl" --beam-results "$OUT/test_beam/beam.jsonl" --aggregation "$AGG" \
  --data "$OUT/problems/test.jsonl" --policy "$OUT/policy" --seed "$SEED" --out "$OUT/report" \
  --plot-title "Synthetic arithmetic, $TEST test problems, SmolLM2-135M warmed up, N=$N"
"$PRM" eval truth --results "$OUT/test/bon.jsonl" "$OUT/test_beam/beam.jsonl" --problems "$OUT/problems/test.jsonl" \
  --keys "prm:$AGG" orm --out "$OUT/test_truth.json"
# 5. the headline JSON
"$PY" benchmarks/loop_synthetic.py report "$OUT" "$AGG"
