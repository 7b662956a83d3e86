"""orm: outcome supervision: the outcome objectives, pair data, outcome scoring, implicit PRMs.

Public: `PreferencePair`, `read_pairs` (`orm.pairs`); `ORMScorer` (`orm.scoring`). The outcome
objectives, correctness BCE (`orm`), Bradley-Terry (`bradley_terry`), `joint` and `implicit`,
are `orm.objectives`, written on the objective protocol of `prm.training.losses`; importing it
registers them, and `prm.training` then trains them (both heads of one reward model for
`joint`). The implicit PRM (PRIME: rewards beta * log(pi / pi_ref) of a policy trained on
outcomes, read per step) is `orm.implicit` (`ImplicitPRM`, a step and outcome scorer) and
`orm.implicit_training`.
"""

from orm.pairs import PreferencePair, read_pairs

__all__ = ["PreferencePair", "read_pairs", "ORMScorer"]


def __getattr__(name: str):
    if name == "ORMScorer":  # torch and transformers load only when scoring
        from orm.scoring import ORMScorer

        return ORMScorer
    raise AttributeError(f"module 'orm' has no attribute {name!r}")
