"""The one place that turns names into objects for the `prm` verbs.

Public: `PROBLEM_NAMES`, `STEPWISE_NAMES`, `ENGINES`, `PRM_KINDS`, `DATA_HELP`, `parse_shard`,
`shard_slice`, `hub_dataset`, `load_problems`, `load_stepwise`, `load_processbench`, `output_file`,
`build_engine`, `solution_grader`, `build_policy`, `prm_kind_of`, `load_step_scorer`, `load_scorers`,
`add_ensemble_arguments`, `recorded_step_format`, `scorer_step_format`, `grader`, `phase`, `progress`,
`scorer_token_counter`, `count_scorer_tokens`.

Names it knows: data (every --data: a local path, a named set under --data-root, or a Hugging
Face hub dataset `owner/name[:config][@split]` read through `datasets.load_dataset`; problems
gsm8k, math500, gsm8k-train, math-train, synthetic; step-labelled prm800k, math-shepherd,
processbench; with limit and shard), engines (transformers, vllm, simulated), scorers (reward-model
folders written by `prm train`, and public PRMs through `prm.modeling.adapters`, chosen by
--prm-kind or recognised from the folder), the grader and progress bars. Only the CLI wing
imports this; the library takes plain objects, callables and protocols. Heavy imports (torch,
transformers, vLLM, the grader) happen inside the functions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from prm.errors import OptionError
from prm.records import Problem
from search.candidates import ProblemCandidates

NAMED_DATA = {
    "gsm8k": ("gsm8k/test.jsonl", "gsm8k"),
    "gsm8k-train": ("gsm8k/train.jsonl", "gsm8k"),
    "math500": ("math/math500_test.jsonl", "math"),
    "math-train": ("math/math_train.jsonl", "math"),
}
PROBLEM_NAMES = (*NAMED_DATA, "synthetic")
# Step-labelled sets under --data-root (train, score, eval auroc / processbench).
NAMED_STEPWISE = {
    "prm800k": "prm800k/phase1_test.stepwise-critic.jsonl",
    "math-shepherd": "math_shepherd/samples_openr.jsonl",
    "processbench": "processbench",
}
STEPWISE_NAMES = tuple(NAMED_STEPWISE)
DATA_HELP = "a file, a named set under --data-root, or a hub dataset owner/name[:config][@split]"
_HUB_NAME = re.compile(r"([\w.-]+/[\w.-]+)(?::([\w.-]+))?(?:@([\w.:%\[\]+-]+))?")
log = logging.getLogger("prm.cli")
ENGINES = ("transformers", "vllm", "simulated")
# --prm-kind: "toolkit" is a folder written by `prm train`; the others are public conventions.
PRM_KINDS = ("toolkit", "math_shepherd", "qwen_prm", "label_token", "implicit", "rlhflow", "skywork_prm")


def parse_shard(text: str) -> tuple[int, int]:
    """"i/n" -> (i, n) with 0 <= i < n; ValueError naming the value otherwise."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise OptionError("--shard", "must look like i/n", "e.g. --shard 0/4", text) from None
    if count < 1 or not 0 <= index < count:
        raise OptionError("--shard", "i/n needs 0 <= i < n", "number shards from 0", text)
    return index, count


