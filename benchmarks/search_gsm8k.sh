#!/usr/bin/env bash
# Accuracy against N on GSM8K test with the embedded policy, its verifiers made by the toolkit.
#
#   bash benchmarks/search_gsm8k.sh                 # defaults below; ~1.5-2 h on a 2-core CPU
#   PROBLEMS=200 N=64 BEAMS="2 4 4 16" DEVICE=cuda bash benchmarks/search_gsm8k.sh   # on a GPU
#
# 1. `prm sft`: SmolLM2-135M-Instruct warmed up on the first $SFT GSM8K train solutions
#    (one step per line, boxed answer), held-out accuracy before/after on 32 test problems.
# 2. `prm label --method perturb`: the first $LABEL train reference solutions plus one copy each
#    with a wrong result planted and carried forward (no generation), and held-out labels from
#    the next 64 train problems; `prm train --objective joint`: PRM + ORM heads on the policy.
#    `prm eval auroc` on the held-out labels says whether the step head learned anything.
# 3. `prm search --method bon`: N samples per test problem, policy only (runs/gsm8k/sampled);
#    then `prm search --results ... --prm --orm` scores the same samples (runs/gsm8k/search).
# 4. `prm search --method beam` at each "M N" of $BEAMS (width M, N candidates per step).
# 5. The report (runs/gsm8k/report): accuracy-vs-k table for every selection rule, the beam runs
#    with their generated tokens per problem, curves.csv/json and the two plots.
#
# Every stage is skipped when its output exists, so a rerun continues; delete runs/gsm8k to redo.
# Prints the tables; JSON in runs/gsm8k/{policy/sft.json,auroc.json,report/summary.json,report/curves.json}.
set -euo pipefail
cd "$(dirname "$0")/.."
PROBLEMS=${PROBLEMS:-40}
N=${N:-16}
SFT=${SFT:-320}
LABEL=${LABEL:-192}
BEAMS=${BEAMS:-"2 4"}
DEVICE=${DEVICE:-cpu}
DATA_ROOT=${DATA_ROOT:-../shared/data}
OUT=${OUT:-runs/gsm8k}
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
PRM=${PRM:-prm}
mkdir -p "$OUT"

if [ ! -f "$OUT/policy/sft.json" ]; then
  "$PRM" sft --data gsm8k-train --data-root "$DATA_ROOT" --limit "$SFT" --eval-data gsm8k --eval-problems 32 \
    --max-length 320 --out "$OUT/policy"
fi
if [ ! -f "$OUT/rm/config.json" ]; then
  "$PRM" label --problems "$DATA_ROOT/gsm8k/train.jsonl" --limit "$LABEL" --method perturb --samples 1 \
    --out "$OUT/labels.jsonl"
  "$PRM" train --data "$OUT/labels.jsonl" --format trl_stepwise --model "$OUT/policy" --objective joint \
    --epochs 2 --lr 5e-5 --batch-size 8 --max-length 384 --save-steps 100000 --seed 0 --out "$OUT/rm"
fi
if [ ! -f "$OUT/auroc.json" ]; then
  # held-out labels: the next 64 train problems (none of them trained the reward model)
  "$PRM" label --problems "$DATA_ROOT/gsm8k/train.jsonl" --limit $((LABEL + 64)) --method perturb --samples 1 \
    --out "$OUT/labels_all.jsonl"
  python - "$OUT" "$LABEL" <<'EOF'
import json, sys
out, first = sys.argv[1], int(sys.argv[2])
rows = [json.loads(line) for line in open(f"{out}/labels_all.jsonl")]
held = [r for r in rows if int(r["problem_id"].rsplit("-", 1)[1]) >= first]
open(f"{out}/labels_heldout.jsonl", "w").writelines(json.dumps(r) + "\n" for r in held)
EOF
  "$PRM" eval auroc --prm "$OUT/rm" --data "$OUT/labels_heldout.jsonl" --format trl_stepwise \
    --device "$DEVICE" --out "$OUT/auroc.json"
fi
if [ ! -f "$OUT/sampled/bon.jsonl" ]; then
  "$PRM" search --data gsm8k --data-root "$DATA_ROOT" --limit "$PROBLEMS" --policy "$OUT/policy" --method bon \
    --n "$N" --max-new-tokens 256 --device "$DEVICE" --seed 0 --out "$OUT/sampled"
fi
if [ ! -f "$OUT/search/summary.json" ]; then
  "$PRM" search --results "$OUT/sampled/bon.jsonl" --prm "$OUT/rm" --orm "$OUT/rm" --device "$DEVICE" \
    --seed 0 --no-plot --out "$OUT/search"
fi
read -r -a beams <<< "$BEAMS"
beam_args=()
for ((i = 0; i + 1 < ${#beams[@]}; i += 2)); do
  width=${beams[i]} candidates=${beams[i + 1]}
  if [ ! -f "$OUT/beam_m${width}_n${candidates}/summary.json" ]; then
    "$PRM" search --data gsm8k --data-root "$DATA_ROOT" --limit "$PROBLEMS" --policy "$OUT/policy" \
      --prm "$OUT/rm" --method beam --beam-width "$width" --n "$candidates" --aggregation min --max-steps 10 \
      --max-step-tokens 96 --device "$DEVICE" --seed 0 --no-plot --out "$OUT/beam_m${width}_n${candidates}"
  fi
  [ ${#beam_args[@]} -eq 0 ] && beam_args=(--beam-results)
  beam_args+=("$OUT/beam_m${width}_n${candidates}/beam.jsonl")
done
# The report: the rescored samples' curves with the beam runs, table printed, plots drawn.
"$PRM" search --results "$OUT/search/bon.jsonl" "${beam_args[@]}" --aggregation min \
  --seed 0 --out "$OUT/report"
