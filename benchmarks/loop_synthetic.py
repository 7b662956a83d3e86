"""The choices and the headline report of `benchmarks/loop_synthetic.sh`.

    python benchmarks/loop_synthetic.py choose-label OUT
    python benchmarks/loop_synthetic.py choose-recipe OUT RECIPE...
    python benchmarks/loop_synthetic.py choose-final OUT EPOCH1_CHECKPOINT
    python benchmarks/loop_synthetic.py dedupe OUT
    python benchmarks/loop_synthetic.py label-lookup OUT RESULTS DEST
    python benchmarks/loop_synthetic.py choose-weighted OUT TEST MODEL=VALIDATION_DIR...
    python benchmarks/loop_synthetic.py report OUT AGGREGATION [TEST]
    python benchmarks/loop_synthetic.py fix-choices OUT LABEL_METHOD RECIPE MODEL AGGREGATION

Every choice reads validation outputs only (the test set is read by `report`, after every
choice is written down). Reads the JSON the toolkit's commands wrote; imports no CLI module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from search.curves import paired_interval

AGGREGATIONS = ("min", "prod", "last", "mean")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _write(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{path}: {json.dumps({k: v for k, v in payload.items() if not isinstance(v, (dict, list))})}")


def choose_label(out: Path) -> None:
    """Better step agreement with the exact truth on validation; ties go to the cheaper."""
    options = {}
    for method in ("binary_search", "math_shepherd"):
        quality = _load(out / "valcmp" / f"{method}.quality.json")
        seconds = float((out / "times" / f"valcmp_{method}").read_text()) if (out / "times" / f"valcmp_{method}").exists() else None
        options[method] = {"step_label_agreement": quality["step_label_agreement"],
                           "first_error_accuracy": quality["first_error_accuracy"], "seconds": seconds}
    best = max(options, key=lambda m: (round(options[m]["step_label_agreement"], 3),
                                       -(options[m]["seconds"] or 0.0)))
    _write(out / "valcmp" / "choice.json", {"method": best, "options": options,
                                            "rule": "higher step agreement (3 decimals), then fewer seconds"})


def _val_scores(summary: dict) -> dict:
    bon = summary["methods"]["bon"]
    n = bon["n"]
    points = {(p["method"], p["k"]): p["mean"] for p in summary["curves"]}
    within = bon["within_problem_auroc"]
    return {
        agg: {"rm_at_n": points[(f"rm:prm:{agg}", n)], "weighted_at_n": points[(f"weighted:prm:{agg}", n)],
              "within_problem_auroc": within.get(f"prm:{agg}")}
        for agg in AGGREGATIONS
    } | {"orm": {"rm_at_n": points[("rm:orm", n)], "within_problem_auroc": within.get("orm")},
         "majority_at_n": points[("majority", n)]}


def choose_recipe(out: Path, recipes: list[str]) -> None:
    """The recipe whose PRM (best aggregation) ranks validation samples best within problems."""
    options = {}
    for recipe in recipes:
        scores = _val_scores(_load(out / f"recipe_{recipe}" / "val" / "summary.json"))
        best_within = max(scores[a]["within_problem_auroc"] or 0.0 for a in AGGREGATIONS)
        times = {part: float((out / "times" / f"recipe_{recipe}_{part}").read_text())
                 for part in ("train", "score") if (out / "times" / f"recipe_{recipe}_{part}").exists()}
        options[recipe] = {"best_within_problem_auroc": best_within, "seconds": times, "validation": scores}
    best = max(options, key=lambda r: options[r]["best_within_problem_auroc"])
    _write(out / "recipe_choice.json", {"recipe": best, "options": options,
                                        "rule": "highest within-problem AUROC of the PRM (best aggregation) on validation"})


def choose_final(out: Path, epoch1: str) -> None:
    """The model and aggregation with the best validation PRM best-of-N (ties: within-problem
    AUROC), among the recipe runs and the final run's epochs, compared on the validation
    problems every one of them was scored on."""
    runs = [(f"recipe_{p.name[len('recipe_'):]}", str(p / "rm"), p / "val") for p in sorted(out.glob("recipe_*"))
            if (p / "val" / "per_problem.json").exists()]
    runs += [(pick, model, out / f"val_{pick}") for pick, model in (("epoch1", epoch1), ("epoch2", str(out / "rm")))
             if (out / f"val_{pick}" / "per_problem.json").exists()]
    tables = {name: _load(folder / "per_problem.json") for name, _, folder in runs}
    shared = set.intersection(*(set(t["problem_ids"]) for t in tables.values()))
    candidates = []
    for name, model, folder in runs:
        table = tables[name]
        keep = [i for i, pid in enumerate(table["problem_ids"]) if pid in shared]
        n = max(int(k.rsplit("@", 1)[1]) for k in table["hits"])
        within = _load(folder / "summary.json")["methods"]["bon"]["within_problem_auroc"]
        majority = float(np.mean([table["hits"][f"majority@{n}"][i] for i in keep]))
        for agg in AGGREGATIONS:
            rm = float(np.mean([table["hits"][f"rm:prm:{agg}@{n}"][i] for i in keep]))
            candidates.append(((rm, within.get(f"prm:{agg}") or 0.0),
                               {"pick": name, "model": model, "aggregation": agg, "rm_at_n": rm,
                                "within_problem_auroc": within.get(f"prm:{agg}"), "majority_at_n": majority}))
    _, best = max(candidates, key=lambda c: c[0])
    _write(out / "final_choice.json", {**best, "validation_problems": len(shared), "options": [c[1] for c in candidates],
                                       "rule": "highest validation PRM best-of-N on the shared validation problems, "
                                               "then within-problem AUROC"})


def choose_weighted(out: Path, test: str, options: list[str]) -> None:
    """OUT/final_choice_<test>.json: of the models given as MODEL=VALIDATION_DIR (each the
    `prm search --results` rescoring of the same validation samples by that model), the model
    and aggregation whose PRM-weighted vote is highest at N on validation; ties: within-problem
    AUROC. Written before the test split named TEST is sampled."""
    candidates = []
    for option in options:
        model, _, folder = option.partition("=")
        table = _load(Path(folder) / "per_problem.json")
        within = _load(Path(folder) / "summary.json")["methods"]["bon"]["within_problem_auroc"]
        n = max(int(k.rsplit("@", 1)[1]) for k in table["hits"])
        majority = np.array(table["hits"][f"majority@{n}"], dtype=float)
        for agg in AGGREGATIONS:
            weighted = np.array(table["hits"][f"weighted:prm:{agg}@{n}"], dtype=float)
            candidates.append(((float(weighted.mean()), within.get(f"prm:{agg}") or 0.0),
                               {"pick": Path(folder).name, "model": model, "aggregation": agg,
                                "weighted_at_n": float(weighted.mean()), "majority_at_n": float(majority.mean()),
                                "weighted_minus_majority": _paired(weighted, majority),
                                "rm_at_n": float(np.mean(table["hits"][f"rm:prm:{agg}@{n}"])),
                                "within_problem_auroc": within.get(f"prm:{agg}"), "validation_problems": len(weighted)}))
    _, best = max(candidates, key=lambda c: c[0])
    _write(out / f"final_choice_{test}.json", {**best, "options": [c[1] for c in candidates],
                                                "rule": "highest validation PRM-weighted vote at N, then within-problem AUROC"})


def _paired(a: np.ndarray, b: np.ndarray, seed: int = 0, draws: int = 10_000) -> dict:
    delta = a - b
    low, high = paired_interval(delta, draws, seed)
    return {"mean": round(100 * float(delta.mean()), 2), "ci95": [round(100 * float(low), 2), round(100 * float(high), 2)]}


def report(out: Path, aggregation: str, test: str = "test") -> None:
    """OUT/loop_synthetic.json from the test stages' outputs. test: the name of a test split
    run the same way (OUT/<test>/, OUT/<test>_beam/, OUT/report_<test>/, OUT/<test>_truth.json,
    its choice OUT/final_choice_<test>.json and stage times OUT/times_<test>/); its JSON is
    OUT/loop_synthetic_<test>.json."""
    first = test == "test"
    report_dir = out / ("report" if first else f"report_{test}")
    summary = _load(report_dir / "summary.json")
    per_problem = _load(report_dir / "per_problem.json")
    truth = _load(out / f"{test}_truth.json")
    bon = dict(summary["methods"]["bon"])
    sampled = out / test / "summary.json"  # the run that sampled and scored (the report re-reads it)
    if sampled.exists():
        bon["scorer_tokens_per_problem"] = _load(sampled)["methods"]["bon"]["scorer_tokens_per_problem"]
    n = bon["n"]
    hits = {key: np.array(values) for key, values in per_problem["hits"].items()}
    key = f"prm:{aggregation}"
    rules = {"majority": "majority", "weighted_prm": f"weighted:{key}", "prm_best_of_n": f"rm:{key}",
             "orm_best_of_n": "rm:orm", "pass_at_n": "pass"}
    accuracy = {name: round(100 * float(hits[f"{rule}@{n}"].mean()), 2) for name, rule in rules.items()}
    beam_name = next(name for name in summary["methods"] if name != "bon")
    beam = summary["methods"][beam_name]
    accuracy["beam"] = round(100 * beam["accuracy"][key], 2)
    bon_truth = truth[str(out / test / "bon.jsonl")]
    accuracy["oracle_prm"] = round(100 * bon_truth["oracle_prm_accuracy"], 2)
    majority = hits[f"majority@{n}"]
    ids = per_problem["problem_ids"]
    beam_hits = per_problem.get(f"{beam_name}@beam", {})
    beam_array = np.array([beam_hits[i] for i in ids]) if beam_hits else None
    # Compute-matched: the best-of-k whose generated tokens are closest to beam's.
    tokens_per_sample = bon["generated_tokens_per_problem"] / n
    ks = sorted({int(k.rsplit("@", 1)[1]) for k in hits})
    matched_k = min(ks, key=lambda k: abs(k * tokens_per_sample - beam["generated_tokens_per_problem"]))
    label_quality = _load(out / "label_quality.json")
    time_dirs = [out / "times"] + ([] if first else [out / f"times_{test}"])  # its own stages' times beside
    times = {p.name: int(p.read_text()) for d in time_dirs if d.is_dir() for p in sorted(d.iterdir())}
    headline = {
        "test_problems": summary["problems"],
        "n": n,
        "aggregation": aggregation,
        "accuracy": accuracy,
        "prm_minus_majority": _paired(hits[f"rm:{key}@{n}"], majority),
        "orm_minus_majority": _paired(hits[f"rm:orm@{n}"], majority),
        "weighted_prm_minus_majority": _paired(hits[f"weighted:{key}@{n}"], majority),
        "prm_minus_orm": _paired(hits[f"rm:{key}@{n}"], hits[f"rm:orm@{n}"]),
        "beam_minus_majority": _paired(beam_array, majority) if beam_array is not None else None,
        "beam_vs_compute_matched_best_of_k": {
            "beam": beam_name, "k": matched_k,
            "beam_generated_tokens_per_problem": round(beam["generated_tokens_per_problem"], 1),
            "best_of_k_generated_tokens_per_problem": round(matched_k * tokens_per_sample, 1),
            "beam_minus_prm_best_of_k": _paired(beam_array, hits[f"rm:{key}@{matched_k}"]) if beam_array is not None else None,
            "beam_minus_majority_at_k": _paired(beam_array, hits[f"majority@{matched_k}"]) if beam_array is not None else None,
        },
        "compute_per_problem": {
            "best_of_n_generated_tokens": round(bon["generated_tokens_per_problem"], 1),
            "best_of_n_scorer_tokens": round(bon["scorer_tokens_per_problem"], 1),
            "beam_generated_tokens": round(beam["generated_tokens_per_problem"], 1),
            "beam_scorer_tokens": round(beam["scorer_tokens_per_problem"], 1),
        },
        "step_auroc_vs_truth": bon_truth.get("step_auroc_vs_truth"),
        "first_error_step_auroc_vs_truth": bon_truth.get("first_error_auroc_vs_truth"),
        "within_problem_auroc": {k: bon["within_problem_auroc"].get(k) for k in (key, "orm")},
        "within_problem_auroc_problems": bon["within_problem_auroc"].get("problems"),
        "pooled_auroc": {k: bon["verifier_auroc"].get(k) for k in (key, "orm")},
        "mc_label_agreement": label_quality["step_label_agreement"],
        "mc_first_error_accuracy": label_quality["first_error_accuracy"],
        "labelled_solutions": label_quality["solutions"],
        "labelled_steps": label_quality["labelled_steps"],
        "checker_unverifiable_steps": {"steps": bon_truth["steps"], "unverifiable": bon_truth["unverifiable_steps"]},
        "choices": {
            "label_method": _load(out / "valcmp" / "choice.json")["method"],
            "recipe_by_validation": _load(out / "recipe_choice.json")["recipe"],
            "recipe_trained": (out / "final_recipe").read_text().strip() if (out / "final_recipe").exists() else None,
            "final": {k: v for k, v in _load(out / ("final_choice.json" if first else f"final_choice_{test}.json")).items()
                      if k != "options"},
        },
        "stage_seconds": times,
        "units": "accuracy and differences in points (percent); ci95: paired bootstrap over problems, 10,000 resamples",
    }
    (out / ("loop_synthetic.json" if first else f"loop_synthetic_{test}.json")).write_text(json.dumps(headline, indent=2) + "\n")
    print(json.dumps(headline, indent=2))


def dedupe(out: Path) -> None:
    """OUT/labels_unique.jsonl: one row per distinct (prompt, steps) of OUT/labels.jsonl, the
    first one's labels kept. A right answer repeats across a problem's samples, wrong ones
    differ: 3,072 labelled samples of seed 0 are 1,320 distinct solutions, so an epoch over
    them costs 43% of one over all, and each wrong solution weighs as much as a right one."""
    seen, kept = set(), []
    for line in (out / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        key = (row["prompt"], tuple(row["completions"]))
        if key not in seen:
            seen.add(key)
            kept.append(line)
    (out / "labels_unique.jsonl").write_text("\n".join(kept) + "\n")
    total = len((out / "labels.jsonl").read_text().splitlines())
    print(f"{len(kept)} distinct of {total} labelled solutions -> {out / 'labels_unique.jsonl'}")


def label_lookup(out: Path, results: Path, dest: Path) -> None:
    """DEST: RESULTS (a `prm search` bon.jsonl) with every step scored by the labels alone: the
    smoothed share of good labels that OUT/labels.jsonl gives the same step text (whitespace
    folded; any problem), (good + 0.5) / (labelled + 1), and 0.5 for a step never labelled.
    A verifier that memorised its training labels and knew nothing else scores like this, so
    `prm search --results DEST` shows how far the labels' own information goes."""
    good: dict[str, float] = {}
    seen: dict[str, int] = {}
    for line in (out / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        for step, label in zip(row["completions"], row["labels"]):
            if label is None:
                continue
            key = " ".join(step.split())
            good[key] = good.get(key, 0.0) + float(label)
            seen[key] = seen.get(key, 0) + 1
    rows, known, unknown = [], 0, 0
    for line in results.read_text().splitlines():
        row = json.loads(line)
        for candidate in row["candidates"]:
            keys = [" ".join(step.split()) for step in candidate["steps"]]
            known += sum(key in seen for key in keys)
            unknown += sum(key not in seen for key in keys)
            scores = [(good.get(key, 0.0) + 0.5) / (seen.get(key, 0) + 1) for key in keys]
            candidate["step_scores"] = scores
            candidate["outcome_score"] = min(scores) if scores else 0.5
        rows.append(json.dumps(row))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(rows) + "\n")
    print(f"{dest}: {len(rows)} problems; {known} steps scored from {len(seen)} labelled step texts, "
          f"{unknown} never labelled (scored 0.5)")


