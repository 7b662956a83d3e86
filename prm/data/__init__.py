"""Data readers: every source format to the same records (`Problem`, `StepwiseSolution`).

Public:
- `load_problems(source, format=None, split=None, ...)`, `load_stepwise(source, format=None,
  split=None, ..., **policy)`: pick the reader by name or by the first row's keys; a source
  that is not an existing path is loaded from the Hugging Face hub through `datasets`.
- Readers, each `read_x(path, on_error="raise"|"skip", report=None)`: `read_gsm8k`,
  `read_math` (Problem); `read_prm800k`, `read_prm800k_critic` (with a `PRM800KPolicy`),
  `read_math_shepherd`, `read_trl_stepwise`, `read_processbench` (StepwiseSolution).
- `DataError` (a bad record: file, line, field, what was expected), `ReadReport` (rows read,
  records made, skips per reason, notes), `iter_rows` (strict JSON / JSONL / parquet rows).

The `prm data` command (`prm.cli.data`) parses a whole data folder and prints the counts.
"""

from prm.data.errors import DataError, Location, ReadReport
from prm.data.gsm8k import gsm8k_gold, read_gsm8k
from prm.data.io import iter_rows, lfs_pointer, read_rows
from prm.data.loading import PROBLEM_FORMATS, STEPWISE_FORMATS, detect_format, load_problems, load_stepwise
from prm.data.math import read_math
from prm.data.math_shepherd import read_math_shepherd
from prm.data.prm800k import PRM800KPolicy, read_prm800k
from prm.data.prm800k_critic import read_prm800k_critic
from prm.data.problems import read_problems, write_problems
from prm.data.processbench import processbench_labels, read_processbench
from prm.data.trl_stepwise import read_trl_stepwise

__all__ = [
    "read_problems",
    "write_problems",
    "DataError",
    "Location",
    "PRM800KPolicy",
    "PROBLEM_FORMATS",
    "ReadReport",
    "STEPWISE_FORMATS",
    "detect_format",
    "gsm8k_gold",
    "iter_rows",
    "lfs_pointer",
    "load_problems",
    "load_stepwise",
    "processbench_labels",
    "read_gsm8k",
    "read_math",
    "read_math_shepherd",
    "read_prm800k",
    "read_prm800k_critic",
    "read_processbench",
    "read_rows",
    "read_trl_stepwise",
]
