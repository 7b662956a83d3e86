"""CLI wiring for `prm search` / `prm eval`: data, policy, scorers, grader, progress bars.

Public: `load_problems`, `shard_slice`, `build_policy`, `load_scorers`, `grader`, `progress`,
`scorer_token_counter`, `count_scorer_tokens`.

Only the CLI modules import this; the search algorithms take plain callables and protocols.
Heavy imports (torch, transformers, the grader) happen inside the functions.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from prm.records import Problem
from search.candidates import ProblemCandidates

NAMED_DATA = {
    "gsm8k": ("gsm8k/test.jsonl", "gsm8k"),
    "gsm8k-train": ("gsm8k/train.jsonl", "gsm8k"),
    "math500": ("math/math500_test.jsonl", "math"),
    "math-train": ("math/math_train.jsonl", "math"),
}


def shard_slice(items: Sequence[Any], shard: str | None) -> list[Any]:
    """Items i, i+n, i+2n, ... for shard "i/n" (all items for None)."""
    if shard is None:
        return list(items)
    try:
        index, count = (int(part) for part in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {shard!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {shard!r}: need 0 <= i < n")
    return list(items[index::count])


def load_problems(
    data: str, data_root: str, limit: int | None, shard: str | None, seed: int = 0
) -> list[Problem]:
    """Problems for --data: gsm8k, math500 (under data_root), synthetic, or a file path."""
    if data == "synthetic":
        from prm.data.synthetic import SyntheticConfig, make_problems

        problems = make_problems(limit or 100, SyntheticConfig(seed=seed))
    else:
        from prm.data import load_problems as read

        if data in NAMED_DATA:
            relative, format = NAMED_DATA[data]
            path = Path(data_root) / relative
        else:
            path, format = Path(data), None
        if not path.exists():
            raise SystemExit(
                f"{path} not found; pass --data {'|'.join(NAMED_DATA)}|synthetic|PATH and point "
                "--data-root at the folder holding gsm8k/ and math/"
            )
        problems = read(path, format=format)
    return shard_slice(problems, shard)[:limit] if limit else shard_slice(problems, shard)


def build_policy(args: Any) -> tuple[Any, Callable[[Problem], str]]:
    """The transformers engine for --policy and the prompt builder (prm.engines.prompts: the
    same prompt `prm label` and the demo's SFT step use)."""
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig
    from prm.engines.prompts import DEFAULT_TEMPLATE, policy_prompt, resolve_template

    engine = TransformersEngine.from_pretrained(
        args.policy, config=TransformersEngineConfig(batch_size=args.engine_batch_size), device=args.device
    )
    template = resolve_template(engine.tokenizer, args.prompt_template or DEFAULT_TEMPLATE, args.chat_template)
    return engine, lambda problem: policy_prompt(problem.question, template)


def load_scorers(prm: str | None, orm: str | None, device: str = "cpu") -> tuple[Any, Any]:
    """PRM (step head) and ORM (outcome head) scorers from reward-model folders, or None."""
    if prm is None and orm is None:
        return None, None
    from prm.scoring import PRMScorer

    step = PRMScorer.from_pretrained(prm, device=device) if prm else None
    outcome = None
    if orm:
        outcome = step if orm == prm else PRMScorer.from_pretrained(orm, device=device)
    return step, outcome


@contextlib.contextmanager
def grader(timeout: float = 2.0) -> Iterator[tuple[Callable, Callable]]:
    """(extract_answer, grade) where grade(gold, pred) -> True / False / None (ungradable)."""
    from prm.grading import Grader, Verdict, extract_answer

    verdicts = {Verdict.CORRECT: True, Verdict.INCORRECT: False, Verdict.UNGRADABLE: None}
    with Grader(timeout=timeout) as instance:
        yield extract_answer, lambda gold, pred: verdicts[instance.grade(gold, pred).verdict]


@contextlib.contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar; yields advance(done_so_far)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, unit="problem")
    try:
        yield lambda done: bar.update(done - bar.n)
    finally:
        bar.close()


def scorer_token_counter(scorer: Any) -> Callable[[str, Sequence[str]], int] | None:
    """tokens(prompt, steps) the scorer reads for one solution, where it exposes `encode`."""
    encode = getattr(scorer, "encode", None)
    if encode is None:
        return None
    return lambda prompt, steps: len(encode([prompt], [list(steps)])[0].input_ids)


def count_scorer_tokens(scorer: Any, results: Sequence[ProblemCandidates]) -> int:
    """Tokens the scorer read for every scored candidate (0 where it cannot say)."""
    counter = scorer_token_counter(scorer)
    if counter is None:
        return 0
    return sum(counter(r.prompt, c.steps) for r in results for c in r.candidates if c.steps)