def fix_choices(out: Path, method: str, recipe: str, model: str, aggregation: str) -> None:
    """The choice files `report` reads, for a run that makes no choice of its own
    (`benchmarks/loop_seed.sh`: seed 0's choices on another seed)."""
    rule = "fixed: seed 0's validation choices (docs/results/loop_synthetic.json, loop_synthetic_test2.json)"
    (out / "valcmp").mkdir(parents=True, exist_ok=True)
    _write(out / "valcmp" / "choice.json", {"method": method, "rule": rule})
    _write(out / "recipe_choice.json", {"recipe": recipe, "rule": rule})
    (out / "final_recipe").write_text(recipe + "\n")
    _write(out / "final_choice.json", {"pick": recipe, "model": model, "aggregation": aggregation, "rule": rule})


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, out = argv[0], Path(argv[1])
    if command == "choose-label":
        choose_label(out)
    elif command == "choose-recipe":
        choose_recipe(out, argv[2:])
    elif command == "choose-final":
        choose_final(out, argv[2])
    elif command == "dedupe":
        dedupe(out)
    elif command == "choose-weighted":
        choose_weighted(out, argv[2], argv[3:])
    elif command == "label-lookup":
        label_lookup(out, Path(argv[2]), Path(argv[3]))
    elif command == "fix-choices":
        fix_choices(out, *argv[2:6])
    elif command == "report":
        report(out, argv[2], *argv[3:4])
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
