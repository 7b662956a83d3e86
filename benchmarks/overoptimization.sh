#!/usr/bin/env bash
# Overoptimization on the synthetic task (issue 14): best-of-n by a proxy reward against the exact
# gold, as the selection pressure (KL_bon = log n - (n-1)/n) grows, for a trained PRM, an ensemble
# of two PRMs and a deliberately weak proxy.
#
#   bash benchmarks/overoptimization.sh      # after benchmarks/loop_synthetic.sh; ~15-20 min on the 2-core CPU
#
#  1. a pool of $POOL samples per problem on the first $PROBLEMS validation problems of the loop
#     ($LOOP/problems/val.jsonl), from the loop's warmed policy with the loop's prompt and
#     sampling (SEARCH_COMMON of benchmarks/loop_synthetic.sh), scored by $PRM_A (PRM and ORM);
#  2. the same samples scored again by $PRM_B (no new samples);
#  3. `prm eval overoptimization`: for n = 1, 2, 4, ..., $POOL the proxy score and the gold
#     accuracy (exact final answer; every step right by the exact checker) of the best-of-n pick,
#     exact over the n-subsets of each pool (ties split), with 95% bootstrap intervals over problems.
#     Proxies: $PRM_A's PRM (aggregation $AGG), the mean ensemble of $PRM_A and $PRM_B (per step,
#     then $AGG), and the weak proxy `neg_steps` (minus the step count: it prefers the shortest
#     solution; on this task a solution shorter than the problem's operations has skipped work,
#     so pressure on it should find truncated and wrong solutions - Goodhart in its plainest form);
#  4. $DOCS_JSON and $DOCS_PNG (docs/results/overoptimization.json, docs/figures/overoptimization.png).
# Every stage is skipped when its output exists; delete $OUT to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
LOOP=${LOOP:-runs/loop0}
OUT=${OUT:-runs/overoptimization}
PROBLEMS=${PROBLEMS:-64}
POOL=${POOL:-64}
SEED=${SEED:-0}
POLICY=${POLICY:-$LOOP/policy}
VAL=${VAL:-$LOOP/problems/val.jsonl}
PRM_A=${PRM_A:-$LOOP/recipe_full/rm}
PRM_B=${PRM_B:-$LOOP/exp_top8h/rm}
AGG=${AGG:-last}
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-64}
BOOTSTRAP=${BOOTSTRAP:-10000}
DOCS_JSON=${DOCS_JSON:-docs/results/overoptimization.json}
DOCS_PNG=${DOCS_PNG:-docs/figures/overoptimization.png}
THREADS=${THREADS:-2}
PRM=${PRM:-prm}
PY=${PY:-python}
# offline hubs, threads, the loop's prompt flags P and `timed NAME command...`
. benchmarks/synthetic_env.sh
# SEARCH_COMMON of benchmarks/loop_synthetic.sh: the policy sampled as the loop sampled it
SEARCH_COMMON=(--policy "$POLICY" "${P[@]}" --max-new-tokens "$MAX_NEW_TOKENS" --temperature 0.7 \
  --engine-batch-size 64 --problem-batch-size 16 --seed "$SEED" --no-plot)

# 1. the pool, scored by the first model
[ -f "$OUT/pool/bon.jsonl" ] || timed pool "$PRM" search --data "$VAL" --limit "$PROBLEMS" --method bon --n "$POOL" \
  "${SEARCH_COMMON[@]}" --prm "$PRM_A" --orm "$PRM_A" --aggregation "$AGG" --bootstrap 1000 --out "$OUT/pool"
# 2. the same samples scored by the second model
[ -f "$OUT/second/bon.jsonl" ] || timed second "$PRM" search --results "$OUT/pool/bon.jsonl" --prm "$PRM_B" \
  --orm "$PRM_B" --aggregation "$AGG" --seed "$SEED" --no-plot --bootstrap 1000 --out "$OUT/second"
# 3. the curves
[ -f "$OUT/curves/overoptimization.json" ] || timed curves "$PRM" eval overoptimization --results prm="$OUT/pool/bon.jsonl" second="$OUT/second/bon.jsonl" \
  --problems "$VAL" --keys "prm:$AGG" --ensemble mean --weak neg_steps --bootstrap "$BOOTSTRAP" --seed "$SEED" \
  --plot-title "Synthetic arithmetic: best-of-n by a proxy, $PROBLEMS validation problems, pool $POOL" \
  --out "$OUT/curves"
# 4. docs-ready JSON and the figure
"$PY" benchmarks/overoptimization.py "$OUT" "$DOCS_JSON" --single "prm/prm:$AGG" \
  --ensemble "mean(prm,second)/prm:$AGG" --weak neg_steps --setup problems="$PROBLEMS" pool="$POOL" \
  policy="$POLICY" prm_a="$PRM_A" prm_b="$PRM_B" aggregation="$AGG" seed="$SEED" val="$VAL"
mkdir -p "$(dirname "$DOCS_PNG")"
cp "$OUT/curves/overoptimization.png" "$DOCS_PNG"
echo "wrote $DOCS_JSON and $DOCS_PNG"
