"""orm: outcome reward models (correctness BCE, Bradley-Terry pairs), ORM data and scoring.

Public: `PreferencePair`, `read_pairs` (`orm.pairs`); `ORMScorer` (`orm.scoring`). The implicit
PRM (PRIME: rewards beta * log(pi / pi_ref) of a policy trained on outcomes, read per step) is
`orm.implicit` (`ImplicitPRM`, a step and outcome scorer) and `orm.implicit_training`. The ORM
objectives themselves (`orm`, `bradley_terry`, `joint`) live in `prm.training.losses`, next to
the step objectives, because one Trainer trains both heads.
"""

from orm.pairs import PreferencePair, read_pairs

__all__ = ["PreferencePair", "read_pairs", "ORMScorer"]


def __getattr__(name: str):
    if name == "ORMScorer":  # torch and transformers load only when scoring
        from orm.scoring import ORMScorer

        return ORMScorer
    raise AttributeError(f"module 'orm' has no attribute {name!r}")
