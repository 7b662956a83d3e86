"""`prm serve`: a reward model behind HTTP (OpenRLHF's remote reward-model protocol).

Public: `add_arguments(parser)`, `run(args) -> int`.

    prm serve --prm runs/prm --port 5000 [--aggregation min] [--head step] [--device cuda]
    prm serve --prm runs/prm_a runs/prm_b --ensemble mean_std --ensemble-k 1.0   # an ensemble
    prm serve --prm runs/prm --verifiable-weight 0.1   # + 0.1 x grader verdict against "labels"
    # OpenRLHF: --remote_rm_url http://HOST:5000/get_reward
    curl -s localhost:5000/get_reward -d '{"query": ["What is 3 + 4?\\n\\n3 + 4 = 7."], "prompts": ["What is 3 + 4?"]}'

Endpoints, limits and batching: see `prm.serving`. Binds 127.0.0.1 unless --host says
otherwise; stops on Ctrl-C or SIGTERM after the requests in flight.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from prm.cli import options
from prm.errors import OptionError

logger = logging.getLogger("prm.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from prm.scores import AGGREGATIONS
    from prm.serving import HEADS, ServeConfig

    defaults = ServeConfig()
    from prm.cli import wiring

    parser.add_argument("--prm", required=True, nargs="+",
                        help="a reward-model folder written by `prm train`; several: an ensemble (--ensemble)")
    wiring.add_ensemble_arguments(parser)
    parser.add_argument("--port", type=int, default=5000, help="TCP port (default 5000; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--head", default=defaults.head, choices=HEADS,
                        help="reward from the step head (aggregated) or the outcome head")
    parser.add_argument("--aggregation", default=defaults.aggregation, choices=AGGREGATIONS)
    options.add_compute(parser)
    parser.add_argument("--scorer-batch-size", dest="batch_size", type=int, default=defaults.max_batch_items,
                        help="solutions per reward-model forward pass; concurrent requests are merged up to it")
    parser.add_argument("--max-wait-ms", type=float, default=defaults.max_wait_ms,
                        help="how long to wait for more requests to batch once one arrived")
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens per solution (default: the model's); longer ones repeat the last score")
    parser.add_argument("--response-marker", default=None,
                        help="where a query's response starts when a request has no prompts "
                             "(e.g. the chat template's assistant tag)")
    parser.add_argument("--verifiable-weight", type=float, default=0.0,
                        help="add W x (1 if the grader finds the answer equal to the request's labels); "
                             "requests must then carry labels (default 0: off)")
    parser.add_argument("--grader-workers", type=int, default=2, help="grading processes (with --verifiable-weight)")
    parser.add_argument("--max-items", type=int, default=defaults.max_items_per_request, help="solutions per request")
    parser.add_argument("--max-chars", type=int, default=defaults.max_chars_per_item, help="characters per solution")
    options.deprecate(parser, "--batch-size", "--scorer-batch-size")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from prm.cli.wiring import phase
    from prm.ensemble import EnsembleScorer
    from prm.rewards import load_device
    from prm.scoring import PRMScorer
    from prm.serving import ServeConfig, create_app

    if not 0 <= args.port <= 65535:
        raise OptionError("--port", "must be in 0..65535", value=args.port)
    for folder in args.prm:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--prm {folder}: no such folder")
    for option, value in (("--scorer-batch-size", args.batch_size), ("--max-items", args.max_items), ("--max-chars", args.max_chars)):
        if value < 1:
            raise OptionError(option, "must be >= 1", value=value)
    config = ServeConfig(
        head=args.head, aggregation=args.aggregation, response_marker=args.response_marker,
        max_batch_items=args.batch_size, max_wait_ms=args.max_wait_ms, max_items_per_request=args.max_items,
        max_chars_per_item=args.max_chars, verifiable_weight=args.verifiable_weight,
    )
    settings = {"device": load_device(args.device), "batch_size": args.batch_size, "max_length": args.max_length,
                "overflow": "repeat_last"}
    with phase(f"loading {' '.join(args.prm)} on {args.device}"):
        if len(args.prm) == 1:
            scorer = PRMScorer.from_pretrained(args.prm[0], **settings)
        else:
            scorer = EnsembleScorer.from_pretrained(args.prm, args.ensemble, args.ensemble_k, **settings)
    name = args.prm[0] if len(args.prm) == 1 else f"{args.ensemble} ensemble of {', '.join(args.prm)}"
    heads = scorer.trained_heads
    # A single folder that records no heads predates the record: let the scorer decide.
    if args.head not in heads and (heads or len(args.prm) > 1):
        trained = ", ".join(heads) or "no head all members share"
        raise OptionError("--head", f"{name} did not train its {args.head} head (trained: {trained})", value=args.head)
    grader = None
    if args.verifiable_weight:
        if args.grader_workers < 1:
            raise OptionError("--grader-workers", "must be >= 1", value=args.grader_workers)
        from prm.grading import Grader

        grader = Grader(workers=args.grader_workers)
    try:
        app = create_app(scorer, config, grader=grader)
        logger.info("serving %s (%s head, %s) on http://%s:%d", name, args.head, args.aggregation, args.host, args.port)
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    finally:
        if grader is not None:
            grader.close()
    return 0
