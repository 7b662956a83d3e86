#!/usr/bin/env bash
# The loop's follow-up (issue 11): train the verifier of `benchmarks/loop_synthetic.sh` further
# on the same labels, choose on validation, and test once on a fresh split that no earlier
# stage has read. Run after loop_synthetic.sh (OUT holds its outputs, including the epoch-2
# model OUT/rm); every stage is skipped when its output exists.
#
#   OUT=runs/loop0 bash benchmarks/loop_followup.sh
#
#  1. more training, each stage from the one before (fresh heads on the backbone it was given):
#     cont:  every weight, 3 epochs over the distinct labelled solutions (`dedupe`), lr 3e-5;
#     memo:  the top 8 layers (frozen ones cached), 4 epochs over all labels, lr 1e-4;
#     memo2: the same, 3 more epochs, lr 5e-5.
#     All labels keep their repeats: a step labelled in several samples counts each time.
#  2. each model rescores the same N validation samples (OUT/val_bon); so does a lookup of the
#     labels alone (`label-lookup`: how far the labels' own information goes).
#  3. `choose-weighted`: the model and aggregation with the best validation PRM-weighted vote.
#  4. a fresh test split ($FRESH problems): `prm synthetic` with one more split after the
#     loop's (the earlier splits are reproduced byte for byte and checked), N samples scored by
#     the choice, beam search, the report with paired intervals, `prm eval truth`.
#  5. OUT/loop_synthetic_$TEST.json, in the fields of docs/results/loop_synthetic.json, copied to
#     docs/results/ (and its accuracy-vs-k plot to docs/figures/).
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${SEED:-0}
OUT=${OUT:-runs/loop$SEED}
TEST=${TEST:-test2}
FRESH=${FRESH:-320}
N=${N:-16}
BEAM_WIDTH=${BEAM_WIDTH:-2}
BEAM_N=${BEAM_N:-8}
THREADS=${THREADS:-2}
PRM=${PRM:-prm}
PY=${PY:-python}
. benchmarks/synthetic_env.sh
TIMES=$OUT/times_$TEST  # its stages' seconds, apart from the loop's own (whose report they would change)
TRAIN=(--objective joint --per-device-train-batch-size 16 --seed "$SEED" --threads "$THREADS" --save-total-limit 1)
VAL_RESCORE=(--results "$OUT/val_bon/bon.jsonl" --seed "$SEED" --no-plot --threads "$THREADS")

# 1. more training
[ -f "$OUT/labels_unique.jsonl" ] || "$PY" benchmarks/loop_synthetic.py dedupe "$OUT"
[ -f "$OUT/rm_cont/model.safetensors" ] || timed followup_cont "$PRM" train --data "$OUT/labels_unique.jsonl" \
  --backbone "$OUT/rm" --max-length 256 --learning-rate 3e-5 --head-lr 1e-3 --num-train-epochs 3 "${TRAIN[@]}" \
  --out "$OUT/rm_cont"
[ -f "$OUT/rm_memo/model.safetensors" ] || timed followup_memo "$PRM" train --data "$OUT/labels.jsonl" \
  --backbone "$OUT/rm_cont" --train-top-layers 8 --cache-frozen-layers --learning-rate 1e-4 --head-lr 1e-3 \
  --num-train-epochs 4 "${TRAIN[@]}" --out "$OUT/rm_memo"
[ -f "$OUT/rm_memo2/model.safetensors" ] || timed followup_memo2 "$PRM" train --data "$OUT/labels.jsonl" \
  --backbone "$OUT/rm_memo" --train-top-layers 8 --cache-frozen-layers --learning-rate 5e-5 --head-lr 1e-3 \
  --num-train-epochs 3 "${TRAIN[@]}" --out "$OUT/rm_memo2"

# 2. validation
for model in cont memo memo2; do
  [ -f "$OUT/val_$model/summary.json" ] || "$PRM" search "${VAL_RESCORE[@]}" --prm "$OUT/rm_$model" \
    --orm "$OUT/rm_$model" --aggregation mean --out "$OUT/val_$model"