def check_at_least(args: Any, minimum: float, *names: str) -> None:
    """OptionError naming the first option in `names` (attribute names of `args`) below `minimum`
    (None, an option not given, passes): checked before any model or file is touched."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < minimum:
            raise OptionError(f"--{name.replace('_', '-')}", f"must be >= {minimum}", value=value)


def check_positive(args: Any, *names: str) -> None:
    """OptionError naming the first option in `names` that is not > 0 (None passes)."""
    for name in names:
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise OptionError(f"--{name.replace('_', '-')}", "must be > 0", value=value)


def shard_slice(items: Sequence[Any], shard: str | None) -> list[Any]:
    """Items i, i+n, i+2n, ... for shard "i/n" (all items for None)."""
    if shard is None:
        return list(items)
    index, count = parse_shard(shard)
    return list(items[index::count])


def load_problems(
    data: str,
    data_root: str = "../shared/data",
    limit: int | None = None,
    shard: str | None = None,
    seed: int = 0,
    synthetic_steps: int | None = None,
) -> list[Problem]:
    """Problems for a --data/--problems value: a name of PROBLEM_NAMES or a file path.

    synthetic: `limit` problems (default 100) of the synthetic task with this seed and, where
    given, `synthetic_steps` operations each. Shard first, then the first `limit`.
    """
    if data == "synthetic":
        from prm.data.synthetic import SyntheticConfig, make_problems

        options = {} if synthetic_steps is None else {"num_steps": synthetic_steps}
        problems = make_problems(limit or 100, SyntheticConfig(seed=seed, **options))
    else:
        from prm.data import load_problems as read

        if data in NAMED_DATA:
            relative, format = NAMED_DATA[data]
            path = Path(data_root) / relative
        else:
            path, format = Path(data), None
        hub = None if path.exists() or data in NAMED_DATA else hub_dataset(data)
        if hub is not None:
            with phase(f"reading hub dataset {data}"):
                problems = read(hub[0], split=hub[2], config_name=hub[1])
        elif not path.exists():
            raise FileNotFoundError(
                f"{path} not found; name the problems {'|'.join(PROBLEM_NAMES)}, a file or a hub dataset "
                "owner/name[:config][@split], and point --data-root at the folder holding gsm8k/ and math/"
            )
        else:
            problems = _read_problems(read, path, format, named=data in NAMED_DATA)
    return shard_slice(problems, shard)[:limit] if limit else shard_slice(problems, shard)


def hub_dataset(value: str) -> tuple[str, str | None, str | None] | None:
    """(name, config, split) of a hub dataset name `owner/name[:config][@split]`, else None."""
    match = _HUB_NAME.fullmatch(value)
    if match is None or value.lower().endswith((".jsonl", ".json", ".parquet")) or value.startswith("."):
        return None
    return match.group(1), match.group(2), match.group(3)


def _source(data: str, data_root: str, option: str) -> tuple[str, dict[str, Any]]:
    """(what to read, its split/config_name) for a step-labelled --data value."""
    path = Path(data_root) / NAMED_STEPWISE[data] if data in NAMED_STEPWISE else Path(data)
    if path.exists():
        return str(path), {}
    hub = hub_dataset(data) if data not in NAMED_STEPWISE else None
    if hub is None:
        raise FileNotFoundError(f"{option} {data}: no such file; give {DATA_HELP} "
                                f"({', '.join(STEPWISE_NAMES)}; --data-root {data_root})")
    return hub[0], {"split": hub[2], "config_name": hub[1]}


def load_stepwise(data: str, data_root: str = "../shared/data", option: str = "--data", **options: Any) -> list[Any]:
    """Step-labelled solutions for a --data value (see DATA_HELP); options go to
    `prm.data.load_stepwise` (format, PRM800K policy)."""
    from prm.data.loading import load_stepwise as read

    source, hub = _source(data, data_root, option)
    with phase(f"reading {data}"):
        return read(source, **hub, **options)


def load_processbench(data: str, data_root: str, subsets: Sequence[str]) -> dict[str, list[Any]]:
    """ProcessBench solutions per subset: from a folder of <subset>.json (named `processbench`
    under --data-root) or from the hub (Qwen/ProcessBench, one split per subset)."""
    from prm.data import load_stepwise as read
    from prm.data import read_processbench

    source, hub = _source(data, data_root, "--data")
    if hub:
        return {name: read(source, format="processbench", split=name, config_name=hub["config_name"])
                for name in subsets}
    found = {}
    for name in subsets:
        path = Path(source) / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; point --data at the ProcessBench folder (or Qwen/ProcessBench)")
        found[name] = read_processbench(path)
    return found


def output_file(out: str, name: str, option: str = "--out") -> str:
    """The file a verb writes for `--out FOLDER` (FOLDER/name). A .jsonl/.json --out is the
    old form, a file, kept for one release with a warning; an existing file that is no such
    path is refused before anything is written."""
    path = Path(out)
    if path.suffix in (".jsonl", ".json"):
        log.warning("%s %s: a file is deprecated (it goes after this release); --out names a folder, "
                    "where this verb writes %s", option, out, name)
        return out
    if path.exists() and not path.is_dir():
        raise OptionError(option, "is a file; --out names a folder", f"give a folder (the verb writes {name} in it)", out)
    return str(path / name)


def _read_problems(read, path: Path, format: str | None, named: bool) -> list[Problem]:
    """A named data set is read past its few known-bad rows (two MATH-train rows have an empty
    \\boxed{} gold), each counted in a warning; a user's file must be clean."""
    if not named:
        return read(path, format=format)
    from prm.data import ReadReport

    report = ReadReport()
    problems = read(path, format=format, on_error="skip", report=report)
    if report.total_skipped:
        logging.getLogger("prm.data").warning("%s: %s", path, report.summary())
    return problems


