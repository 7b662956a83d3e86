"""`prm score`: score step-wise solutions with a reward model, jsonl in, jsonl out.

Public: `add_arguments(parser)`, `run(args) -> int`.

Example: prm score --reward-model runs/prm --data solutions.jsonl --out runs/scored --aggregation min
Writes `scored.jsonl` in the --out folder (the old `--output FILE.jsonl` still writes that file,
with a warning, for one release). Each output line is the input record (step-wise form: prompt, completions, labels, id, ...) plus
`step_scores` (one probability per step), `score` (their aggregate), `aggregation`, and
`outcome_score` where the model's outcome head was trained. For a model with only an outcome
head (objective orm or bradley_terry), `score` is the outcome score and `aggregation` "outcome".
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from prm.atomic import atomic_writer
from prm.cli import options, wiring
from prm.errors import OptionError

logger = logging.getLogger("prm.score")
SCORED = "scored.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from prm.data.loading import STEPWISE_FORMATS
    from prm.scores import AGGREGATIONS
    from prm.scoring import OVERFLOW

    parser.add_argument("--reward-model", dest="model", required=True, help="a reward-model folder written by `prm train`")
    parser.add_argument("--data", dest="input", required=True,
                        help=f"step-wise solutions: {wiring.DATA_HELP} ({', '.join(wiring.STEPWISE_NAMES)})")
    parser.add_argument("--data-root", default="../shared/data", help="folder holding the named sets")
    parser.add_argument("--out", dest="output", required=True,
                        help=f"output folder; writes {SCORED}")
    parser.add_argument("--format", default=None, choices=STEPWISE_FORMATS, help="reader (default: recognised)")
    parser.add_argument("--aggregation", default="min", choices=AGGREGATIONS, help="step scores -> solution score")
    parser.add_argument("--scorer-batch-size", dest="batch_size", type=int, default=8,
                        help="solutions per reward-model forward pass")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per solution (default: the model's)")
    parser.add_argument("--overflow", default="error", choices=OVERFLOW,
                        help="a solution longer than --max-length: fail, or repeat the last score that fits")
    options.add_compute(parser)
    for old, new in (("--model", "--reward-model"), ("--input", "--data"), ("--output", "--out"),
                     ("--batch-size", "--scorer-batch-size")):
        options.deprecate(parser, old, new)


def run(args: argparse.Namespace) -> int:
    from prm.modeling.reward_model import load_reward_model
    from prm.scoring import PRMScorer, SolutionScore

    started = time.perf_counter()
    if args.batch_size < 1:
        raise OptionError("--batch-size", "must be >= 1", value=args.batch_size)
    output = Path(wiring.output_file(args.output, SCORED))
    records = wiring.load_stepwise(args.input, args.data_root, format=args.format)
    if not records:
        raise ValueError(f"--data {args.input}: no solutions in the file; give a file with at least one row")
    if not Path(args.model).is_dir():
        raise FileNotFoundError(f"--reward-model {args.model}: no such folder; give a folder written by `prm train` "
                                "(it holds reward_config.json)")
    with wiring.phase(f"loading reward model {args.model} on {args.device}"):
        model, tokenizer = load_reward_model(args.model, device=args.device)
    scorer = PRMScorer(model, tokenizer, args.batch_size, args.max_length, args.overflow)
    output.parent.mkdir(parents=True, exist_ok=True)
    chunk = max(args.batch_size * 8, 64)  # sort by length within chunks; stream the output
    steps_total = 0
    heads = model.reward_config.trained_heads
    outcome_only = bool(heads) and "step" not in heads
    scores = []
    with atomic_writer(output) as handle, wiring.progress(len(records), "scoring", unit="solution") as advance:
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            if outcome_only:  # an ORM: the solution score is the outcome head's
                outcomes = scorer.score_outcomes([r.prompt for r in part], [r.steps for r in part])
                results = [SolutionScore((), o, "outcome", o) for o in outcomes]
            else:
                results = scorer.score(part, args.aggregation)
            for record, result in zip(part, results):
                row = record.to_dict()
                if not outcome_only:
                    row["step_scores"] = list(result.step_scores)
                row.update(score=result.score, aggregation=result.aggregation)
                if result.outcome_score is not None:
                    row["outcome_score"] = result.outcome_score
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                steps_total += len(result.step_scores)
                scores.append(result.score)
            advance(start + len(part))
    seconds = time.perf_counter() - started
    mean = sum(scores) / len(scores) if scores else float("nan")
    print(
        f"scored {len(records)} solutions ({steps_total} steps) with {args.model} in {seconds:.1f} s; "
        f"mean {'outcome' if outcome_only else args.aggregation} score {mean:.4f}; wrote {output}"
    )
    return 0
