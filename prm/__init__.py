"""prm: process and outcome reward models for math reasoning.

The core every other package builds on: the step contract (`prm.steps`), records
(`prm.records`), data readers (`prm.data`), answer grading (`prm.grading`), generation engines
(`prm.engines`), reward models (`prm.modeling`), training (`prm.training`) and scoring
(`prm.scoring`). The `prm` command lives in `prm.cli`.
"""

from prm.records import Problem, StepwiseSolution
from prm.steps import StepFormat

__all__ = ["Problem", "StepwiseSolution", "StepFormat"]
__version__ = "0.1.0"
