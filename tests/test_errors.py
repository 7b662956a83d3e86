"""The toolkit's error types and the one way the command line reports them."""

from __future__ import annotations

from prm.cli import main
from prm.errors import OptionError


def test_option_errors_name_the_option_the_value_and_the_fix():
    error = OptionError("--shard", "must look like i/n", "e.g. --shard 0/4", "2")
    assert isinstance(error, ValueError) and (error.option, error.value, error.fix) == ("--shard", "2", "e.g. --shard 0/4")
    assert str(error) == "--shard '2': must look like i/n; e.g. --shard 0/4"
    assert str(OptionError("--gold", "needs --pred")) == "--gold: needs --pred"


def test_main_reports_an_error_as_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["label", "--data", "synthetic", "--shard", "2", "--engine", "simulated",
                 "--out", str(tmp_path / "x.jsonl")]) == 2
    error = capsys.readouterr().err
    assert error == "prm label: error: --shard '2': must look like i/n; e.g. --shard 0/4\n"
