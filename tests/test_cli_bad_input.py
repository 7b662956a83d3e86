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
        ("data", ["data", "--file", "{f}"]),
        ("grade", ["grade", "--file", "{f}", "--out", "{o}"]),
        ("label", ["label", "--solutions", "{f}", "--engine", "simulated", "--out", "{o}", "--no-progress"]),
        ("label", ["label", "--problems", "{f}", "--engine", "simulated", "--out", "{o}", "--no-progress"]),
        ("train", ["train", "--data", "{f}", "--out", "{o}"]),
        ("score", ["score", "--model", "{i}/model", "--input", "{f}", "--output", "{o}"]),
        ("search", ["search", "--results", "{f}", "--out", "{o}", "--no-plot"]),
        ("eval", ["eval", "auroc", "--prm", "{i}/model", "--data", "{f}", "--out", "{o}"]),
        ("sft", ["sft", "--data", "{f}", "--out", "{o}"]),
        ("merge", ["merge", "{f}", "--out", "{o}"]),
    ]


FILE_CASES = [
    pytest.param(verb, argv, name, id=f"{verb}-{argv[1].lstrip('-')}-{name}")
    for verb, argv in _file_verbs() for name in BAD_FILES
]

OPTION_CASES = [
    ("data", ["data", "--root", "{i}/absent"]),
    ("data", ["data", "--root", "{i}/problems.jsonl"]),
    ("data", ["data", "--root", "{i}", "--format", "gsm8k"]),
    ("data", ["data", "--file", "{i}/problems.jsonl", "--on-error", "maybe"]),
    ("data", ["data", "--file", "{i}/dup.jsonl", "--format", "trl_stepwise"]),
    ("grade", ["grade", "--gold", "1"]),
    ("grade", ["grade", "--file", "{i}/pairs_bad.jsonl"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--timeout", "0"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--workers", "0"]),
    ("grade", ["grade", "--gold", "1", "--pred", "1", "--timeout", "soon"]),
    ("label", ["label", "--problems", "synthetic", "--shard", "2", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--shard", "3/2", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--samples", "0", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--rollouts", "0", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--limit", "-1", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--temperature", "-1", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--group-size", "0", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--prompt-template", "no placeholder", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--method", "bogus", "--out", "{o}"]),
    ("label", ["label", "--problems", "gsm8k", "--data-root", "{i}/absent", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--solutions", "{i}/dup.jsonl", "--engine", "simulated", "--out", "{o}"]),
    ("label", ["label", "--problems", "synthetic", "--engine", "simulated", "--out", "{i}/folder.jsonl"]),
    ("merge", ["merge", "{i}/problems.jsonl", "--out", "{o}"]),
    ("merge", ["merge", "{i}/problems.jsonl", "--out", "{i}/problems.jsonl"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--resume"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--resume", "{i}/absent"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--objective", "bradley_terry"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--batch-size", "0"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--lr", "-1"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--max-length", "0"]),
    ("train", ["train", "--data", "{i}/no_labels.jsonl", "--out", "{o}"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--eval-data", "{i}/empty.jsonl", "--out", "{o}"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--epochs", "0"]),
    ("train", ["train", "--data", "{i}/stepwise.jsonl", "--out", "{o}", "--packing", "yes"]),
    ("score", ["score", "--model", "{i}/model", "--input", "{i}/stepwise.jsonl", "--output", "{o}", "--batch-size", "0"]),
    ("score", ["score", "--model", "{i}/absent", "--input", "{i}/stepwise.jsonl", "--output", "{o}"]),
    ("score", ["score", "--model", "{i}/model", "--input", "{i}/stepwise.jsonl", "--output", "{o}", "--aggregation", "median"]),
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
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--epochs", "-1"]),
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--eval-problems", "4"]),
    ("sft", ["sft", "--data", "{i}/problems.jsonl", "--out", "{o}", "--batch-size", "0"]),
    ("serve", ["serve", "--prm", "{i}/absent", "--port", "0"]),
    ("serve", ["serve", "--prm", "{i}/model", "--port", "-1"]),
    ("serve", ["serve", "--prm", "{i}/model", "--aggregation", "median"]),
    ("serve", ["serve", "--prm", "{i}/model", "--ensemble", "bogus"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "train"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "train=x"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "train=-3"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "a=2", "a=3"]),
    ("synthetic", ["synthetic", "--out", "{o}", "--split", "a=2", "--min-ops", "3", "--max-ops", "1"]),
    ("demo", ["demo", "--data", "{i}/absent", "--out", "{o}"]),
    ("demo", ["demo", "--out", "{o}", "--samples", "0"]),
    ("demo", ["demo", "--out", "{o}", "--max-ops", "0"]),
    ("demo", ["demo", "--out", "{o}", "--aggregation", "median"]),
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
