"""The Python API: one call each for what a user does, with plain Python values in and out.

Public (also importable from `prm` itself): `load_scorer`, `score`, `best_of_n`, `beam_search`,
`label`, `grade`, `SearchResult`, `Labels`.

    from prm import load_scorer, score, best_of_n, beam_search, label, grade

    scorer = load_scorer("runs/rm")                     # any --prm-kind folder; kind recognised
    score(scorer, "What is 3 + 4?", ["3 + 4 = 7.", "The answer is \\boxed{7}."]).step_scores
    result = best_of_n(["What is 3 + 4?"], ["7"], policy="embedded", prm=scorer, n=8)
    result.accuracy(), result.to_frame()               # per-problem outcomes as a DataFrame

Like `prm.cli`, this module sits on top of the layers (DESIGN.md): it wires the core, `search`,
`labeling` and `orm` together through `prm.cli.wiring`, the one place that turns names (model
folders, public PRM conventions, engines, the grader) into objects, so a name means here what it
means on the command line. `prm/__init__.py` reaches it lazily (PEP 562), so `import prm` and
every core module load none of it. Library rules hold: nothing here prints, parses argv or exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from prm.engines.base import SamplingConfig
from prm.grading import grade
from prm.records import Problem
from prm.scores import OutcomeScorer
from prm.steps import StepFormat

__all__ = ["load_scorer", "score", "best_of_n", "beam_search", "label", "grade", "SearchResult", "Labels"]


def load_scorer(path: str | Path, kind: str | None = None, device: str = "auto") -> Any:
    """A step scorer (`prm.scores.StepScorer`) for a reward-model folder.

    kind: one of `prm.cli.wiring.PRM_KINDS` (toolkit, math_shepherd, qwen_prm, label_token,
    implicit, rlhflow, skywork_prm); None recognises it from the folder as `prm search --prm`
    does. A toolkit folder with an outcome head, and an implicit PRM, also score outcomes.
    device: "auto" (a GPU where one is visible), "cpu", "cuda", ...
    """
    from prm.cli import wiring
    from prm.rewards import load_device

    return wiring.load_step_scorer(str(path), kind, load_device(device))


def score(scorer: Any, question: str | Sequence[str], steps: Any, aggregation: str = "min") -> Any:
    """Step scores and their aggregate for one solution, or for a list of them.

    question a str: `steps` is one solution, a list of steps or its text (split with the
    scorer's step format); returns one `prm.scoring.SolutionScore`. question a list: `steps`
    holds one solution per question; returns a list. outcome_score is the outcome head's (or
    an implicit PRM's) probability where the scorer has one, else None.
    """
    from prm.cli import wiring
    from prm.scores import aggregate
    from prm.scoring import SolutionScore

    single = isinstance(question, str)
    questions, solutions = ([question], [steps]) if single else (list(question), list(steps))
    if len(questions) != len(solutions):
        raise ValueError(f"{len(questions)} questions but {len(solutions)} solutions; give one solution per question")
    step_format = wiring.scorer_step_format(scorer, None)
    split = [step_format.split(s, drop_empty=True) if isinstance(s, str) else list(s) for s in solutions]
    step_scores = scorer.score_steps(questions, split)
    outcomes = scorer.score_outcomes(questions, split) if _scores_outcomes(scorer) else [None] * len(split)
    scores = [
        SolutionScore(tuple(float(p) for p in probs), aggregate(probs, aggregation), aggregation,
                      None if outcome is None else float(outcome))
        for probs, outcome in zip(step_scores, outcomes)
    ]
    return scores[0] if single else scores


def _scores_outcomes(scorer: Any) -> bool:
    heads = getattr(scorer, "trained_heads", None)  # a toolkit reward model says which heads it trained
    return "outcome" in heads if heads is not None else isinstance(scorer, OutcomeScorer)


@dataclass(frozen=True)
class SearchResult:
    """What `best_of_n` and `beam_search` return. results: one `search.candidates.ProblemCandidates`
    per problem (graded, scored, answer-grouped); score_key: the default ranking ("prm:min",
    "orm", ...; None where nothing scored them)."""

    results: tuple[Any, ...]
    score_key: str | None

    def answers(self, rule: str = "rm", score_key: str | None = None) -> list[str | None]:
        """The chosen final answer per problem under a selection rule (rm, majority, weighted,
        pass); rm and weighted fall back to majority where nothing scored the candidates."""
        from search.best_of_n import select

        rule, key = self._rule(rule, score_key)
        picks = [select(r, rule, key) for r in self.results]
        return [None if j is None else r.candidates[j].answer for r, j in zip(self.results, picks)]

    def accuracy(self, rule: str = "rm", score_key: str | None = None) -> float:
        """Fraction of problems whose chosen candidate is correct under `rule` (see `answers`)."""
        from search.best_of_n import selection_accuracy

        rule, key = self._rule(rule, score_key)
        return selection_accuracy(list(self.results), rule, key)

    def to_frame(self):
        """Per-problem outcomes: one row per (problem, selection rule) (`search.tables.outcomes_frame`)."""
        from search.tables import outcomes_frame

        return outcomes_frame(self.results)

    def candidates_frame(self):
        """One row per candidate solution (`search.tables.candidates_frame`)."""
        from search.tables import candidates_frame

        return candidates_frame(self.results)

    def save(self, path: str | Path) -> int:
        """Write the rows `prm search --results` reads back (jsonl); returns the count."""
        from search.candidates import write_jsonl

        return write_jsonl(self.results, path)

    def _rule(self, rule: str, score_key: str | None) -> tuple[str, str | None]:
        key = score_key or self.score_key
        if rule in ("rm", "weighted") and key is None:
            return "majority", None
        return rule, key if rule in ("rm", "weighted") else None


def best_of_n(
    questions: Sequence[str | Problem],
    answers: Sequence[str | None] | None = None,
    *,
    policy: Any = "embedded",
    prm: Any = None,
    orm: Any = None,
    n: int = 8,
    aggregation: str = "min",
    temperature: float = 0.7,
    max_new_tokens: int = 256,
    seed: int = 0,
    device: str = "auto",
    prompt_template: str | None = None,
    step_format: StepFormat | None = None,
) -> SearchResult:
    """Sample `n` solutions per question from `policy`, grade them against `answers`, score them
    with `prm` (step scores) and/or `orm` (outcome score), and group their answers for voting.

    policy: a causal-LM name or folder ("embedded": the bundled SmolLM2-135M) or an engine (a
    `prm.engines.base.GenerationEngine`). prm / orm: a folder (its kind recognised) or a
    scorer (a public PRM that needs its kind named: `load_scorer(path, kind=...)`).
    The default ranking is prm:<aggregation>, else orm.
    """
    from search.best_of_n import BestOfNConfig, group_candidates, run, score_candidates

    prm, orm = _scorers(prm, orm, device)
    sampling = SamplingConfig(n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    config = BestOfNConfig(sampling)

    def search(problems, engine, setup, grouper):
        results = run(problems, engine, None, config, setup)
        return group_candidates(score_candidates(results, prm=prm, orm=orm), grouper)

    results = _run_search(search, questions, answers, policy, prm, device, prompt_template, step_format)
    key = f"prm:{aggregation}" if prm is not None else "orm" if orm is not None else None
    return SearchResult(tuple(results), key)


def beam_search(
    questions: Sequence[str | Problem],
    answers: Sequence[str | None] | None = None,
    *,
    policy: Any = "embedded",
    prm: Any,
    beam_width: int = 4,
    n_candidates: int = 8,
    max_steps: int = 12,
    max_step_tokens: int = 128,
    aggregation: str = "last",
    temperature: float = 0.7,
    seed: int = 0,
    device: str = "auto",
    prompt_template: str | None = None,
    step_format: StepFormat | None = None,
) -> SearchResult:
    """Step-level beam search guided by `prm` (a folder or a step scorer): `n_candidates` next
    steps per round, the best `beam_width` prefixes under `aggregation` kept, for `max_steps`
    rounds (`search.beam`). Arguments otherwise as `best_of_n`."""
    from search.beam import BeamSearchConfig, run
    from search.best_of_n import group_candidates

    prm, _ = _scorers(prm, None, device)
    if prm is None:
        raise ValueError("beam_search needs prm= (a reward-model folder or a step scorer): the PRM guides it")
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=max_step_tokens, seed=seed)
    config = BeamSearchConfig(beam_width=beam_width, n_candidates=n_candidates, max_steps=max_steps,
                              aggregation=aggregation, sampling=sampling)

    def search(problems, engine, setup, grouper):
        return group_candidates(run(problems, engine, prm, config, setup), grouper)

    results = _run_search(search, questions, answers, policy, prm, device, prompt_template, step_format)
    return SearchResult(tuple(results), f"prm:{aggregation}")


def _scorers(prm: Any, orm: Any, device: str) -> tuple[Any, Any]:
    """Folders loaded (one load where prm and orm name the same folder), scorers passed through."""
    from prm.cli import wiring
    from prm.rewards import load_device

    paths = [value if isinstance(value, (str, Path)) else None for value in (prm, orm)]
    loaded = wiring.load_scorers(*(None if p is None else str(p) for p in paths), load_device(device))
    return tuple(loaded[i] if paths[i] is not None else value for i, value in enumerate((prm, orm)))


def _problems(questions: Sequence[str | Problem], answers: Sequence[str | None] | None) -> list[Problem]:
    if isinstance(questions, str):
        raise ValueError("questions is a str; give a list of questions (one per problem)")
    if answers is not None and len(answers) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers; give one gold answer per question")
    golds = list(answers) if answers is not None else [None] * len(questions)
    problems = []
    for index, (question, gold) in enumerate(zip(questions, golds)):
        if isinstance(question, Problem):
            problems.append(question if answers is None else Problem(question.id, question.question, gold))
        else:
            problems.append(Problem(str(index), question, None if gold is None else str(gold)))
    return problems


def _policy(policy: Any, device: str, template: str | None) -> tuple[Any, str]:
    """(engine, template): a name or folder loads the transformers engine; an engine is used as
    given. The template is the toolkit's one policy prompt (or `template`), in the tokenizer's
    chat template where it has one, as `prm search` and `prm label` build it."""
    from prm.engines.prompts import DEFAULT_TEMPLATE, resolve_template
    from prm.rewards import load_device

    if isinstance(policy, (str, Path)):
        from prm.cli import wiring

        engine, tokenizer = wiring.build_engine("transformers", str(policy), device=load_device(device))
    else:
        engine, tokenizer = policy, getattr(policy, "tokenizer", None)
    template = template or DEFAULT_TEMPLATE
    return engine, template if tokenizer is None else resolve_template(tokenizer, template)


def _run_search(search, questions, answers, policy, prm, device, template, step_format) -> list[Any]:
    """search(problems, engine, setup, grouper) under the bounded grader, with the setup every
    method takes (prompt, grader, step format: the PRM's, as `prm search` picks it)."""
    from prm.cli import wiring
    from prm.engines.prompts import policy_prompt
    from search.candidates import SearchSetup
    from search.voting import AnswerGrouper

    problems = _problems(questions, answers)
    engine, template = _policy(policy, device, template)

    def prompt_for(problem: Problem) -> str:
        return policy_prompt(problem.question, template)

    step_format = step_format or wiring.scorer_step_format(prm, None)
    with wiring.grader() as (extract_answer, grade_answer):
        setup = SearchSetup(prompt_for, extract_answer, grade_answer, step_format, wiring.scorer_token_counter(prm))
        return search(problems, engine, setup, AnswerGrouper(grade_answer))


@dataclass(frozen=True)
class Labels:
    """What `label` returns. rows: the step-wise records `prm label` writes (`prompt`,
    `completions`, `labels`, `mc_values`, costs, ...) that `prm train` reads; step_format: the
    format they were split in."""

    rows: tuple[dict, ...]
    step_format: StepFormat

    def to_frame(self):
        """One row per labelled solution (`labeling.tables.labels_frame`)."""
        from labeling.tables import labels_frame

        return labels_frame(self.rows)

    def steps_frame(self):
        """One row per step with its label and Monte Carlo value (`labeling.tables.steps_frame`)."""
        from labeling.tables import steps_frame

        return steps_frame(self.rows)

    def summary(self) -> dict[str, Any]:
        """Totals: records, steps, rollouts, tokens, seconds, accuracy (`labeling.runner.summarize`)."""
        from labeling.runner import summarize

        return summarize(self.rows)

    def save(self, path: str | Path) -> Path:
        """The rows as JSON lines plus the sidecar recording the step format, which `prm train
        --data PATH` reads back; written atomically. Returns the path."""
        import json

        from labeling.store import sidecar_path
        from prm.atomic import atomic_write
        from prm.data.io import write_jsonl

        write_jsonl(list(self.rows), path)
        atomic_write(sidecar_path(path), json.dumps({"command": "label", "step_format": self.step_format.to_dict()}) + "\n")
        return Path(path)


def label(
    questions: Sequence[str | Problem],
    answers: Sequence[str | None],
    *,
    policy: Any = "embedded",
    samples: int = 4,
    method: str = "math_shepherd",
    rollouts: int = 8,
    early_stop: bool = False,
    label_type: str = "hard",
    temperature: float = 0.7,
    max_new_tokens: int = 256,
    step_format: StepFormat | str = "default",
    device: str = "auto",
    prompt_template: str | None = None,
    group_size: int = 8,
) -> Labels:
    """Sample `samples` solutions per question from `policy`, grade them against `answers` and
    label every step by Monte Carlo rollouts (method math_shepherd or binary_search; see
    `labeling.estimators`), in memory (`prm label` is the resumable, sharded version)."""
    from labeling.estimators import EstimatorConfig
    from labeling.pipeline import LabelingJob, make_processor, problem_units
    from labeling.rollouts import RolloutConfig
    from prm.cli import wiring
    from prm.steps import step_format_named

    if answers is None:
        raise ValueError("label needs answers= (a gold answer per question): rollouts are graded against them")
    step_format = step_format_named(step_format) if isinstance(step_format, str) else step_format
    estimator = EstimatorConfig(method, rollouts, early_stop, label_type=label_type)
    rollout = RolloutConfig(SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens, seed=None))
    problems = _problems(questions, answers)
    engine, template = _policy(policy, device, prompt_template)
    job = LabelingJob(samples, estimator, rollout, template, step_format=step_format)
    process = make_processor(job, engine, wiring.solution_grader("transformers"))
    units = problem_units(problems, samples)
    rows = [row for start in range(0, len(units), group_size)
            for unit_rows in process(units[start : start + group_size]) for row in unit_rows]
    return Labels(tuple(rows), step_format)

