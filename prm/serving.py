"""A reward server: a reward model behind HTTP, in OpenRLHF's remote reward-model protocol.

Public: `ServeConfig`, `RequestError`, `Batcher`, `parse_body`, `parse_reward_request`,
`parse_labels`, `parse_steps_request`, `create_app(scorer, config, step_format, grader)`.

Endpoints of the app `create_app` builds (FastAPI; imported only when an app is built):

- `POST /get_reward` (OpenRLHF's `--remote_rm_url`): `{"query": [str, ...], "prompts": [str,
  ...]?}` -> `{"rewards": [float, ...], "scores": [...]}`, one reward per query, in order.
  A query is the prompt and the response in one string. The response is what follows the
  prompt where `prompts` is given (OpenRLHF sends it) and the query starts with it; otherwise
  what follows the last `response_marker` (e.g. the chat template's assistant tag). It is
  split into steps with the model's StepFormat; the reward is the step probabilities'
  aggregate (`aggregation`), or the outcome head's probability (`head="outcome"`). With
  `verifiable_weight` w > 0 the request also carries `"labels"` (gold answers, OpenRLHF's
  field; null where unknown) and the reward is model + w * (1 if the safe grader finds the
  response's final answer correct, else 0); the parts come back as `model_rewards` and
  `verifiable_rewards`.
- `POST /score_steps`: `{"prompts": [str, ...], "completions": [str, ...]}` or
  `{"prompts": [...], "steps": [[str, ...], ...]}` -> `{"step_scores": [[float, ...], ...],
  "rewards": [float, ...]}` (step head only).
- `GET /health` -> `{"status": "ok", "head", "aggregation", "step_format", "scorer_calls"}`
  (scorer_calls: batched model calls so far).

Bad input is a 4xx with `{"detail": "..."}` naming the field and the limit: 400 for a
malformed body or field, 413 for a body over `max_body_bytes` or a batch over
`max_items_per_request`, 422 for text over `max_chars_per_item`.

Concurrent requests are batched: one scoring thread (`Batcher`) takes every queued request,
up to `max_batch_items` solutions, waiting at most `max_wait_ms` for more after the first,
and scores them in one `score_steps`/`score_outcomes` call; the event loop never runs the
model. A batch that raises is retried request by request, so one bad request fails alone.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations at run time,
# and `Request` is imported inside create_app (fastapi is an optional extra).
import json
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Sequence

from prm.rewards import VerifiableReward
from prm.scores import AGGREGATIONS, aggregate
from prm.steps import StepFormat

HEADS = ("step", "outcome")


@dataclass(frozen=True)
class ServeConfig:
    """How the server scores and what it accepts.

    head: "step" (aggregate the step probabilities) or "outcome" (the outcome head).
    aggregation: min, prod, last or mean (step head). response_marker: where a query's response
        starts when no prompt is given (its last occurrence); None: such a query is a 400.
    max_batch_items: solutions per model call; max_wait_ms: how long the scoring thread waits
        for more requests once one arrived. max_items_per_request, max_chars_per_item,
        max_body_bytes: request limits. empty_reward: for a response with no non-blank step.
    verifiable_weight: weight of the grader's verdict against the request's labels (0: off).
    """

    head: str = "step"
    aggregation: str = "min"
    response_marker: str | None = None
    max_batch_items: int = 64
    max_wait_ms: float = 5.0
    max_items_per_request: int = 512
    max_chars_per_item: int = 32_768
    max_body_bytes: int = 8 * 1024 * 1024
    empty_reward: float = 0.0
    verifiable_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"ServeConfig.head is {self.head!r}; allowed: {', '.join(HEADS)}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"ServeConfig.aggregation is {self.aggregation!r}; allowed: {', '.join(AGGREGATIONS)}")
        if self.response_marker is not None and (not isinstance(self.response_marker, str) or not self.response_marker):
            raise ValueError(f"ServeConfig.response_marker must be None or a non-empty str, got {self.response_marker!r}")
        for name in ("max_batch_items", "max_items_per_request", "max_chars_per_item", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ServeConfig.{name} must be an int >= 1, got {value!r}")
        if isinstance(self.max_wait_ms, bool) or not isinstance(self.max_wait_ms, (int, float)) or self.max_wait_ms < 0:
            raise ValueError(f"ServeConfig.max_wait_ms must be a number >= 0, got {self.max_wait_ms!r}")
        if isinstance(self.verifiable_weight, bool) or not isinstance(self.verifiable_weight, (int, float)) \
                or not self.verifiable_weight >= 0:
            raise ValueError(f"ServeConfig.verifiable_weight must be a number >= 0, got {self.verifiable_weight!r}")


class RequestError(ValueError):
    """A bad request: status (400, 413 or 422) and a message naming the field and the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _string_list(body: dict, name: str, config: ServeConfig, required: bool = True) -> list[str] | None:
    if name not in body or body[name] is None:
        if required:
            raise RequestError(400, f"field {name!r} is required: a list of strings")
        return None
    values = body[name]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RequestError(400, f"field {name!r} must be a list of strings")
    if len(values) > config.max_items_per_request:
        raise RequestError(413, f"field {name!r} has {len(values)} items; at most {config.max_items_per_request} "
                                "per request (split the batch)")
    for index, value in enumerate(values):
        if len(value) > config.max_chars_per_item:
            raise RequestError(422, f"{name}[{index}] has {len(value)} characters; at most {config.max_chars_per_item}")
    return values


