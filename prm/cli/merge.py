"""`prm merge`: join the shard outputs of one `prm label` run (see labeling.merge).

Public: `add_arguments`, `run`.
"""

from __future__ import annotations

import argparse
import json
import logging

from labeling.merge import merge_shards
from prm.cli import wiring

log = logging.getLogger("prm.merge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="the shard outputs (each with its .meta.json sidecar)")
    parser.add_argument("--out", required=True,
                        help="output folder; writes labels.jsonl and its sidecar (a .jsonl path: that file, deprecated)")


def run(args: argparse.Namespace) -> int:
    out = wiring.output_file(args.out, "labels.jsonl")
    summary = merge_shards(args.shards, out)
    log.info("merged %d shards into %s", len(args.shards), out)
    print(json.dumps(summary, indent=1))
    return 0
