"""The `prm` command: train, label, search and evaluate process and outcome reward models.

One verb per module of `prm.cli`; global options (-v, --debug) go before the verb.

Public: `VERBS`, `build_parser()`, `build_verb_parser(name)`, `main(argv) -> int`.

A verb module provides `add_arguments(parser)` and `run(args) -> int`; this module imports
every one of them plainly (their heavy imports, torch and transformers, stay inside their
functions). It is the only place that sets up logging and turns errors into exit codes: a
`ValueError` or `OSError` (the toolkit's `DataError` is a `ValueError`) raised while a verb
runs is printed as one line, `prm VERB: error: ...`, on stderr with exit code 2; `prm --debug
VERB ...` prints the traceback as well. Every verb also takes `--config FILE.yaml`, prints its
defaults in `--help` and takes no abbreviated options (`prm.cli.options`); --device and
--threads are resolved (and logged) here, before the verb runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from types import ModuleType

from prm.cli import data, demo, grade, label, merge, options, score, search, sft, synthetic, train
from prm.cli import eval as evaluate
from prm.cli import serve as serve_verb

# name -> (module, one-line help)
VERBS: dict[str, tuple[ModuleType, str]] = {
    "data": (data, "parse data files and print record counts per reader"),
    "synthetic": (synthetic, "write disjoint synthetic problem sets with exact step truth"),
    "grade": (grade, "grade predicted answers against gold answers"),
    "demo": (demo, "run the whole loop on the embedded default model"),
    "sft": (sft, "fine-tune a policy on reference solutions (warm-up before sampling)"),
    "train": (train, "train a PRM and/or ORM"),
    "score": (score, "score step-wise solutions with a reward model"),
    "label": (label, "sample solutions and label their steps by Monte Carlo rollouts"),
    "merge": (merge, "merge the shards of a labeling or search run"),
    "search": (search, "best-of-n and step-level beam search with reward models"),
    "eval": (evaluate, "ProcessBench F1, step AUROC, overoptimization, calibration of a reward model"),
    "serve": (serve_verb, "serve a reward model over HTTP (OpenRLHF remote reward protocol)"),
}


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line `prm VERB: error: ... (see prm VERB --help)` with
    exit code 2, like every other error (argparse would print the whole usage first); no
    abbreviated options (`--engine v` is never `--engine-batch-size`), defaults in --help.
    Subcommand parsers (`prm eval auroc`) are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", options.HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="prm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in VERBS.items():
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # The global options come before the verb; everything after it is the verb's.
    command_index = next((i for i, a in enumerate(argv) if a in VERBS), None)
    if command_index is None:
        parser.parse_args(argv)
        parser.print_help()
        return 2
    global_args = parser.parse_args(argv[:command_index])
    name = argv[command_index]
    module = VERBS[name][0]
    sub = build_verb_parser(name)
    try:
        rest = options.apply_config(sub, options.normalize(sub, argv[command_index + 1 :]))
    except (ValueError, OSError) as error:
        return _failed(name, error, global_args.debug)
    args = sub.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if global_args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        options.apply_runtime(args)
        return int(module.run(args) or 0)
    except (ValueError, OSError) as error:
        return _failed(name, error, global_args.debug)


def build_verb_parser(name: str) -> argparse.ArgumentParser:
    """The parser of `prm NAME`, with every shared option (--config) added."""
    module, help_text = VERBS[name]
    sub = _OneLineParser(prog=f"prm {name}", description=help_text)
    module.add_arguments(sub)
    options.finish(sub)
    return sub


def _failed(name: str, error: Exception, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"prm {name}: error: {error}", file=sys.stderr)
    return 2
