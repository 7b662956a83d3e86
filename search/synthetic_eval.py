"""Judging labels and verifiers against the synthetic task's exact step truth.

Public: `label_agreement`, `truth_report`, `best_of_n_misses`, `gold_correctness`.

`label_agreement(problems, solutions)`: how close step labels (Monte Carlo or any other) came to
`prm.data.synthetic.step_truth`: agreement over labelled steps, first error right, and the
rollout tokens spent. `truth_report(problems, results, keys)`: on scored samples, the PRM's step
AUROC against the exact truth, the oracle PRM (best-of-n picked by the exact truth), how many
steps the checker could not verify (claims it refuses as malformed), and which kinds of wrong
step the PRM scores highest (the errors it misses); per score key, `best_of_n_misses`: why
best-of-n picks a wrong sample where a right one exists. `gold_correctness(problems, results)`: the
gold reward of every candidate (final answer right; every step right as well), for
`search.overoptimization`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from prm.data.synthetic_truth import judge_steps, step_truth, unverifiable_steps
from prm.records import Problem, StepwiseSolution
from search.auroc import auroc
from search.best_of_n import select
from search.candidates import Candidate, ProblemCandidates, candidate_score


def _by_id(problems: Sequence[Problem]) -> dict[str, Problem]:
    return {p.id: p for p in problems}


def label_agreement(problems: Sequence[Problem], solutions: Sequence[StepwiseSolution],
                    problem_ids: Sequence[str | None]) -> dict[str, Any]:
    """Step labels (>= 0.5 is good) against the exact truth, over solutions with any label.

    problem_ids: per solution, the id of the problem it answers (rows without one are skipped).
    """
    by_id = _by_id(problems)
    agree = steps = first_right = counted = good_true = good_labelled = bad_true = bad_caught = 0
    for solution, pid in zip(solutions, problem_ids):
        problem = by_id.get(pid) if pid is not None else None
        if problem is None or not solution.labels or all(v is None for v in solution.labels):
            continue
        truth = step_truth(problem, solution.steps)
        for t, v in zip(truth, solution.labels):
            if v is None:
                continue
            steps += 1
            agree += t == (v >= 0.5)
            good_true += t
            good_labelled += t and v >= 0.5
            bad_true += not t
            bad_caught += (not t) and v < 0.5
        truth_first = next((i for i, t in enumerate(truth) if not t), -1)
        first_right += truth_first == solution.first_error_index()
        counted += 1
    return {
        "solutions": counted,
        "labelled_steps": steps,
        "step_label_agreement": agree / steps if steps else None,
        "first_error_accuracy": first_right / counted if counted else None,
        "good_steps_labelled_good": good_labelled / good_true if good_true else None,
        "bad_steps_labelled_bad": bad_caught / bad_true if bad_true else None,
    }


def gold_correctness(problems: Sequence[Problem], results: Sequence[ProblemCandidates]) -> dict[str, list[np.ndarray]]:
    """Per gold measure, one 0/1 array per result (its candidates in order):

    - `final_answer`: the candidate's graded final answer is right (`is_correct`; on the
      synthetic task the gold answer is exact);
    - `all_steps`: the final answer is right and the exact checker finds every step right (a
      right answer reached by wrong or skipped work does not count).

    A result whose problem is not in `problems` raises (the gold needs its truth)."""
    by_id = _by_id(problems)
    gold: dict[str, list[np.ndarray]] = {"final_answer": [], "all_steps": []}
    for result in results:
        problem = by_id.get(result.problem_id)
        if problem is None:
            raise ValueError(f"problem {result.problem_id!r} of the results is not in the problem files; "
                             "give the synthetic problem file the samples answer")
        answers = [c.is_correct is True for c in result.candidates]
        steps = [right and all(judge_steps(problem, list(c.steps))[0]) for c, right in zip(result.candidates, answers)]
        gold["final_answer"].append(np.array(answers, dtype=float))
        gold["all_steps"].append(np.array(steps, dtype=float))
    return gold


def truth_report(problems: Sequence[Problem], results: Sequence[ProblemCandidates],
                 keys: Sequence[str] = ("prm:min",)) -> dict[str, Any]:
    """Exact-truth figures for scored best-of-n (or beam) samples of synthetic problems."""
    by_id = _by_id(problems)
    step_scores, step_good, kinds = [], [], []
    error_kinds: dict[str, list[float]] = {}  # first-error kind -> the PRM's score of that step
    all_right: list[tuple[Candidate, bool]] = []  # each judged candidate, and whether every step is right
    oracle_hits = judged = unverifiable = total_steps = 0
    missing = 0
    for result in results:
        problem = by_id.get(result.problem_id)
        if problem is None:
            missing += 1
            continue
        judged += 1
        best = None
        for candidate in result.candidates:
            truth, error_kind = judge_steps(problem, list(candidate.steps))
            all_right.append((candidate, all(truth)))
            total_steps += len(truth)
            unverifiable += unverifiable_steps(list(candidate.steps))
            rank = (all(truth), candidate.finished)
            if best is None or rank > best[0]:
                best = (rank, candidate)
            if candidate.step_scores is not None:
                first = next((i for i, t in enumerate(truth) if not t), len(truth))
                for index, (score, good) in enumerate(zip(candidate.step_scores, truth)):
                    step_scores.append(score)
                    step_good.append(good)
                    # Only the first wrong step is a fresh error; later ones inherit it.
                    kinds.append("good" if good else ("first_error" if index == first else "after_error"))
                if first < len(truth) and first < len(candidate.step_scores):
                    error_kinds.setdefault(error_kind or "unknown", []).append(float(candidate.step_scores[first]))
        oracle_hits += bool(best and best[1].is_correct)
    report: dict[str, Any] = {
        "problems": judged,
        "problems_not_in_problem_file": missing,
        "oracle_prm_accuracy": oracle_hits / judged if judged else None,
        "steps": total_steps,
        "unverifiable_steps": unverifiable,
        "unverifiable_fraction": unverifiable / total_steps if total_steps else None,
    }
    if step_scores and 0 < sum(step_good) < len(step_good):
        scores = np.asarray(step_scores, dtype=float)
        good = np.asarray(step_good)
        kind = np.asarray(kinds)
        report["step_auroc_vs_truth"] = auroc(scores, good)
        first = kind != "after_error"
        report["first_error_auroc_vs_truth"] = auroc(scores[first], good[first])
        report["truth_steps"] = {"good": int(good.sum()), "bad": int((~good).sum())}
        report["mean_step_score"] = {k: float(scores[kind == k].mean()) for k in ("good", "first_error", "after_error")
                                     if (kind == k).any()}
        # Per kind of first error: how many, the PRM's mean score there, and the AUROC of those
        # steps against every truly good step (low: the PRM misses that kind of error).
        good_scores = scores[good]
        report["first_errors_by_kind"] = {
            name: {"count": len(values), "mean_score": float(np.mean(values)),
                   "auroc_vs_good_steps": auroc(np.concatenate([good_scores, values]),
                                                np.concatenate([np.ones(len(good_scores), bool),
                                                                np.zeros(len(values), bool)]))}
            for name, values in sorted(error_kinds.items())
        }
    report["solution_keys"] = {}
    for key in keys:
        try:
            report["solution_keys"][key] = _solution_auroc(all_right, key)
            report["solution_keys"][key]["best_of_n_misses"] = best_of_n_misses(problems, results, key)
        except ValueError as error:
            report["solution_keys"][key] = {"error": str(error)}
    return report


def best_of_n_misses(problems: Sequence[Problem], results: Sequence[ProblemCandidates], key: str) -> dict[str, Any]:
    """Why best-of-n by `key` misses: over the problems where it picks a wrong sample although a
    right one exists (the pick of `search.best_of_n.select`: an answered candidate first, then
    the highest score, then the earlier one), the exact kind of the pick's first error, whether
    that error is in its last step, how many other samples give the picked answer (its voting
    group), and, for PRM keys, the step score the PRM gave that first error."""
    by_id = _by_id(problems)
    kinds: Counter = Counter()
    shared: Counter = Counter()
    with_right = missed = in_last_step = 0
    error_scores: list[float] = []
    for result in results:
        problem = by_id.get(result.problem_id)
        candidates = list(result.candidates)
        if problem is None or not any(c.is_correct is True for c in candidates):
            continue
        with_right += 1
        pick = select(result, "rm", key)
        chosen = candidates[pick]
        if chosen.is_correct is True:
            continue
        missed += 1
        truth, kind = judge_steps(problem, list(chosen.steps))
        first = next((i for i, t in enumerate(truth) if not t), None)
        kinds[kind or ("no_answer" if chosen.answer is None else "none_found")] += 1
        in_last_step += first is not None and first == len(truth) - 1
        # the voting groups (the grader's equivalence) where the results carry them, else the string
        groups = result.group_ids or [c.answer for c in candidates]
        others = sum(candidates[i].answer is not None and groups[i] == groups[pick] for i in range(len(candidates)) if i != pick)
        shared["0" if others == 0 else "1" if others == 1 else "2+"] += 1
        if first is not None and chosen.step_scores is not None and first < len(chosen.step_scores):
            error_scores.append(float(chosen.step_scores[first]))
    report: dict[str, Any] = {
        "problems_with_a_right_sample": with_right, "picked_wrong": missed,
        "first_error_kind": dict(sorted(kinds.items())), "first_error_in_last_step": in_last_step,
        "other_samples_with_the_picked_answer": dict(sorted(shared.items())),
    }
    if key.startswith("prm:") and error_scores:
        report["first_error_step_score"] = {"mean": float(np.mean(error_scores)),
                                            "above_half": int(sum(v > 0.5 for v in error_scores))}
    return report


def _solution_auroc(judged: Sequence[tuple[Candidate, bool]], key: str) -> dict[str, Any]:
    """AUROC of solution scores against 'every step truly right' (pooled)."""
    scores = [candidate_score(candidate, key) for candidate, _ in judged]
    good = [right for _, right in judged]
    if not scores or all(good) or not any(good):
        return {"auroc_vs_all_steps_right": None}
    return {"auroc_vs_all_steps_right": auroc(scores, good)}
