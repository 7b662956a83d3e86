"""`prm score`: score step-wise solutions with a reward model, jsonl in, jsonl out.

Public: `add_arguments(parser)`, `run(args) -> int`.

Example: prm score --model runs/prm --input solutions.jsonl --output scored.jsonl --aggregation min
Each output line is the input record (step-wise form: prompt, completions, labels, id, ...) plus
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
from prm.errors import OptionError

logger = logging.getLogger("prm.score")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from prm.data.loading import STEPWISE_FORMATS
    from prm.scores import AGGREGATIONS
    from prm.scoring import OVERFLOW

    parser.add_argument("--model", required=True, help="a folder written by `prm train`")
    parser.add_argument("--input", required=True, help="step-wise solutions (.jsonl/.json/.parquet)")
    parser.add_argument("--output", required=True, help="where to write the scored .jsonl")
    parser.add_argument("--format", default=None, choices=STEPWISE_FORMATS, help="reader (default: recognised)")
    parser.add_argument("--aggregation", default="min", choices=AGGREGATIONS)
    parser.add_argument("--batch-size", type=int, default=8, help="solutions per forward pass")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per solution (default: the model's)")
    parser.add_argument("--overflow", default="error", choices=OVERFLOW,
                        help="a solution longer than --max-length: fail, or repeat the last score that fits")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from prm.data.loading import load_stepwise
    from prm.modeling.reward_model import load_reward_model
    from prm.scoring import PRMScorer, SolutionScore

    started = time.perf_counter()
    if args.batch_size < 1:
        raise OptionError("--batch-size", "must be >= 1", value=args.batch_size)
    if not Path(args.input).is_file():
        raise FileNotFoundError(f"--input {args.input}: no such file")
    records = load_stepwise(args.input, format=args.format)
    if not records:
        raise ValueError(f"--input {args.input}: no solutions in the file; give a file with at least one row")
    if not Path(args.model).is_dir():
        raise FileNotFoundError(f"--model {args.model}: no such folder; give a folder written by `prm train` (it holds reward_config.json)")
    model, tokenizer = load_reward_model(args.model, device=args.device)
    scorer = PRMScorer(model, tokenizer, args.batch_size, args.max_length, args.overflow)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    chunk = max(args.batch_size * 8, 64)  # sort by length within chunks; stream the output
    steps_total = 0
    heads = model.reward_config.trained_heads
    outcome_only = bool(heads) and "step" not in heads
    scores = []
    with atomic_writer(output) as handle, tqdm(total=len(records), unit="solution") as bar:
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
            bar.update(len(part))
    seconds = time.perf_counter() - started
    mean = sum(scores) / len(scores) if scores else float("nan")
    print(
        f"scored {len(records)} solutions ({steps_total} steps) with {args.model} in {seconds:.1f} s; "
        f"mean {'outcome' if outcome_only else args.aggregation} score {mean:.4f}; wrote {output}"
    )
    return 0