done
[ -f "$OUT/val_lookup/summary.json" ] || {
  "$PY" benchmarks/loop_synthetic.py label-lookup "$OUT" "$OUT/val_bon/bon.jsonl" "$OUT/val_lookup_scored/bon.jsonl"
  "$PRM" search --results "$OUT/val_lookup_scored/bon.jsonl" --aggregation min --seed "$SEED" --no-plot \
    --threads "$THREADS" --out "$OUT/val_lookup"; }

# 3. the choice, written down before the fresh split is sampled
[ -f "$OUT/final_choice_$TEST.json" ] || "$PY" benchmarks/loop_synthetic.py choose-weighted "$OUT" "$TEST" \
  "$OUT/rm_cont=$OUT/val_cont" "$OUT/rm_memo=$OUT/val_memo" "$OUT/rm_memo2=$OUT/val_memo2"
MODEL=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['model'])" "$OUT/final_choice_$TEST.json")
AGG=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['aggregation'])" "$OUT/final_choice_$TEST.json")

# 4. the fresh split, once
manifest=$OUT/problems/manifest.json
splits=$("$PY" -c "import json,sys; print(' '.join(f'{k}={v[\"count\"]}' for k, v in json.load(open(sys.argv[1]))['splits'].items()))" "$manifest")
"$PRM" synthetic --out "$OUT/problems_$TEST" --seed "$SEED" --split $splits "$TEST=$FRESH"
for split in $("$PY" -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['splits']))" "$manifest"); do
  cmp -s "$OUT/problems/$split.jsonl" "$OUT/problems_$TEST/$split.jsonl" \
    || { echo "loop_followup: $split of $OUT/problems_$TEST differs from the loop's; not a fresh split" >&2; exit 1; }
done
PROBLEMS=$OUT/problems_$TEST/$TEST.jsonl
SEARCH_COMMON=(--policy "$OUT/policy" "${P[@]}" --max-new-tokens 64 --temperature 0.7 --engine-batch-size 64 \
  --problem-batch-size 16 --seed "$SEED" --no-plot)
[ -f "$OUT/$TEST/summary.json" ] || timed "${TEST}_bon" "$PRM" search --data "$PROBLEMS" --method bon --n "$N" \
  --prm "$MODEL" --orm "$MODEL" --aggregation "$AGG" "${SEARCH_COMMON[@]}" --out "$OUT/$TEST"
[ -f "$OUT/${TEST}_beam/summary.json" ] || timed "${TEST}_beam" "$PRM" search --data "$PROBLEMS" --method beam \
  --prm "$MODEL" --beam-width "$BEAM_WIDTH" --n "$BEAM_N" --aggregation "$AGG" --max-steps 4 --max-step-tokens 32 \
  "${SEARCH_COMMON[@]}" --out "$OUT/${TEST}_beam"
"$PRM" search --results "$OUT/$TEST/bon.jsonl" --beam-results "$OUT/${TEST}_beam/beam.jsonl" --aggregation "$AGG" \
  --data "$PROBLEMS" --policy "$OUT/policy" --seed "$SEED" --out "$OUT/report_$TEST" \
  --plot-title "Synthetic arithmetic, $FRESH fresh test problems, SmolLM2-135M warmed up, N=$N"
"$PRM" eval truth --results "$OUT/$TEST/bon.jsonl" "$OUT/${TEST}_beam/beam.jsonl" --problems "$PROBLEMS" \
  --keys "prm:$AGG" orm --out "$OUT/${TEST}_truth.json"
# 5. the headline JSON
"$PY" benchmarks/loop_synthetic.py report "$OUT" "$AGG" "$TEST"
cp "$OUT/loop_synthetic_$TEST.json" "docs/results/loop_synthetic_$TEST.json"
cp "$OUT/report_$TEST/accuracy_vs_k.png" "docs/figures/loop_synthetic_${TEST}_accuracy_vs_k.png"
echo "wrote docs/results/loop_synthetic_$TEST.json and docs/figures/loop_synthetic_${TEST}_accuracy_vs_k.png"
