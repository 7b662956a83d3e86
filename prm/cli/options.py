"""The options several verbs share, defined once, and what the command line does with them.

Public: `HelpFormatter`, `add_compute`, `add_engine`, `deprecate`, `visible_options`, `finish`, `normalize`,
`apply_config`, `apply_runtime`, `resolve_device`, `resolve_threads`, `device_name`,
`CONFIG_SUFFIXES`.

- `--device auto|cpu|cuda|cuda:N|mps` and `--threads N` on every verb that computes
  (`add_compute`); `apply_runtime` resolves them once, before the verb runs, and logs what it
  chose: auto is CUDA where a GPU is visible, else the CPU; without --threads the CPU threads
  are OMP_NUM_THREADS where set, else the cores other processes leave free now
  (min(cores, max(1, cores - round(busy cores))), busy sampled from /proc/stat over a quarter
  second; the 1-minute load average where there is no /proc/stat), so two jobs on a shared
  machine do not slow each other many times over. torch and the OMP/MKL variables of any
  worker process started later get the same number.
- `--engine transformers|vllm` with its batch, dtype and memory options on every verb that
  generates (`add_engine`).
- `--config FILE.yaml` on every verb (`finish` adds it, `apply_config` applies it): keys are
  the verb's option names (`learning_rate` or `learning-rate`), values as on the command line;
  an option given on the command line wins, and an unknown key fails by name.
- Old spellings (`deprecate`) parse as the new option for one release, with one warning line.
- `--max_grad_norm` is read as `--max-grad-norm` (HfArgumentParser's spelling; `normalize`).
- Defaults appear in `--help` (`HelpFormatter`).
"""

from __future__ import annotations

import argparse
import copy
import difflib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from prm.errors import OptionError

log = logging.getLogger("prm.cli")

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
GENERATING_ENGINES = ("transformers", "vllm")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`(default: X)` after every option's help, unless the help already says its default or
    there is nothing to say (None, or an off switch); deprecated spellings are not shown."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not getattr(action, "deprecated", None):
            return super()._format_action_invocation(action)
        shown = copy.copy(action)
        shown.option_strings = visible_options(action)
        return super()._format_action_invocation(shown)

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default" in help_text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return help_text
        if isinstance(action, argparse._StoreConstAction) or action.default == []:
            return help_text
        return super()._get_help_string(action)


def device_name(text: str) -> str:
    """argparse type of --device: auto, cpu, mps, cuda or cuda:N."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return text


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of threads") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} threads: must be >= 1")
    return value


def add_compute(parser: argparse.ArgumentParser | Any) -> None:
    """--device and --threads (a parser or an argument group)."""
    parser.add_argument("--device", type=device_name, default="auto",
                        help="torch device: auto (CUDA where a GPU is visible, else the CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", type=_thread_count, default=None,
                        help="CPU threads for torch and worker processes (default: OMP_NUM_THREADS where set, "
                             "else the cores the machine's current load leaves free; the choice is logged)")


def add_engine(parser: argparse.ArgumentParser | Any, engines: Sequence[str] = GENERATING_ENGINES,
               batch_size: int = 32, dtype: str = "float32", batch_dest: str = "engine_batch_size") -> None:
    """--engine and the options that size it: one spelling on every verb that generates
    (batch_dest: the attribute --engine-batch-size sets, where a verb read it under another name)."""
    parser.add_argument("--engine", choices=engines, default="transformers",
                        help="generation engine; vllm needs `pip install -e '.[vllm]'` (same prompts and stop strings)")
    parser.add_argument("--engine-batch-size", type=int, default=batch_size, dest=batch_dest,
                        help="sample rows decoded together (transformers engine)")
    parser.add_argument("--dtype", default=dtype, help="policy weights: float32, bfloat16, float16 (vllm also: auto)")
    parser.add_argument("--vllm-memory", type=float, default=None,
                        help="vllm: memory fraction to reserve (on a CPU: of RAM; default: vLLM's)")
    parser.add_argument("--vllm-max-len", type=int, default=None,
                        help="vllm: context length, prompt plus completion (default: the model's; its KV cache "
                             "must fit in --vllm-memory, so a CPU run may need 1024-4096)")


_WARNING_CLASSES: dict[type, type] = {}


def _warning_class(cls: type) -> type:
    """`cls`, but a use of one of the action's `deprecated` spellings prints one warning line."""
    if cls not in _WARNING_CLASSES:
        def __call__(self, parser, namespace, values, option_string=None):
            new = self.deprecated.get(option_string)
            if new is not None:
                print(f"{parser.prog}: warning: {option_string} is deprecated and goes after this release; "
                      f"use {new}", file=sys.stderr)
            cls.__call__(self, parser, namespace, values, option_string)

        _WARNING_CLASSES[cls] = type(f"Deprecated{cls.__name__}", (cls,), {"__call__": __call__})
    return _WARNING_CLASSES[cls]