def parse_body(raw: bytes, config: ServeConfig) -> dict:
    """The JSON object of a request body; RequestError (413 or 400) otherwise."""
    if len(raw) > config.max_body_bytes:
        raise RequestError(413, f"request body over {config.max_body_bytes} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError(400, f"request body must be a JSON object, got {type(body).__name__}")
    return body


def parse_reward_request(body: dict, config: ServeConfig) -> tuple[list[str], list[str]]:
    """(prompts, responses) of a /get_reward body (see the module docstring)."""
    queries = _string_list(body, "query", config)
    prompts = _string_list(body, "prompts", config, required=False)
    if prompts is not None and len(prompts) != len(queries):
        raise RequestError(400, f"{len(prompts)} prompts for {len(queries)} queries; give one prompt per query or none")
    pairs_prompts, responses = [], []
    for index, query in enumerate(queries):
        if prompts is not None and query.startswith(prompts[index]):
            pairs_prompts.append(prompts[index])
            responses.append(query[len(prompts[index]):])
        elif config.response_marker is not None and config.response_marker in query:
            cut = query.rindex(config.response_marker)
            pairs_prompts.append(query[:cut])
            responses.append(query[cut + len(config.response_marker):])
        else:
            how = "it does not start with prompts[%d]" % index if prompts is not None else "no prompts were given"
            marker = f"nor holds the response marker {config.response_marker!r}" if config.response_marker else \
                "and the server has no response marker (prm serve --response-marker)"
            raise RequestError(400, f"query[{index}]: cannot tell the prompt from the response: {how}, {marker}")
    return pairs_prompts, responses


def parse_labels(body: dict, count: int, config: ServeConfig) -> list[str | None]:
    """The gold answers of a /get_reward body (one per query; null where unknown)."""
    labels = body.get("labels")
    if not isinstance(labels, list) or not all(v is None or isinstance(v, str) for v in labels):
        raise RequestError(400, "field 'labels' is required (this server adds a verifiable reward): "
                                "a list of gold answers, strings or null, one per query")
    if len(labels) != count:
        raise RequestError(400, f"{len(labels)} labels for {count} queries; give one per query")
    if any(v is not None and len(v) > config.max_chars_per_item for v in labels):
        raise RequestError(422, f"a label has over {config.max_chars_per_item} characters")
    return labels


def parse_steps_request(body: dict, config: ServeConfig, step_format: StepFormat) -> tuple[list[str], list[list[str]]]:
    """(prompts, step lists) of a /score_steps body: completions split with step_format, or steps."""
    prompts = _string_list(body, "prompts", config)
    if ("completions" in body) == ("steps" in body):
        raise RequestError(400, "give exactly one of 'completions' (strings) and 'steps' (lists of strings)")
    if "completions" in body:
        completions = _string_list(body, "completions", config)
        steps = [step_format.split(c, drop_empty=True) for c in completions]
    else:
        steps = body["steps"]
        if not isinstance(steps, list) or not all(isinstance(s, list) and all(isinstance(x, str) for x in s) for s in steps):
            raise RequestError(400, "field 'steps' must be a list of lists of strings")
        if len(steps) > config.max_items_per_request:
            raise RequestError(413, f"field 'steps' has {len(steps)} items; at most {config.max_items_per_request}")
        for index, solution in enumerate(steps):
            if sum(len(s) for s in solution) > config.max_chars_per_item:
                raise RequestError(422, f"steps[{index}] has over {config.max_chars_per_item} characters")
    if len(steps) != len(prompts):
        raise RequestError(400, f"{len(prompts)} prompts for {len(steps)} solutions; give one prompt per solution")
    return prompts, steps


class _Pending:
    def __init__(self, kind: str, prompts: list[str], steps: list[list[str]]) -> None:
        self.kind, self.prompts, self.steps = kind, prompts, steps
        self.future: Future = Future()


class Batcher:
    """One scoring thread that merges queued requests into batched scorer calls.

    scorer: has `score_steps(prompts, steps)` (and `score_outcomes` for kind "outcome").
    `submit(kind, prompts, steps)` returns a `concurrent.futures.Future` of per-solution
    results: step-probability lists (kind "steps") or floats (kind "outcome"). Requests of one
    kind go together; `calls` counts scorer calls (for tests and the load figure).
    """

    def __init__(self, scorer: Any, max_batch_items: int = 64, max_wait_ms: float = 5.0) -> None:
        self.scorer, self.max_batch_items, self.max_wait = scorer, max_batch_items, max_wait_ms / 1000.0
        self.calls = 0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._held: _Pending | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="prm-serve-batcher", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after the queued requests; later submits raise RuntimeError."""
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, kind: str, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> Future:
        if self._closed:
            raise RuntimeError("the batcher is closed")
        self.start()
        pending = _Pending(kind, list(prompts), [list(s) for s in steps])
        if not pending.prompts:
            pending.future.set_result([])
        else:
            self._queue.put(pending)
        return pending.future

    def _next(self, timeout: float | None) -> _Pending | None:
        if self._held is not None:
            held, self._held = self._held, None
            return held
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _serve(self) -> None:
        while True:
            first = self._next(None)
            if first is None:
                return
            batch, size = [first], len(first.prompts)
            deadline = time.monotonic() + self.max_wait
            stop = False
            while size < self.max_batch_items:
                item = self._next(deadline - time.monotonic())
                if item is None:
                    stop = self._closed and self._queue.empty()
                    break
                if item.kind != first.kind or size + len(item.prompts) > self.max_batch_items:
                    self._held = item  # next batch starts with it
                    break
                batch.append(item)
                size += len(item.prompts)
            self._run(batch)
            if stop:
                return

    def _score(self, kind: str, prompts: list[str], steps: list[list[str]]) -> list[Any]:
        self.calls += 1
        if kind == "outcome":
            return [float(v) for v in self.scorer.score_outcomes(prompts, steps)]
        return [list(map(float, v)) for v in self.scorer.score_steps(prompts, steps)]

    def _run(self, batch: list[_Pending]) -> None:
        try:
            results = self._score(batch[0].kind, [p for b in batch for p in b.prompts], [s for b in batch for s in b.steps])
        except Exception as error:  # noqa: BLE001 - reported to the callers, each for its own request
            if len(batch) == 1:
                batch[0].future.set_exception(error)
            else:
                for item in batch:
                    self._run([item])
            return
        start = 0
        for item in batch:
            item.future.set_result(results[start : start + len(item.prompts)])
            start += len(item.prompts)


def _rewards_of(step_scores: list[list[float]], config: ServeConfig) -> list[float]:
    return [aggregate(s, config.aggregation) if s else config.empty_reward for s in step_scores]


def create_app(scorer: Any, config: ServeConfig | None = None, step_format: StepFormat | None = None,
               grader: Any = None) -> Any:
    """The FastAPI app serving `scorer` (a `prm.scoring.PRMScorer` or any Step/OutcomeScorer).

    step_format: how responses split into steps (default: the scorer's own). grader: a
    `prm.grading.Grader` (anything with `grade_solution`), needed where verifiable_weight > 0;
    the caller owns and closes it. The batching thread starts with the app and stops at its
    shutdown.
    """
    import asyncio
    import contextlib

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    config = config or ServeConfig()
    step_format = step_format if step_format is not None else getattr(scorer, "step_format", None)
    if not isinstance(step_format, StepFormat):
        raise ValueError("create_app needs the reward model's StepFormat: the scorer has none, pass step_format=")
    if config.verifiable_weight and grader is None:
        raise ValueError("ServeConfig.verifiable_weight > 0 needs a grader: create_app(..., grader=Grader())")
    verifiable = VerifiableReward("labels", grader=grader) if config.verifiable_weight else None
    batcher = Batcher(scorer, config.max_batch_items, config.max_wait_ms)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)

    app = FastAPI(title="prm reward server", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.config = config

    async def read_body(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_body_bytes:
            raise RequestError(413, f"request body over {config.max_body_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body_bytes:
                raise RequestError(413, f"request body over {config.max_body_bytes} bytes")
            chunks.append(chunk)
        return parse_body(b"".join(chunks), config)

    async def score(kind: str, prompts: list[str], steps: list[list[str]]) -> list[Any]:
        kept = [i for i, s in enumerate(steps) if s]
        results: list[Any] = [[] if kind == "steps" else config.empty_reward for _ in steps]
        if kept:
            future = batcher.submit(kind, [prompts[i] for i in kept], [steps[i] for i in kept])
            for index, value in zip(kept, await asyncio.wrap_future(future)):
                results[index] = value
        return results

    @app.exception_handler(RequestError)
    async def bad_request(request: Request, error: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, error: ValueError) -> JSONResponse:
        # the scorer refused the input (e.g. a head this model never trained)
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "head": config.head, "aggregation": config.aggregation,
                "step_format": step_format.to_dict(), "scorer_calls": batcher.calls}

    @app.post("/get_reward")
    async def get_reward(request: Request) -> dict:
        body = await read_body(request)
        prompts, responses = parse_reward_request(body, config)
        labels = parse_labels(body, len(prompts), config) if verifiable is not None else None
        steps = [step_format.split(r, drop_empty=True) for r in responses]
        if config.head == "outcome":
            rewards = await score("outcome", prompts, steps)
        else:
            rewards = _rewards_of(await score("steps", prompts, steps), config)
        if verifiable is None:
            return {"rewards": rewards, "scores": rewards}
        # the grader blocks (a worker process per call): off the event loop
        correct = await asyncio.to_thread(verifiable, prompts=prompts, completions=responses, labels=labels)
        total = [r + config.verifiable_weight * c for r, c in zip(rewards, correct)]
        return {"rewards": total, "scores": total, "model_rewards": rewards, "verifiable_rewards": correct}

    @app.post("/score_steps")
    async def score_steps(request: Request) -> dict:
        if config.head != "step":
            raise RequestError(400, "this server reads the outcome head (prm serve --head outcome): no step scores")
        prompts, steps = parse_steps_request(await read_body(request), config, step_format)
        step_scores = await score("steps", prompts, steps)
        return {"step_scores": step_scores, "rewards": _rewards_of(step_scores, config)}

    return app
