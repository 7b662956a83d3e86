"""Tree searches with a toolkit reward model: growing each prefix's KV cache selects the same
paths, with the same scores, as reading every prefix whole, reads fewer tokens, and keeps only
the states of live paths."""

from __future__ import annotations

import dataclasses
import gc
import weakref

import pytest
import torch

from prm.engines.base import SamplingConfig
from prm.engines.scripted import ScriptedEngine
from prm.modeling import RewardConfig, RewardModel
from prm.prefix_states import PrefixState
from prm.records import Problem
from prm.scoring import PRMScorer
from prm.steps import StepFormat
from prm.testing import tiny_causal_lm, tiny_tokenizer
from search import beam, dvts, particle_filter, rebase
from search.beam import BeamSearchConfig
from search.candidates import SearchSetup
from search.particle_filter import ParticleFilterConfig
from search.rebase import RebaseConfig
from tests.test_search_fakes import extract_answer, grade

FORMAT = StepFormat()
PROBLEMS = [
    Problem(id="p1", question="What is 3 + 4?", answer="7"),
    Problem(id="p2", question="Tom has 12 apples and gives away 5. How many are left?", answer="7"),
    Problem(id="p3", question="What is 6 * 7?", answer="42"),
]
WORDS = "so then the answer is apples left Tom has".split()
SAMPLING = SamplingConfig(max_new_tokens=60)


def prompt_for(problem: Problem) -> str:
    return f"Question: {problem.question}\n\nSolution:\n\n"


def script(prompt: str, index: int) -> str:
    """A step of a length and wording that depend on the prompt, the depth and the sample; the
    fourth step ends the solution."""
    head, rest = prompt.split("Solution:\n\n", 1)
    depth = len([s for s in rest.split("\n\n") if s])
    if depth >= 3:
        return f"The answer is {7 + index % 3}."
    words = [WORDS[(depth * 7 + index * 3 + len(head) + k) % len(WORDS)] for k in range(1 + (index * 5 + depth) % 7)]
    return f"{index} + {depth} = {index + depth} " + " ".join(words) + "\n\nleftover"


@pytest.fixture(scope="module")
def scorer():
    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig())
    with torch.no_grad():  # spread the probabilities away from 0.5
        model.step_head.linear.weight.mul_(8)
    return PRMScorer(model, tokenizer, batch_size=5)


def _setup(scorer, reuse: bool) -> SearchSetup:
    def count(prompt, steps):
        return len(scorer.encode([prompt], [list(steps)])[0].input_ids)

    return SearchSetup(prompt_for, extract_answer, grade, FORMAT, count, reuse_scorer_states=reuse)


METHODS = {
    "beam": (beam, BeamSearchConfig(beam_width=2, n_candidates=6, sampling=SAMPLING)),
    "dvts": (dvts, BeamSearchConfig(beam_width=2, n_candidates=6, sampling=SAMPLING)),
    "particle_filter": (particle_filter, ParticleFilterConfig(n_particles=4, sampling=dataclasses.replace(SAMPLING, seed=3))),
    "rebase": (rebase, RebaseConfig(n_candidates=6, balance_temperature=0.5, sampling=SAMPLING)),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_growing_the_cache_selects_the_same_paths_as_full_rescoring(scorer, name):
    method, config = METHODS[name]
    full = method.run(PROBLEMS, ScriptedEngine(script), scorer, config, _setup(scorer, reuse=False))
    grown = method.run(PROBLEMS, ScriptedEngine(script), scorer, config, _setup(scorer, reuse=True))
    for a, b in zip(full, grown):
        assert [c.steps for c in a.candidates] == [c.steps for c in b.candidates]
        assert [c.finished for c in a.candidates] == [c.finished for c in b.candidates]
        for x, y in zip(a.candidates, b.candidates):
            assert y.step_scores == pytest.approx(x.step_scores, abs=1e-5)
        assert max(len(c.steps) for c in a.candidates) == 4  # the searches went 4 steps deep
        assert a.meta["scored_prefixes"] == b.meta["scored_prefixes"]
        assert not a.meta["scorer_state_reuse"] and b.meta["scorer_state_reuse"]
        assert b.meta["scorer_rereads"] == 0  # StepFormat.encode never merges across steps
        assert 0 < b.meta["scorer_tokens"] < a.meta["scorer_tokens"] / 1.5


def test_states_of_pruned_and_finished_paths_are_dropped(scorer):
    alive: weakref.WeakSet = weakref.WeakSet()
    counts: list[tuple[int, int]] = []

    class Watched(PRMScorer):
        def extend(self, states, new_steps):
            gc.collect()
            counts.append((len(alive), len({id(s) for s in states})))
            extensions = super().extend(states, new_steps)
            alive.update(e.state for e in extensions)
            return extensions

    watched = Watched(scorer.model, scorer.tokenizer, batch_size=5)
    config = BeamSearchConfig(beam_width=2, n_candidates=6, sampling=SAMPLING)
    results = beam.run(PROBLEMS, ScriptedEngine(script), watched, config, _setup(watched, reuse=True))
    assert len(results) == 3 and len(counts) == 4
    # Before each round only the live beams' states (2 a problem) and their ancestors are
    # alive, not the 6 a problem each round created.
    for round_index, (alive_before, parents) in enumerate(counts):
        assert alive_before <= len(PROBLEMS) * 2 * round_index
        assert parents <= len(PROBLEMS) * 2
    gc.collect()
    assert len(alive) == 0  # nothing outlives the search
    assert all(isinstance(s, PrefixState) for s in alive)


def test_prm_search_grows_the_cache_by_default_and_full_rescoring_on_request(scorer, tmp_path, monkeypatch):
    import contextlib
    import json

    from prm import cli
    from prm.cli import wiring

    monkeypatch.setattr(wiring, "build_policy", lambda args: (ScriptedEngine(script), prompt_for))

    @contextlib.contextmanager
    def fake_grader(timeout=2.0):
        yield extract_answer, grade

    monkeypatch.setattr(wiring, "grader", fake_grader)
    folder = scorer.model.save_pretrained(tmp_path / "rm", scorer.tokenizer)
    runs = {}
    for name, extra in (("grown", []), ("full", ["--full-rescoring"])):
        out = tmp_path / name
        assert cli.main(["search", "--data", "synthetic", "--limit", "3", "--method", "beam", "dvts", "--prm",
                         str(folder), "--n", "4", "--beam-width", "2", "--no-plot", "--out", str(out), *extra]) == 0
        runs[name] = (json.loads((out / "summary.json").read_text())["methods"],
                      [json.loads(line) for line in (out / "beam.jsonl").read_text().splitlines()])
    (grown, grown_rows), (full, full_rows) = runs["grown"], runs["full"]
    for method in ("beam", "dvts"):
        assert grown[method]["scorer_state_reuse"] and not full[method]["scorer_state_reuse"]
        assert grown[method]["scorer_rereads_per_problem"] == 0
        assert grown[method]["accuracy"] == full[method]["accuracy"]
        assert 0 < grown[method]["scorer_tokens_per_problem"] < full[method]["scorer_tokens_per_problem"]
    assert [[c["steps"] for c in r["candidates"]] for r in grown_rows] == [[c["steps"] for c in r["candidates"]] for r in full_rows]