def deprecate(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Accept `old` as a spelling of `new`, an option `parser` already has: the same action (so
    required options and exclusive groups behave alike), hidden from --help, warning once per use."""
    target = parser._option_string_actions[new]
    if not hasattr(target, "deprecated"):
        target.deprecated = {}
        target.__class__ = _warning_class(type(target))
    target.deprecated[old] = new
    target.option_strings.append(old)
    parser._option_string_actions[old] = target


def visible_options(action: argparse.Action) -> list[str]:
    """The option strings --help shows (the deprecated ones left out)."""
    return [o for o in action.option_strings if o not in getattr(action, "deprecated", {})]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    children = _subcommands(parser)
    return [leaf for child in children.values() for leaf in _leaves(child)] if children else [parser]


def finish(parser: argparse.ArgumentParser) -> None:
    """After a verb added its options: --config on every leaf parser, and a help line (with
    the default) for options that have none."""
    for leaf in _leaves(parser):
        leaf.add_argument("--config", metavar="FILE.yaml", default=None,
                          help="options from a YAML file: keys are option names (learning_rate: 1e-5), values "
                               "as on the command line; options given on the command line win")
        for action in leaf._actions:
            if action.help is None and action.option_strings and action.default not in (None, False):
                action.help = "(default: %(default)s)"
            long = next((o for o in action.option_strings if o.startswith("--")), None)
            if long and action.metavar is None and action.choices is None and action.nargs != 0 \
                    and long[2:].replace("-", "_") != action.dest:  # --backbone MODEL -> --backbone BACKBONE
                action.metavar = long[2:].replace("-", "_").upper()


def normalize(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """`--max_grad_norm` -> `--max-grad-norm` where only the dashed spelling is an option."""
    known = {option for leaf in [parser, *_leaves(parser)] for option in leaf._option_string_actions}
    result = []
    for token in argv:
        name, eq, value = token.partition("=")
        if token.startswith("--") and name not in known and name.replace("_", "-") in known:
            token = name.replace("_", "-") + eq + value
        result.append(token)
    return result


# ---------------------------------------------------------------------------- --config
def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """argv with the options of `--config FILE` put before the command line's own (which so
    win); an option given on the command line, or one exclusive with it, is not taken from the
    file. A verb with subcommands (`prm eval processbench`) reads the subcommand's options."""
    argv = list(argv)
    path, rest = _pop_config(argv)
    if path is None:
        return argv
    leaf, prefix = parser, []
    children = _subcommands(parser)
    if children:
        index = next((i for i, token in enumerate(rest) if token in children), None)
        if index is None:
            raise OptionError("--config", "needs the subcommand on the command line", f"e.g. {parser.prog} "
                              f"{next(iter(children))} --config {path}")
        leaf, prefix, rest = children[rest[index]], rest[: index + 1], rest[index + 1 :]
    values = _read_config(path)
    given = _given_dests(leaf, rest)
    tokens: list[str] = []
    for key, value in values.items():
        action, option = _action_for(leaf, path, key)
        if action.dest in given:
            continue
        tokens += _tokens(action, option, value, f"--config {path}: {key}")
    return prefix + tokens + rest


def _pop_config(argv: list[str]) -> tuple[str | None, list[str]]:
    path, rest, index = None, [], 0
    while index < len(argv):
        token = argv[index]
        if token == "--config":
            if index + 1 >= len(argv):
                raise OptionError("--config", "needs a file", "e.g. --config run.yaml")
            path, index = argv[index + 1], index + 2
            continue
        if token.startswith("--config="):
            path = token.partition("=")[2]
        else:
            rest.append(token)
        index += 1
    return path, rest


def _read_config(path: str) -> dict[str, Any]:
    import yaml

    if not Path(path).is_file():
        raise FileNotFoundError(f"--config {path}: no such file; give a YAML file of option: value lines")
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise OptionError(f"--config {path}", f"not YAML ({' '.join(str(error).split())})") from None
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(key, str) for key in values):
        raise OptionError(f"--config {path}", "must be a mapping of option names to values",
                          "write one `option_name: value` per line")
    return values


