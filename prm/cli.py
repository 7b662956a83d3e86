"""The `prm` command. Each subcommand lives in its own module, imported only when used.

A subcommand module provides `add_arguments(parser)` and `run(args) -> int`. This is the only
layer that sets up logging and parses argv; library code below it never does.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "data": ("prm.data.cli", "parse data files and print record counts per reader"),
    "synthetic": ("prm.data.synthetic_cli", "write disjoint synthetic problem sets with exact step truth"),
    "grade": ("prm.grading.cli", "grade predicted answers against gold answers"),
    "demo": ("prm.demo", "run the whole loop on the embedded default model"),
    "sft": ("prm.sft_cli", "fine-tune a policy on reference solutions (warm-up before sampling)"),
    "train": ("prm.training.cli", "train a PRM and/or ORM"),
    "score": ("prm.scoring_cli", "score step-wise solutions with a reward model"),
    "label": ("labeling.cli", "sample solutions and label their steps by Monte Carlo rollouts"),
    "merge": ("labeling.merge_cli", "merge the shards of a labeling or search run"),
    "search": ("search.cli", "best-of-n and step-level beam search with reward models"),
    "eval": ("search.eval_cli", "ProcessBench F1 and step-level AUROC of a reward model"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse only the global part first, so that a subcommand's module (and its heavy imports)
    # is loaded only when that subcommand runs.
    command_index = next((i for i, a in enumerate(argv) if a in SUBCOMMANDS), None)
    if command_index is None:
        args = parser.parse_args(argv)
        parser.print_help()
        return 2
    global_args = parser.parse_args(argv[:command_index])
    name = argv[command_index]
    module_name, help_text = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            print(f"prm {name}: not available in this version ({error})", file=sys.stderr)
            return 2
        raise
    sub = argparse.ArgumentParser(prog=f"prm {name}", description=help_text)
    module.add_arguments(sub)
    args = sub.parse_args(argv[command_index + 1 :])
    logging.basicConfig(
        level=logging.DEBUG if global_args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