def build_engine(
    name: str,
    policy: str = "embedded",
    *,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 64,
    share_prefill: bool = True,
    seed: int = 0,
    vllm_memory: float | None = None,
    vllm_max_len: int | None = None,
    problems: Sequence[Problem] | None = None,
    sim_error_rate: float = 0.15,
    sim_call_seconds: float = 0.0,
) -> tuple[Any, Any]:
    """(engine, tokenizer or None) for an engine name of ENGINES.

    simulated: a noisy solver of the synthetic `problems` (no model, no tokenizer).
    """
    if name == "simulated":
        from labeling.simulated import NoisySolverEngine

        if problems is None:
            raise OptionError("--engine simulated", "samples synthetic problems only", "use --problems synthetic")
        return NoisySolverEngine(problems, sim_error_rate, call_seconds=sim_call_seconds), None
    if name == "vllm":
        from prm.engines.vllm import VLLMEngine, VLLMEngineConfig

        with phase(f"starting vLLM with policy {policy}"):
            engine = VLLMEngine(policy, VLLMEngineConfig(seed=seed, dtype=dtype, memory_utilization=vllm_memory,
                                                         max_model_len=vllm_max_len))
        return engine, engine.llm.get_tokenizer()
    if name == "transformers":
        from prm.engines.hf import TransformersEngine, TransformersEngineConfig

        config = TransformersEngineConfig(batch_size=batch_size, share_prefill=share_prefill)
        with phase(f"loading policy {policy} on {device}"):
            engine = TransformersEngine.from_pretrained(policy, config, dtype=dtype, device=device)
        return engine, engine.tokenizer
    raise OptionError("--engine", "unknown engine", f"choose one of {', '.join(ENGINES)}", name)


def solution_grader(engine_name: str) -> Callable[[str, str], Any]:
    """grade(gold, solution_text) for the engine's solutions: the simulated solver's answer
    statements, or the toolkit's grader (final answer extracted first)."""
    if engine_name == "simulated":
        from labeling.simulated import grade_answer_statement

        return grade_answer_statement
    from prm.grading import grade_solution

    return grade_solution


def build_policy(args: Any) -> tuple[Any, Callable[[Problem], str]]:
    """The --engine (transformers or vllm) for --policy and the prompt builder (prm.engines.prompts:
    the same prompt `prm label` and the demo's SFT step use)."""
    from prm.engines.prompts import DEFAULT_TEMPLATE, policy_prompt, resolve_template

    engine, tokenizer = build_engine(
        getattr(args, "engine", "transformers"), args.policy, device=args.device, dtype=getattr(args, "dtype", "float32"),
        batch_size=args.engine_batch_size, seed=args.seed, vllm_memory=getattr(args, "vllm_memory", None),
        vllm_max_len=getattr(args, "vllm_max_len", None),
    )
    template = resolve_template(tokenizer, args.prompt_template or DEFAULT_TEMPLATE, args.chat_template)
    return engine, lambda problem: policy_prompt(problem.question, template)


def prm_kind_of(path: str | Path) -> str:
    """The PRM_KINDS entry a folder is recognised as: "toolkit" where it holds the reward
    config `prm train` writes, "label_token" / "implicit" where it holds what those `prm train`
    objectives write, "qwen_prm" / "skywork_prm" where its config names Qwen's process-reward
    or Skywork's *ForPrmModel architecture; anything else needs --prm-kind (a Math-Shepherd or
    RLHFlow PRM is a plain causal LM)."""
    from prm.modeling.reward_model import REWARD_CONFIG_NAME

    folder = Path(path)
    if (folder / REWARD_CONFIG_NAME).is_file():
        return "toolkit"
    if (folder / "label_token_config.json").is_file():  # written by `prm train --objective label_token`
        return "label_token"
    if (folder / "implicit_prm_config.json").is_file():  # written by `prm train --objective implicit`
        return "implicit"
    config = folder / "config.json"
    if config.is_file():
        architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
        if any("ProcessRewardModel" in name for name in architectures):
            return "qwen_prm"
        if any(name.endswith("ForPrmModel") for name in architectures):  # Skywork's value-head PRMs
            return "skywork_prm"
    raise OptionError(
        f"--prm {path}", "not a folder written by `prm train` and not a recognised public PRM",
        f"name its convention with --prm-kind {'|'.join(k for k in PRM_KINDS if k != 'toolkit')}",
    )