def _action_for(parser: argparse.ArgumentParser, path: str, key: str) -> tuple[argparse.Action, str]:
    option = "--" + key.strip().lstrip("-").replace("_", "-")
    action = parser._option_string_actions.get(option)
    if action is None or option in ("--config", "--help"):
        names = sorted(o[2:].replace("-", "_") for a in parser._actions for o in visible_options(a)
                       if o.startswith("--") and a.help != argparse.SUPPRESS and o not in ("--config", "--help"))
        close = difflib.get_close_matches(key.replace("-", "_"), names, n=3)
        fix = f"did you mean {', '.join(close)}?" if close else f"{parser.prog} takes: {', '.join(names)}"
        raise OptionError(f"--config {path}", f"unknown key {key!r}", fix)
    return action, option


def _given_dests(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The dests the command line sets, and those exclusive with them."""
    given = set()
    for token in argv:
        action = parser._option_string_actions.get(token.partition("=")[0]) if token.startswith("-") else None
        if action is not None:
            given.add(action.dest)
    for group in parser._mutually_exclusive_groups:
        dests = {action.dest for action in group._group_actions}
        if dests & given:
            given |= dests
    return given


def _tokens(action: argparse.Action, option: str, value: Any, where: str) -> list[str]:
    """The command-line tokens that say `option: value`."""
    if isinstance(value, dict):
        raise OptionError(where, "is a mapping; give a value or a list")
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            raise OptionError(where, "is a switch; give true or false", value=value)
        if isinstance(action, argparse.BooleanOptionalAction) and not option.startswith("--no-"):
            return [option if value else "--no-" + option[2:]]
        return [option] if value else []
    if value is None:
        return []
    if action.nargs == "?" and isinstance(value, bool):
        return [option] if value else []
    if isinstance(value, list):
        if action.nargs not in ("+", "*") and not isinstance(action.nargs, int):
            raise OptionError(where, "takes one value, not a list", value=value)
        return [option, *map(_text, value)]
    return [f"{option}={_text(value)}"]  # one token: a value such as -1 stays a value


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------------------- runtime
def apply_runtime(args: argparse.Namespace) -> None:
    """Resolve --threads (set for torch and workers) and --device in place, logging each."""
    if hasattr(args, "threads"):
        args.threads = resolve_threads(args.threads)
    if hasattr(args, "device"):
        args.device = resolve_device(args.device)


def resolve_threads(requested: int | None) -> int:
    """The CPU thread count to use, set for torch and in OMP/MKL_NUM_THREADS; logged once."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if requested is not None:
        threads, why = requested, "--threads"
    elif from_env.isdigit() and int(from_env) >= 1:
        threads, why = int(from_env), "OMP_NUM_THREADS"
    else:
        busy, how = busy_cores()
        threads = min(cores, max(1, cores - round(busy)))
        why = f"{how} on {cores} cores; --threads N to choose"
    torch.set_num_threads(threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    log.info("threads: %d (%s)", threads, why)
    return threads


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of every CPU since boot, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])


def busy_cores(window: float = 0.25) -> tuple[float, str]:
    """(cores other processes keep busy now, how that was measured). Sampled over `window`
    seconds from /proc/stat while this process sleeps, where there is one: the load average
    trails by a minute, so a command run right after a heavy one would count that one as
    still running and take one thread of an idle machine. Elsewhere the 1-minute load."""
    import time

    before = _cpu_times()
    if before is not None:
        time.sleep(window)
        after = _cpu_times()
        if after is not None and after[1] > before[1]:  # /proc/stat's first line sums every CPU
            busy = (1.0 - (after[0] - before[0]) / (after[1] - before[1])) * (os.cpu_count() or 1)
            return busy, f"{busy:.1f} cores busy now"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return load, f"load {load:.1f} over the last minute"


def resolve_device(name: str) -> str:
    """auto -> "cuda" where a GPU is visible, else "cpu"; a named accelerator must be there."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        what = torch.cuda.get_device_name(0) if name == "cuda" else "no CUDA device visible"
        log.info("device: %s (--device auto: %s)", name, what)
        return name
    if name.startswith("cuda"):
        index = int(name.partition(":")[2] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise OptionError("--device", f"no such CUDA device ({torch.cuda.device_count()} visible)",
                              "use --device auto or cpu", name)
    if name == "mps" and not torch.backends.mps.is_available():
        raise OptionError("--device", "no MPS device here", "use --device auto or cpu", name)
    log.info("device: %s", name)
    return name
