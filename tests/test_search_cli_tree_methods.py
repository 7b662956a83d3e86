"""`prm search --method particle_filter / rebase` end to end, on the faked models of test_search_cli."""

from __future__ import annotations

import json

import pytest

from prm import cli
from tests.test_search_cli import fake_models  # noqa: F401  (the fixture)


@pytest.mark.parametrize("method, options", [
    ("particle_filter", ["--particles", "4", "--resample-temperature", "0.5"]),
    ("rebase", ["--n-candidates", "4", "--balance-temperature", "0.2"]),
])
def test_tree_methods_run_from_the_command_line(fake_models, tmp_path, capsys, method, options):  # noqa: F811
    out = tmp_path / method
    argv = ["search", "--data", "synthetic", "--limit", "3", "--method", method, "--prm", "P",
            "--n", "4", *options, "--out", str(out), "--no-plot"]
    assert cli.main(argv) == 0
    rows = [json.loads(line) for line in (out / f"{method}.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(row["meta"]["method"] == method for row in rows)
    compute = json.loads((out / "summary.json").read_text())["methods"][method]
    assert compute["generated_tokens_per_problem"] > 0 and compute["scored_prefixes_per_problem"] > 0
    assert f"{method}: accuracy" in capsys.readouterr().out
    # a saved run joins a --results summary under its own settings
    assert cli.main(["search", "--data", "synthetic", "--limit", "3", "--method", "bon", "--prm", "P", "--n", "4",
                     "--out", str(tmp_path / "bon"), "--no-plot", "--draws", "10"]) == 0
    joined = tmp_path / "joined"
    assert cli.main(["search", "--results", str(tmp_path / "bon" / "bon.jsonl"), "--beam-results",
                     str(out / f"{method}.jsonl"), "--out", str(joined), "--no-plot", "--draws", "10"]) == 0
    name = {"particle_filter": "particle_filter P=4", "rebase": "rebase N=4"}[method]
    assert name in json.loads((joined / "summary.json").read_text())["methods"]


def test_particle_filter_refuses_a_bad_temperature(fake_models, tmp_path, capsys):  # noqa: F811
    argv = ["search", "--data", "synthetic", "--limit", "2", "--method", "particle_filter", "--prm", "P",
            "--resample-temperature", "0", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "resample_temperature" in capsys.readouterr().err