def load_step_scorer(path: str, kind: str | None = None, device: str = "cpu") -> Any:
    """A `prm.scores.StepScorer` for --prm: a toolkit reward model, or a public PRM through its
    adapter (math_shepherd: P('+') at ' ки'; qwen_prm: 2-class head at <extra_0>)."""
    kind = kind or prm_kind_of(path)
    if kind == "toolkit":
        from prm.scoring import PRMScorer

        return PRMScorer.from_pretrained(path, device=device)
    if kind == "math_shepherd":
        from prm.modeling.adapters import LabelTokenPRM

        scorer = LabelTokenPRM.from_pretrained(path)
    elif kind == "label_token":
        from prm.modeling.adapters import LabelTokenConfig, LabelTokenPRM

        settings = Path(path) / "label_token_config.json"
        if not settings.is_file():
            raise OptionError(f"--prm {path}", "holds no label_token_config.json",
                              "train it with `prm train --objective label_token`, or use --prm-kind math_shepherd")
        config = LabelTokenConfig(**json.loads(settings.read_text(encoding="utf-8")))
        scorer = LabelTokenPRM.from_pretrained(path, config)
    elif kind == "implicit":
        from orm.implicit import ImplicitPRM

        return ImplicitPRM.from_pretrained(path, device=device)
    elif kind == "rlhflow":
        from prm.modeling.rlhflow import ChatLabelTokenPRM

        scorer = ChatLabelTokenPRM.from_pretrained(path)
    elif kind == "skywork_prm":
        from prm.modeling.skywork import ValueHeadPRM

        scorer = ValueHeadPRM.from_pretrained(path)
    elif kind == "qwen_prm":
        from prm.modeling.adapters import ClassificationHeadPRM

        scorer = ClassificationHeadPRM.from_pretrained(path)
    else:
        raise OptionError("--prm-kind", "unknown convention", f"choose one of {', '.join(PRM_KINDS)}", kind)
    scorer.model.to(device)
    return scorer


def add_ensemble_arguments(parser: Any) -> None:
    """--ensemble and --ensemble-k, for verbs whose --prm (and --orm) take several folders."""
    from prm.ensemble import COMBINATIONS

    parser.add_argument("--ensemble", default="mean", choices=COMBINATIONS,
                        help="how several --prm/--orm folders combine per step: mean, min, or mean - k * std")
    parser.add_argument("--ensemble-k", type=float, default=1.0, help="k of --ensemble mean_std (default 1.0)")


def load_scorers(
    prm: str | Sequence[str] | None, orm: str | Sequence[str] | None, device: str = "cpu",
    prm_kind: str | None = None, ensemble: str = "mean", ensemble_k: float = 1.0,
) -> tuple[Any, Any]:
    """PRM (step scorer) and ORM (outcome head of a toolkit reward model, or an implicit PRM)
    for --prm / --orm, or None where not given. The same folder for both is loaded once.
    Several folders (a list) make a `prm.ensemble.EnsembleScorer` combining them per step
    (`ensemble`: mean, min or mean_std with `ensemble_k`); one folder in a list is that folder."""
    prm, orm = _folders(prm), _folders(orm)
    if len(prm) > 1 or len(orm) > 1:
        from prm.ensemble import EnsembleScorer

        if ensemble_k < 0:
            raise OptionError("--ensemble-k", "must be >= 0", value=ensemble_k)
        members = [load_scorers(p, o, device, prm_kind) for p, o in _pair_members(prm, orm)]
        step = EnsembleScorer([m[0] for m in members], ensemble, ensemble_k) if prm else None
        outcome = None
        if orm:
            outcome = step if orm == prm else EnsembleScorer([m[1] for m in members], ensemble, ensemble_k)
        return step, outcome
    prm_path, orm_path = (prm or [None])[0], (orm or [None])[0]
    other = orm_path if orm_path and orm_path != prm_path else ""
    with phase(f"loading verifier {prm_path or ''}{' + ' if prm_path and other else ''}{other} on {device}"):
        return _load_scorers(prm_path, orm_path, device, prm_kind)


def _load_scorers(prm_path: str | None, orm_path: str | None, device: str, prm_kind: str | None) -> tuple[Any, Any]:
    step = load_step_scorer(prm_path, prm_kind, device) if prm_path else None
    outcome = None
    if orm_path:
        from orm.implicit import IMPLICIT_CONFIG_NAME, ImplicitPRM
        from prm.scoring import PRMScorer

        same = orm_path == prm_path and isinstance(step, (PRMScorer, ImplicitPRM))
        if same:
            outcome = step
        elif (Path(orm_path) / IMPLICIT_CONFIG_NAME).is_file():
            outcome = ImplicitPRM.from_pretrained(orm_path, device=device)
        else:
            outcome = PRMScorer.from_pretrained(orm_path, device=device)
    return step, outcome


def _folders(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, Path)) else list(value)


