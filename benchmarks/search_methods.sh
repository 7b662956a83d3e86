#!/usr/bin/env bash
# The compute-matched comparison of search methods (issue 15) on the synthetic task, with the
# policy, reward model, test problems and best-of-N samples of `benchmarks/loop_synthetic.sh`
# (run that first; OUT must hold its outputs). Every method reads the same test problems; the
# best-of-n, weighted and majority rows read the loop's N samples per problem, and each guided
# method is set against the best-of-k whose generated tokens are closest to its own.
#
#   OUT=runs/loop0 bash benchmarks/search_methods.sh
#   OUT=runs/loop0 LARGER=16 bash benchmarks/search_methods.sh   # also $LARGER_METHODS at budget 16
#
# Writes OUT/test_methods/{dvts,particle_filter,rebase}.jsonl (and OUT/test_methods_b$LARGER/ for
# each larger budget), OUT/report_methods/ (summary, per-problem hits, accuracy_vs_tokens.png) and
# docs/results/search_methods.json, which holds every budget run so far.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/loop0}
SEED=${SEED:-0}
WIDTH=${WIDTH:-2}          # beam / DVTS paths kept per problem
BUDGET=${BUDGET:-8}        # beam / DVTS candidates per round, particles, REBASE solutions
LARGER=${LARGER:-}         # more budgets (e.g. "16 32") for LARGER_METHODS
LARGER_METHODS=${LARGER_METHODS:-"particle_filter rebase"}
THREADS=${THREADS:-2}
PRM=${PRM:-prm}
PY=${PY:-python}
# offline hubs, threads, the loop's prompt flags P and `timed NAME command...`
. benchmarks/synthetic_env.sh
TIMES=$OUT/times_methods  # apart from the loop's stage times, which its report reads
MODEL=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['model'])" "$OUT/final_choice.json")
AGG=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['aggregation'])" "$OUT/final_choice.json")
[ -f "$OUT/test_methods/rebase.jsonl" ] || timed test_methods "$PRM" search --data "$OUT/problems/test.jsonl" \
  --method dvts particle_filter rebase --prm "$MODEL" --beam-width "$WIDTH" --n "$BUDGET" --aggregation "$AGG" \
  --max-rounds 4 --max-step-tokens 32 --policy "$OUT/policy" "${P[@]}" \
  --max-new-tokens 64 --temperature 0.7 --engine-batch-size 64 --problem-batch-size 16 --seed "$SEED" --no-plot \
  --out "$OUT/test_methods"
RESULTS=("$OUT/test_methods/dvts.jsonl" "$OUT/test_methods/particle_filter.jsonl" "$OUT/test_methods/rebase.jsonl")
for budget in $LARGER; do
  for method in $LARGER_METHODS; do
    [ -f "$OUT/test_methods_b$budget/$method.jsonl" ] || timed "test_methods_b${budget}_$method" "$PRM" search \
      --data "$OUT/problems/test.jsonl" --method "$method" --prm "$MODEL" --beam-width "$WIDTH" --n "$budget" \
      --aggregation "$AGG" --max-rounds 4 --max-step-tokens 32 --policy "$OUT/policy" "${P[@]}" \
      --max-new-tokens 64 --temperature 0.7 --engine-batch-size 64 --problem-batch-size 16 --seed "$SEED" --no-plot \
      --out "$OUT/test_methods_b$budget"
  done
done
for file in "$OUT"/test_methods_b*/*.jsonl; do [ -f "$file" ] && RESULTS+=("$file"); done
"$PRM" search --results "$OUT/test/bon.jsonl" --beam-results "$OUT/test_beam/beam.jsonl" "${RESULTS[@]}" \
  --aggregation "$AGG" --data "$OUT/problems/test.jsonl" --policy "$OUT/policy" --seed "$SEED" \
  --out "$OUT/report_methods" --plot-title "Search methods at matched generated tokens, synthetic test, SmolLM2-135M"
"$PY" benchmarks/search_methods.py "$OUT/report_methods" docs/results/search_methods.json "$AGG"
cp "$OUT/report_methods/accuracy_vs_tokens.png" docs/figures/search_methods_accuracy_vs_tokens.png
