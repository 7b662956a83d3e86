"""The bad-input matrix: every verb, given a bad file or option, exits with code 2 and one line
`prm VERB: error: ...` on stderr (no traceback), and creates or changes no output. No model is
loaded: bad input is caught before any expensive work (the loaders are replaced by tripwires)."""

from __future__ import annotations

import hashlib
import json

import pytest

from prm.cli import main

GOOD_PROBLEM = {"id": "p1", "question": "What is 1 + 1?", "answer": "2"}
GOOD_STEPWISE = {"id": "s1", "prompt": "What is 1 + 1?", "completions": ["1 + 1 = 2."], "labels": [True], "answer": "2"}

# name -> file content (str) or None for "a folder"
BAD_FILES = {
    "empty.jsonl": "",
    "blank.jsonl": "\n\n  \n",
    "not_json.jsonl": "{not json\n",
    "nan.jsonl": '{"prompt": "P", "completions": ["a"], "labels": [NaN], "question": "Q", "answer": "1", "gold": "1", "pred": "1"}\n',
    "deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
    "surrogate.jsonl": '{"prompt": "P\\ud800", "completions": ["a"], "question": "Q\\ud800", "answer": "1", "gold": "\\ud800", "pred": "1"}\n',
    "lfs.jsonl": "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n",
    "table.csv": "a,b\n1,2\n",
    "not_object.jsonl": "[1, 2]\n",
    "missing.jsonl": None,  # never created
    "folder.jsonl": "FOLDER",
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    for name, content in BAD_FILES.items():
        if content == "FOLDER":
            (root / name).mkdir()
        elif content is not None:
            (root / name).write_text(content, encoding="utf-8")
    (root / "problems.jsonl").write_text(json.dumps(GOOD_PROBLEM) + "\n")
    (root / "stepwise.jsonl").write_text(json.dumps(GOOD_STEPWISE) + "\n")
    (root / "no_labels.jsonl").write_text(json.dumps({**GOOD_STEPWISE, "labels": None}) + "\n")
    (root / "pairs_bad.jsonl").write_text(json.dumps({"gold": "1"}) + "\n")
    (root / "dup.jsonl").write_text((json.dumps(GOOD_STEPWISE) + "\n") * 2)
    (root / "model").mkdir()  # a folder that is no reward model
    sample = {"text": "1 + 1 = 2.", "steps": ["1 + 1 = 2."], "answer": "2", "num_tokens": 5, "is_correct": True}
    (root / "bon.jsonl").write_text(json.dumps(  # search results without scores
        {"problem_id": "p1", "prompt": "What is 1 + 1?", "gold": "2", "candidates": [sample]}) + "\n")
    (root / "bon_other.jsonl").write_text(json.dumps(  # scored results of a problem no problem file holds
        {"problem_id": "zz", "prompt": "Q", "gold": "2", "candidates": [{**sample, "step_scores": [0.5]}]}) + "\n")
    (root / "unknown_key.yaml").write_text("no_such_option: 1\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    return root


@pytest.fixture(autouse=True)
def no_expensive_work(monkeypatch):
    """Tripwires: a bad input that reaches a model or engine load fails the test loudly."""
    import prm.cli.wiring as wiring
    import prm.modeling.loading as loading
    import prm.modeling.reward_model as reward_model

    def tripwire(*args, **kwargs):
        raise AssertionError("expensive work reached before the bad input was caught")

    for module, name in [(loading, "load_causal_lm"), (reward_model, "load_reward_model"), (wiring, "build_engine"),
                         (wiring, "load_scorers")]:
        monkeypatch.setattr(module, name, tripwire)


def _file_verbs():
    """(verb, argv with {f} for the bad file, {o} for an output path)."""
    return [
        ("data", ["data", "--data", "{f}"]),
        ("grade", ["grade", "--data", "{f}", "--out", "{o}"]),
        ("label", ["label", "--solutions", "{f}", "--engine", "simulated", "--out", "{o}", "--no-progress"]),
        ("label", ["label", "--data", "{f}", "--engine", "simulated", "--out", "{o}", "--no-progress"]),
        ("train", ["train", "--data", "{f}", "--out", "{o}"]),
        ("score", ["score", "--reward-model", "{i}/model", "--data", "{f}", "--out", "{o}"]),
        ("search", ["search", "--results", "{f}", "--out", "{o}", "--no-plot"]),
        ("eval", ["eval", "auroc", "--prm", "{i}/model", "--data", "{f}", "--out", "{o}"]),
        ("eval", ["eval", "overoptimization", "--results", "{f}", "--problems", "{i}/problems.jsonl", "--out", "{o}"]),
        ("eval", ["eval", "calibration", "--results", "{f}", "--problems", "{i}/problems.jsonl", "--out", "{o}"]),
        ("eval", ["eval", "calibration", "--prm", "{i}/model", "--data", "{f}", "--out", "{o}"]),
        ("sft", ["sft", "--data", "{f}", "--out", "{o}"]),
        ("merge", ["merge", "{f}", "--out", "{o}"]),
    ]


FILE_CASES = [
    pytest.param(verb, argv, name, id=f"{verb}-{argv[1].lstrip('-')}-{name}")
    for verb, argv in _file_verbs() for name in BAD_FILES
]

OPTION_CASES = [
    ("data", ["data", "--data-root", "{i}/absent"]),
    ("data", ["data", "--data-root", "{i}/problems.jsonl"]),
    ("data", ["data", "--data-root", "{i}", "--format", "gsm8k"]),
    ("data", ["data", "--data", "{i}/problems.jsonl", "--on-error", "maybe"]),
    ("data", ["data", "--data", "{i}/dup.jsonl", "--format", "trl_stepwise"]),
    ("grade", ["grade", "--gold", "1"]),
    ("grade", ["grade", "--data", "{i}/pairs_bad.jsonl"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--timeout", "0"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--grader-workers", "0"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--timeout", "soon"]),
    ("label", ["label", "--data", "synthetic", "--shard", "2", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--shard", "3/2", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--samples", "0", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--rollouts", "0", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--limit", "-1", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--temperature", "-1", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--group-size", "0", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--prompt-template", "no placeholder", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--method", "bogus", "--out", "{o}"]),
    ("label", ["label", "--data", "gsm8k", "--data-root", "{i}/absent", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--solutions", "{i}/dup.jsonl", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--data", "synthetic", "--engine", "simulated", "--out", "{i}/table.csv"]),  # a file, not a folder
    ("merge", ["merge", "{i}/problems.jsonl", "--out", "{o}"]),
    ("merge", ["merge", "{i}/problems.jsonl", "--out", "{i}/problems.jsonl"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--resume"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--resume", "{i}/absent"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--objective", "bradley_terry"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--per-device-train-batch-size", "0"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--learning-rate", "-1"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--max-length", "0"]),
    ("train", ["train", "--data", "{i}/no_labels.jsonl", "--out", "{o}"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--eval-data", "{i}/empty.jsonl", "--out", "{o}"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--num-train-epochs", "0"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--packing", "yes"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--report-to", "nosuchtracker"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--save-total-limit", "-1"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--eval-steps", "0"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--eval-processbench", "{i}/model"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--eval-data", "{i}/stepwise.jsonl", "--out", "{o}",
               "--eval-processbench", "{i}/model"]),
    ("score", ["score", "--reward-model", "{i}/model", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--scorer-batch-size", "0"]),
    ("score", ["score", "--reward-model", "{i}/absent", "--data", "{i}/stepwise.jsonl", "--out", "{o}"]),
    ("score", ["score", "--reward-model", "{i}/model", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--aggregation", "median"]),
    ("search", ["search", "--results", "{i}/stepwise.jsonl", "--out", "{o}", "--aggregation", "median"]),
    ("search", ["search", "--out", "{o}"]),
    ("search", ["search", "--data", "gsm8k", "--data-root", "{i}/absent", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--n", "0", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--shard", "x", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--beam-width", "0", "--method", "beam", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--method", "bogus", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--temperature", "-2", "--out", "{o}"]),
    ("eval", ["eval", "processbench", "--prm", "{i}/model", "--data", "{i}/absent", "--out", "{o}"]),
    ("eval", ["eval", "processbench", "--prm", "{i}/model", "--data", "{i}", "--subsets", "math", "--out", "{o}"]),
    ("eval", ["eval", "bogus"]),
    ("eval", ["eval", "auroc", "--prm", "{i}/model", "--data", "{i}/no_labels.jsonl", "--out", "{o}"]),
    ("eval", ["eval", "labels", "--labels", "{i}/empty.jsonl", "--problems", "{i}/problems.jsonl", "--out", "{o}"]),
    ("eval", ["eval", "truth", "--results", "{i}/empty.jsonl", "--problems", "{i}/problems.jsonl", "--out", "{o}"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon.jsonl", "--ensemble", "mean"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon.jsonl", "{i}/bon.jsonl", "--ensemble", "mean_std", "--ensemble-k", "-1"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--weak", "noisy", "--noise-sd", "0"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--bootstrap", "0"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--n", "0"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "=x"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "a={i}/bon.jsonl", "a={i}/bon_other.jsonl"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--weak", "bogus"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon.jsonl"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon_other.jsonl"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--keys", "prm:median"]),
    ("eval", ["eval", "overoptimization", "--problems", "{i}/problems.jsonl", "--out", "{o}", "--results", "{i}/bon.jsonl", "{i}/bon_other.jsonl"]),
    ("eval", ["eval", "calibration", "--out", "{o}"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--data", "{i}/stepwise.jsonl"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--results", "{i}/bon_other.jsonl"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--problems", "{i}/problems.jsonl", "--bins", "0"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--problems", "{i}/problems.jsonl", "--validation-fraction", "1.5"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--results", "{i}/bon.jsonl", "--problems", "{i}/problems.jsonl"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--results", "{i}/bon_other.jsonl", "--problems", "{i}/problems.jsonl"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--prm", "{i}/model", "--processbench", "{i}/absent"]),
    ("eval", ["eval", "calibration", "--out", "{o}", "--prm", "{i}/model", "--data", "{i}/no_labels.jsonl"]),
    ("eval", ["eval", "auroc", "--prm", "{i}/model", "{i}/model", "--ensemble", "bogus", "--data", "{i}/stepwise.jsonl"]),
    ("search", ["search", "--results", "{i}/bon_other.jsonl", "--prm", "{i}/model", "--ensemble", "bogus", "--out", "{o}"]),
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--num-train-epochs", "-1"]),
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--eval-problems", "4"]),
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--per-device-train-batch-size", "0"]),
    ("serve", ["serve", "--prm", "{i}/absent", "--port", "0"]),
    ("serve", ["serve", "--prm", "{i}/model", "--port", "-1"]),
    ("serve", ["serve", "--prm", "{i}/model", "--aggregation", "median"]),
    ("serve", ["serve", "--prm", "{i}/model", "--ensemble", "bogus"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "train"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "train=x"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "train=-3"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "a=2", "a=3"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "a=2", "--min-ops", "3", "--max-ops", "1"]),
    ("demo", ["demo", "--data-root", "{i}/absent", "--out", "{o}"]),
    ("demo", ["demo", "--out", "{o}", "--samples", "0"]),
    ("demo", ["demo", "--out", "{o}", "--max-ops", "0"]),
    ("demo", ["demo", "--out", "{o}", "--aggregation", "median"]),
    # The options every computing verb shares (prm.cli.options).
    *[(verb, [*argv, *bad]) for verb, argv in [
        ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}"]),
        ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}"]),
        ("score", ["score", "--reward-model", "{i}/model", "--data", "{i}/stepwise.jsonl", "--out", "{o}"]),
        ("label", ["label", "--data", "synthetic", "--engine", "simulated", "--out", "{o}"]),
        ("search", ["search", "--data", "{i}/problems.jsonl", "--out", "{o}"]),
        ("eval", ["eval", "auroc", "--prm", "{i}/model", "--data", "{i}/stepwise.jsonl", "--out", "{o}"]),
        ("serve", ["serve", "--prm", "{i}/model"]),
        ("demo", ["demo", "--out", "{o}"]),
    ] for bad in (["--threads", "0"], ["--threads", "two"], ["--device", "gpu0"], ["--device", "cuda:99"],
                  ["--config", "{i}/unknown_key.yaml"], ["--config", "{i}/absent.yaml"], ["--config", "{i}/list.yaml"])],
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--warmup-ratio", "1.5"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--warmup-ratio", "0.1", "--warmup-steps", "5"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--optim", "sgd_bogus"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--lr-scheduler-type", "bogus"]),
    ("train", ["train", "--data", "{i}/absent.jsonl", "--out", "{o}"]),
    ("train", ["train", "--data", "prm800k", "--data-root", "{i}/absent", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--engine", "bogus", "--out", "{o}"]),
    ("search", ["search", "--data", "{i}/problems.jsonl", "--engine-b", "4", "--out", "{o}"]),  # no abbreviations
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--engine", "simulated"]),
    ("score", ["score", "--reward-model", "{i}/model", "--data", "{i}/stepwise.jsonl", "--out", "{i}/table.csv"]),
    ("grade", ["grade", "--data", "{i}/problems.jsonl", "--out", "{i}/table.csv"]),
    ("eval", ["eval", "processbench", "--prm", "{i}/model", "--data", "processbench", "--data-root", "{i}/absent"]),
    ("merge", ["merge", "{i}/problems.jsonl", "--out", "{o}", "--config", "{i}/unknown_key.yaml"]),
    ("synthetic", ["synthetic", "--split", "a=2", "--config", "{i}/unknown_key.yaml"]),
    ("data", ["data", "--data", "{i}/problems.jsonl", "--config", "{i}/list.yaml"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--config", "{i}/unknown_key.yaml"]),
]


def _snapshot(*folders):
    state = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return state


def _check(argv, inputs, tmp_path, capsys, verb):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    argv = [a.format(i=inputs, o=outputs / "out") for a in argv]
    before = _snapshot(inputs, outputs)
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    error = captured.err
    assert code == 2, f"exit code {code}; stderr: {error[-500:]}"
    assert "Traceback" not in error + captured.out
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"prm {verb}") and ": error: " in lines[0], error
    assert len(lines[0].partition(": error: ")[2]) > 10
    assert _snapshot(inputs, outputs) == before, "an output was created or changed"
    return lines[0]


@pytest.mark.parametrize("verb, argv, name", FILE_CASES)
def test_a_bad_file_is_one_line_exit_2_and_no_output(verb, argv, name, inputs, tmp_path, capsys):
    argv = [a.replace("{f}", str(inputs / name)) for a in argv]
    line = _check(argv, inputs, tmp_path, capsys, verb)
    assert name in line or "--" in line, line  # names the file (or the option holding it)


@pytest.mark.parametrize("verb, argv", OPTION_CASES, ids=[" ".join(a[:4]) for _, a in OPTION_CASES])
def test_a_bad_option_is_one_line_exit_2_and_no_output(verb, argv, inputs, tmp_path, capsys):
    _check(argv, inputs, tmp_path, capsys, verb)


def test_the_matrix_covers_every_verb_with_at_least_100_inputs():
    from prm.cli.main import VERBS

    covered = {verb for verb, *_ in [p.values for p in FILE_CASES]} | {verb for verb, _ in OPTION_CASES}
    assert covered == set(VERBS)
    assert len(FILE_CASES) + len(OPTION_CASES) >= 100