def _pair_members(prm: list[str], orm: list[str]) -> list[tuple[str | None, str | None]]:
    """Ensemble members as (prm, orm) folder pairs: one list alone, or two lists of one length
    (the same folders load once per member)."""
    if prm and orm and len(prm) != len(orm):
        raise OptionError("--orm", f"{len(orm)} folders for {len(prm)} --prm folders",
                          "give an ensemble's --prm and --orm folders in pairs (or one side only)")
    size = max(len(prm), len(orm))
    return [(prm[i] if prm else None, orm[i] if orm else None) for i in range(size)]


def recorded_step_format(paths: Sequence[str]) -> Any:
    """The StepFormat the label sidecars (`<file>.meta.json`, written by `prm label`) of these
    data files record, or None where none records one; files that disagree raise."""
    from labeling.store import sidecar_path
    from prm.steps import StepFormat

    found = {}
    for path in paths:
        side = sidecar_path(path)
        if side.is_file():
            recorded = json.loads(side.read_text(encoding="utf-8")).get("step_format")
            if recorded is not None:
                found[str(path)] = StepFormat.from_dict(recorded)
    if len(set(found.values())) > 1:
        listing = "; ".join(f"{path}: {fmt}" for path, fmt in found.items())
        raise ValueError(f"the data files were labelled in different step formats ({listing}); "
                         "train on one, or name one with --step-format")
    return next(iter(found.values()), None)


def scorer_step_format(scorer: Any, name: str | None) -> Any:
    """The StepFormat a search splits policy text with: --step-format where given, else the
    one the PRM was trained with (toolkit folders record it), Math-Shepherd's for a label-token
    PRM, and the default otherwise."""
    from prm.steps import MATH_SHEPHERD, STEP_FORMATS, step_format_named

    if name is not None:
        return step_format_named(name)
    recorded = getattr(scorer, "step_format", None)
    if recorded is not None:
        return recorded
    if type(scorer).__name__ == "LabelTokenPRM":
        return MATH_SHEPHERD
    return STEP_FORMATS["default"]


@contextlib.contextmanager
def grader(timeout: float = 2.0) -> Iterator[tuple[Callable, Callable]]:
    """(extract_answer, grade) where grade(gold, pred) -> a `Verdict`."""
    from prm.grading import Grader, extract_answer

    with Grader(timeout=timeout) as instance:
        yield extract_answer, lambda gold, pred: instance.grade(gold, pred).verdict


@contextlib.contextmanager
def phase(what: str) -> Iterator[None]:
    """Log `what...` before a silent step (a model load, a hub read) and its seconds after."""
    log.info("%s ...", what)
    started = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", what, time.perf_counter() - started)


@contextlib.contextmanager
def progress(total: int, description: str, unit: str = "problem") -> Iterator[Callable[[int], None]]:
    """A tqdm bar (count, rate, ETA) in `unit`s; yields advance(done_so_far). The bar is redrawn
    every few seconds (elapsed time) even while one long engine call runs."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, dynamic_ncols=True)
    try:
        with heartbeat(bar):
            yield lambda done: bar.update(done - bar.n)
    finally:
        bar.close()


@contextlib.contextmanager
def heartbeat(bar: Any, seconds: float = 3.0) -> Iterator[None]:
    """Refresh a tqdm bar every `seconds` from a daemon thread until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(seconds):
            if not bar.disable:
                bar.refresh()

    thread = threading.Thread(target=beat, name="progress-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def scorer_token_counter(scorer: Any) -> Callable[[str, Sequence[str]], int] | None:
    """tokens(prompt, steps) the scorer reads for one solution, where it exposes `encode`."""
    members = getattr(scorer, "members", None)
    if members is not None:  # an ensemble reads the solution once per member
        counters = [scorer_token_counter(member) for member in members]
        if any(counter is None for counter in counters):
            return None
        return lambda prompt, steps: sum(counter(prompt, steps) for counter in counters)
    encode = getattr(scorer, "encode", None)
    if encode is None:
        return None
    if hasattr(scorer, "build_text"):  # a public-PRM adapter: encode(prompt, steps) -> (ids, positions)
        return lambda prompt, steps: len(encode(prompt, list(steps))[0])
    return lambda prompt, steps: len(encode([prompt], [list(steps)])[0].input_ids)


def count_scorer_tokens(scorer: Any, results: Sequence[ProblemCandidates]) -> int:
    """Tokens the scorer read for every scored candidate (0 where it cannot say)."""
    counter = scorer_token_counter(scorer)
    if counter is None:
        return 0
    return sum(counter(r.prompt, c.steps) for r in results for c in r.candidates if c.steps)
