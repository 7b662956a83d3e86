"""`prm merge`: join the shard outputs of one `prm label` run (see labeling.merge).

Public: `add_arguments`, `run`.
"""

from __future__ import annotations

import argparse
import json
import logging

from labeling.merge import merge_shards

log = logging.getLogger("prm.merge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="the shard outputs (each with its .meta.json sidecar)")
    parser.add_argument("--out", required=True, help="merged JSON-lines output")


def run(args: argparse.Namespace) -> int:
    summary = merge_shards(args.shards, args.out)
    log.info("merged %d shards into %s", len(args.shards), args.out)
    print(json.dumps(summary, indent=1))
    return 0
