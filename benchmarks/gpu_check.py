"""GPU check: scoring, training and sampling speed of a randomly initialised ~0.5B model.

Usage (from the repository root):
  python benchmarks/gpu_check.py [--device auto|cuda|cpu] [--size auto|0.5b|tiny]
      [--parts scoring,training,engine] [--budget-s 360] [--out runs/gpu_check.json]

Needs only torch and transformers (and what they bring); nothing is downloaded. `--size 0.5b`
builds a Qwen2-0.5B-shaped model from a config (24 layers, hidden 896, vocabulary 151936,
about 494M parameters; bf16 on CUDA); `--size tiny` is the tests' 2-layer model (the CPU smoke
run). The tokenizer is the tests' small byte-level BPE: ids stay below ~400, which costs the
model nothing in speed. Without CUDA, `--device auto` prints "skipped" and exits 0.

What it measures (each run after a warm-up, synchronised, median of the repeats that fit):
1. scoring: `PRMScorer.score_steps` on synthetic solutions vs the bare backbone forward over
   the same padded batches (`x backbone`, goal >= 0.9) and vs scoring every step prefix as its
   own row (`per_prefix`).
2. training: reward-model (objective `hard`) training steps/s through `prm.training.train`
   (RewardTrainer) where datasets and accelerate import, else a plain loop over RewardModel and
   `prm.training.losses` (labelled `manual loop`); fp32 weights, bf16 autocast on CUDA; peak
   GPU memory. The step times are the gaps between step ends, after the warm-up steps.
   `tokenize_only` times PRMScorer's CPU encoding alone.
3. engine: `TransformersEngine` sampling (temperature 1, no stop strings) of n samples per
   prompt, with and without shared prefill (the fast loop); then new tokens/s at batch 64
   (64 // n prompts) of the reference loop and the fast one (`reference_b64`, `fast_b64`,
   `fast_x_reference_b64`); also the seconds spent in its CPU sampling step.
   A probe (full batch, 8 tokens) warms up; where a full-length round of both would overrun
   the budget, the measured runs sample fewer tokens (`max_new_tokens` in the JSON).
Each part has a share of --budget-s: it starts no repeat that would overrun it, and a hard
timer stops it (keeping what it measured) if one run overruns by far. A short table is
printed last; the JSON holds every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib.util
import json
import random
import signal
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTS = ("scoring", "training", "engine")
BUDGET_SHARES = {"scoring": 0.2, "training": 0.3, "engine": 0.5}


@dataclass(frozen=True)
class Workload:
    solutions: int  # scored solutions (steps: at most `steps` each)
    steps: int
    score_batch: int
    repeats: int
    train_batch: int
    train_steps: int  # measured steps, after warmup_steps
    warmup_steps: int
    prompts: int  # engine: prompts x samples rows, new_tokens each
    samples: int
    new_tokens: int


WORKLOADS = {
    "0.5b": Workload(256, 8, 32, 3, 16, 20, 3, 16, 8, 128),
    "tiny": Workload(16, 4, 4, 2, 4, 4, 1, 4, 2, 8),  # the probe (8 tokens) is then a full warm-up
}


class _OverBudget(Exception):
    pass


@contextlib.contextmanager
def _hard_limit(seconds: float):
    """Raise _OverBudget in the main thread after `seconds` (POSIX timers; no-op elsewhere)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def _raise(signum, frame):
        raise _OverBudget()

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1.0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Context:
    """What every part shares: device, sizes, the bf16 (CUDA) reward model and causal LM."""

    def __init__(self, device, size: str, seed: int):
        import torch

        from prm.modeling import RewardModel

        self.device, self.size, self.seed = device, size, seed
        self.cuda = device.type == "cuda"
        self.workload = WORKLOADS[size]
        self.dtype = torch.bfloat16 if self.cuda else torch.float32
        from prm.testing import tiny_tokenizer

        self.tokenizer = tiny_tokenizer()
        self.lm = self.build_lm(self.dtype)
        self.reward_model = RewardModel.from_causal_lm(self.lm, self.tokenizer).to(self.device, self.dtype).eval()
        self.params_m = sum(p.numel() for p in self.lm.parameters()) / 1e6

    def build_lm(self, dtype):
        """A randomly initialised causal LM of this size, made directly on the device."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        torch.manual_seed(self.seed)
        if self.size == "tiny":
            from prm.testing import tiny_causal_lm

            return tiny_causal_lm(self.tokenizer, seed=self.seed).to(self.device, dtype)
        config = AutoConfig.for_model(  # Qwen2-0.5B's shape
            "qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
            num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
            rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
            bos_token_id=self.tokenizer.bos_token_id, eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        with self.device:
            return AutoModelForCausalLM.from_config(config, dtype=dtype)

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()


def _measure(runs: dict, repeats: int, deadline: float, record: dict) -> None:
    """Time each run `repeats` times, taking turns, into record[name]: times_s, median_s.
    The first round always runs; later runs start only when their last time still fits before
    `deadline`. record["complete"]: every repeat ran. Warm up beforehand."""
    record["complete"] = False
    for round_index in range(repeats):
        for name, run in runs.items():
            times = record.setdefault(name, {"times_s": []})["times_s"]
            if round_index and time.perf_counter() + times[-1] > deadline:
                return
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
            record[name]["median_s"] = statistics.median(times)
    record["complete"] = True


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def part_scoring(ctx: Context, record: dict, deadline: float) -> None:
    import torch

    from benchmarks.bench_scoring import _solutions, backbone_batches
    from prm.scoring import PRMScorer

    w = ctx.workload
    scorer = PRMScorer(ctx.reward_model, ctx.tokenizer, batch_size=w.score_batch)
    prompts, steps = _solutions(w.solutions, w.steps, ctx.seed)
    encoded, batches = backbone_batches(scorer, prompts, steps, w.score_batch, ctx.device)
    prefix_prompts = [p for p, s in zip(prompts, steps) for _ in s]
    prefix_steps = [s[: k + 1] for s in steps for k in range(len(s))]
    real_tokens = sum(len(e.input_ids) for e in encoded)
    record.update(solutions=len(prompts), steps=sum(len(s) for s in steps), real_tokens=real_tokens,
                  padded_tokens=sum(ids.numel() for ids, _ in batches), prefix_rows=len(prefix_steps),
                  batch_size=w.score_batch, dtype=str(ctx.dtype).removeprefix("torch."))

    def backbone_only():
        with torch.inference_mode():
            for ids, mask in batches:
                ctx.reward_model.backbone(input_ids=ids, attention_mask=mask, use_cache=False)
        ctx.sync()

    def prm_scorer():
        scorer.score_steps(prompts, steps)
        ctx.sync()

    def per_prefix():
        scorer.score_steps(prefix_prompts, prefix_steps)
        ctx.sync()

    def tokenize_only():  # the CPU share of prm_scorer
        scorer.encode(prompts, steps)

    runs = {"backbone_only": backbone_only, "prm_scorer": prm_scorer, "per_prefix": per_prefix,
            "tokenize_only": tokenize_only}
    for run in runs.values():
        run()  # warm-up
    _measure(runs, w.repeats, deadline, record)
    for name in runs:  # tokens: the real tokens of the full solutions, for every row alike
        median = record[name]["median_s"]
        record[name].update(solutions_per_s=len(prompts) / median, tokens_per_s=real_tokens / median)
    base, ours, naive, tokenize = (record[n]["median_s"] for n in runs)
    record["prm_scorer_x_backbone"], record["prm_scorer_x_per_prefix"] = base / ours, naive / ours
    record["tokenize_share_of_prm_scorer"] = tokenize / ours


def _train_records(ctx: Context, count: int):
    from benchmarks.bench_scoring import _solutions
    from prm.records import StepwiseSolution

    rng = random.Random(ctx.seed + 1)
    prompts, steps = _solutions(count, ctx.workload.steps, ctx.seed + 1)
    return [StepwiseSolution(prompt=p, steps=tuple(s), labels=tuple(float(rng.random() < 0.7) for _ in s))
            for p, s in zip(prompts, steps)]


def part_training(ctx: Context, record: dict, deadline: float, path: str) -> None:
    import torch

    w = ctx.workload
    total_steps = w.warmup_steps + w.train_steps
    records = _train_records(ctx, w.train_batch * total_steps)
    lm = ctx.build_lm(torch.float32)  # fp32 weights; bf16 autocast on CUDA (mixed precision)
    tokenizer = ctx.tokenizer
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    record.update(batch_size=w.train_batch, objective="hard", precision="bf16 autocast" if ctx.cuda else "fp32",
                  resident_gib=torch.cuda.memory_allocated() / 2**30 if ctx.cuda else None)
    step_ends: list[float] = []
    trainer_ready = all(importlib.util.find_spec(m) for m in ("datasets", "accelerate"))
    if path == "trainer" and not trainer_ready:
        raise RuntimeError("--train-path trainer needs datasets and accelerate (see gpu_check.sh)")
    if path == "trainer" or (path == "auto" and trainer_ready):
        record["path"] = "RewardTrainer (prm.training.train)"
        _train_with_trainer(ctx, lm, records, total_steps, deadline, step_ends)
    else:
        record["path"] = "manual loop (RewardModel + prm.training.losses)"
        if path == "auto":
            print("training: datasets or accelerate not importable: timing a manual loop instead of "
                  "RewardTrainer", file=sys.stderr)
        _train_manual(ctx, lm, tokenizer, records, total_steps, deadline, step_ends)
    gaps = [b - a for a, b in zip(step_ends, step_ends[1:])][max(w.warmup_steps - 1, 0):]
    median = _median(gaps)
    step_format = ctx.reward_model.step_format
    lengths = [len(step_format.encode(tokenizer, r.prompt, r.steps).input_ids) for r in records]
    tokens_per_sample = statistics.mean(lengths)
    record.update(steps_done=len(step_ends), step_times_s=gaps, median_step_s=median,
                  complete=len(step_ends) == total_steps, tokens_per_sample=tokens_per_sample,
                  samples_per_s=w.train_batch / median if median else None,
                  tokens_per_s=w.train_batch * tokens_per_sample / median if median else None,
                  peak_gpu_gib=torch.cuda.max_memory_allocated() / 2**30 if ctx.cuda else None)
    del lm
    gc.collect()
    if ctx.cuda:
        torch.cuda.empty_cache()


def _train_with_trainer(ctx, lm, records, total_steps, deadline, step_ends) -> None:
    from transformers import TrainerCallback

    from prm.training import TrainConfig, train

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ctx.sync()
            step_ends.append(time.perf_counter())
            if time.perf_counter() > deadline:
                control.should_training_stop = True
            return control

    with tempfile.TemporaryDirectory(prefix="gpu_check_train_") as out:
        config = TrainConfig(
            output_dir=out, max_steps=total_steps, batch_size=ctx.workload.train_batch, learning_rate=1e-5,
            device="auto" if ctx.cuda else "cpu", bf16=ctx.cuda, group_by_length=False,
            logging_steps=10**6, save_steps=10**6, seed=ctx.seed,
        )
        train(config, records, model=lm, tokenizer=ctx.tokenizer, callbacks=[StepClock()])


def _train_manual(ctx, lm, tokenizer, records, total_steps, deadline, step_ends) -> None:
    import torch

    from prm.modeling import RewardModel
    from prm.training.collate import RewardCollator, encode_solution
    from prm.training.losses import ObjectiveConfig, loss_terms, reduce_terms

    model = RewardModel.from_causal_lm(lm, tokenizer).to(ctx.device).train()
    rows = [encode_solution(r, tokenizer, model.step_format, 1024) for r in records]
    collate = RewardCollator.for_tokenizer(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=ctx.cuda)
    objective = ObjectiveConfig("hard")
    size = ctx.workload.train_batch
    for step in range(total_steps):
        batch = {k: v.to(ctx.device) for k, v in collate(rows[step * size : (step + 1) * size]).items()}
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.cuda):
            outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        loss = reduce_terms(loss_terms(objective, outputs, batch))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ctx.sync()
        step_ends.append(time.perf_counter())
        if time.perf_counter() > deadline:
            break


BATCH64 = 64  # the engine-throughput batch of issue 12 (docs/results/engine_throughput.json)


def part_engine(ctx: Context, record: dict, deadline: float) -> None:
    from benchmarks.bench_scoring import _solutions
    from prm.engines.base import SamplingConfig
    from prm.engines.hf import TransformersEngine, TransformersEngineConfig

    w = ctx.workload
    questions, steps = _solutions(max(w.prompts, BATCH64 // w.samples), w.steps, ctx.seed + 2)
    all_prompts = [q + "\n\n" + "\n\n".join(s) + "\n\n" for q, s in zip(questions, steps)]  # a long shared prefix
    prompts = all_prompts[: w.prompts]
    rows = w.prompts * w.samples
    record.update(prompts=w.prompts, samples=w.samples, batch_rows=rows, planned_new_tokens=w.new_tokens,
                  prompt_tokens=sum(len(ctx.tokenizer.encode(p)) for p in prompts))
    engines, spent, sampling_s, tokens, probe_s, inputs = {}, {}, {}, {}, {}, {}
    # shared/own prefill at the workload's batch (the fast loop); then both loops at batch 64
    # (BATCH64 // samples prompts): new tokens/s of the kept reference loop and of the fast one.
    setups = (("shared_prefill", rows, True, "fast", prompts), ("own_prefill", rows, False, "fast", prompts),
              ("reference_b64", BATCH64, True, "reference", all_prompts[: BATCH64 // w.samples]),
              ("fast_b64", BATCH64, True, "fast", all_prompts[: BATCH64 // w.samples]))
    for name, batch, share, impl, batch_prompts in setups:
        config = TransformersEngineConfig(batch_size=batch, share_prefill=share, impl=impl)
        engine = TransformersEngine(ctx.lm.eval(), ctx.tokenizer, config)
        engines[name], spent[name], sampling_s[name], inputs[name] = engine, 0.0, [], batch_prompts
        inner = engine._sample  # a measurement hook: seconds in the engine's CPU sampling step

        def timed_sample(*args, _inner=inner, _name=name, **kwargs):
            start = time.perf_counter()
            result = _inner(*args, **kwargs)
            spent[_name] += time.perf_counter() - start
            return result

        engine._sample = timed_sample
    # Warm-up and probe: the full batch, a few tokens. Where a full-length round of all would
    # overrun the budget, the measured runs sample fewer tokens (recorded as max_new_tokens).
    probe_tokens = min(8, w.new_tokens)
    probe = SamplingConfig(n=w.samples, temperature=1.0, max_new_tokens=probe_tokens, seed=ctx.seed)
    for name, engine in engines.items():
        start = time.perf_counter()
        engine.generate(inputs[name], probe)
        ctx.sync()
        probe_s[name] = time.perf_counter() - start
    one_round = sum(probe_s.values()) * w.new_tokens / probe_tokens
    room = deadline - time.perf_counter()
    new_tokens = w.new_tokens if one_round <= room else max(probe_tokens, int(w.new_tokens * room / one_round))
    record.update(probe_s=probe_s, max_new_tokens=new_tokens)
    sampling = SamplingConfig(n=w.samples, temperature=1.0, max_new_tokens=new_tokens, seed=ctx.seed)

    def runner(name):
        def run():
            spent[name] = 0.0
            results = engines[name].generate(inputs[name], sampling)
            ctx.sync()
            tokens[name] = sum(c.num_tokens for row in results for c in row)
            sampling_s[name].append(spent[name])
        return run

    runs = {name: runner(name) for name in engines}
    _measure(runs, max(1, w.repeats - 1), deadline, record)  # the probe stands in for one round
    for name in runs:
        if "median_s" in record.get(name, {}):
            record[name].update(new_tokens=tokens[name], tokens_per_s=tokens[name] / record[name]["median_s"],
                                cpu_sampling_s=sampling_s[name])
    record["shared_x_own"] = record["own_prefill"]["median_s"] / record["shared_prefill"]["median_s"]
    if "tokens_per_s" in record.get("fast_b64", {}) and "tokens_per_s" in record.get("reference_b64", {}):
        record["fast_x_reference_b64"] = record["fast_b64"]["tokens_per_s"] / record["reference_b64"]["tokens_per_s"]


def _table(result: dict) -> list[tuple[str, str, str, str]]:
    """(name, figure, unit, ratio) rows; the ratio names what it compares."""
    def fmt(value, digits=1):
        return "-" if value is None else f"{value:,.{digits}f}"

    rows = []
    parts = result["parts"]
    score = parts.get("scoring", {})
    if "prm_scorer_x_backbone" in score:
        rows.append(("scoring prm_scorer", fmt(score["prm_scorer"]["solutions_per_s"]), "solutions/s",
                     f"{fmt(score['prm_scorer_x_backbone'], 3)} x backbone (goal >= 0.9)"))
        rows.append(("scoring prm_scorer", fmt(score["prm_scorer"]["tokens_per_s"], 0), "tokens/s", ""))
        rows.append(("scoring backbone_only", fmt(score["backbone_only"]["solutions_per_s"]), "solutions/s", "1.000"))
        rows.append(("scoring per_prefix", fmt(score["per_prefix"]["solutions_per_s"]), "solutions/s",
                     f"prm_scorer {fmt(score['prm_scorer_x_per_prefix'], 2)} x faster"))
        rows.append(("scoring tokenize_only", fmt(score["tokenize_only"]["solutions_per_s"]), "solutions/s",
                     f"{score['tokenize_share_of_prm_scorer']:.0%} of prm_scorer time"))
    train = parts.get("training", {})
    if train.get("samples_per_s") is not None:
        label = "training (trainer)" if train["path"].startswith("RewardTrainer") else "training (manual loop)"
        rows.append((label, fmt(train["samples_per_s"]), "samples/s", f"{train['steps_done']} steps"))
        rows.append((label, fmt(train["tokens_per_s"], 0), "tokens/s", ""))
        if train["peak_gpu_gib"] is not None:
            rows.append(("training peak memory", fmt(train["peak_gpu_gib"], 2), "GiB",
                         f"{fmt(train['resident_gib'], 2)} GiB held before"))
    engine = parts.get("engine", {})
    for name in ("shared_prefill", "own_prefill", "reference_b64", "fast_b64"):
        if "tokens_per_s" in engine.get(name, {}):
            spent = _median(engine[name]["cpu_sampling_s"])
            share = f"cpu sampling {spent / engine[name]['median_s']:.0%}" if spent is not None else ""
            rows.append((f"engine {name}", fmt(engine[name]["tokens_per_s"], 0), "tokens/s", share))
    if engine.get("shared_x_own") is not None:
        rows.append(("engine shared/own", fmt(engine["shared_x_own"], 3), "x", "time own / time shared"))
    if engine.get("fast_x_reference_b64") is not None:
        rows.append(("engine fast/reference b64", fmt(engine["fast_x_reference_b64"], 3), "x",
                     "tokens/s, batch 64, same run"))
    for name, part in parts.items():
        if part.get("status", "ok") != "ok":
            rows.append((name, "-", "", part["status"]))
    return rows


def run_gpu_tests(device: str) -> int:
    """The checks of benchmarks/gpu_checks.py without pytest (a bare GPU machine); 1 if any fails."""
    from benchmarks.gpu_checks import CHECKS

    failures = 0
    for name, check, arguments in CHECKS:
        start = time.perf_counter()
        try:
            check(device=device, **arguments)
            print(f"PASS {name} ({time.perf_counter() - start:.1f} s)", flush=True)
        except Exception:
            traceback.print_exc()
            print(f"FAIL {name}", flush=True)
            failures += 1
    print(f"gpu tests on {device} without pytest: {len(CHECKS) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--size", default="auto", choices=["auto", *WORKLOADS])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    parser.add_argument("--train-path", default="auto", choices=["auto", "trainer", "manual"])
    parser.add_argument("--budget-s", type=float, default=360.0, help="seconds for all parts together")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/gpu_check.json")
    parser.add_argument("--gpu-tests", action="store_true",
                        help="run benchmarks/gpu_checks.py's checks instead of the benchmarks")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts {args.parts!r}: unknown {unknown}; choose from {', '.join(PARTS)}")
    started = time.perf_counter()

    import torch
    import transformers

    if args.device == "auto" and not torch.cuda.is_available():
        print("gpu_check: skipped: no CUDA device (torch.cuda.is_available() is False); "
              "run with --device cpu --size tiny for the CPU smoke run")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but torch.cuda.is_available() is False; use --device auto or cpu",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.device == "cpu" else "cuda")
    if args.gpu_tests:
        return run_gpu_tests(device.type)
    size = args.size if args.size != "auto" else ("0.5b" if device.type == "cuda" else "tiny")
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    ctx = Context(device, size, args.seed)
    print(f"gpu_check: {size} model ({ctx.params_m:.2f}M params, {str(ctx.dtype).removeprefix('torch.')}) on {card}; "
          f"torch {torch.__version__}, transformers {transformers.__version__}; "
          f"set-up {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    result = {
        "card": card, "device": device.type, "size": size, "params_m": ctx.params_m,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "transformers": transformers.__version__, "budget_s": args.budget_s,
        "workload": ctx.workload.__dict__, "parts": {},
    }
    failed = False
    budget_left = args.budget_s
    share_left = sum(BUDGET_SHARES[p] for p in parts)
    for name in parts:
        budget = max(budget_left, 0.0) * BUDGET_SHARES[name] / share_left
        hard_limit = max(budget, 20.0) * 1.25 + 10  # the soft deadline failed to stop a run by far
        share_left -= BUDGET_SHARES[name]
        record: dict = {"budget_s": round(budget, 1), "status": "ok"}
        result["parts"][name] = record
        start = time.perf_counter()
        try:
            with _hard_limit(hard_limit):
                if name == "training":
                    part_training(ctx, record, start + budget, args.train_path)
                else:
                    {"scoring": part_scoring, "engine": part_engine}[name](ctx, record, start + budget)
        except _OverBudget:
            record["status"] = f"stopped: ran past its {hard_limit:.0f} s hard limit"
        except Exception as error:  # one broken part must not hide the others' figures
            traceback.print_exc()
            record["status"] = f"failed: {type(error).__name__}: {error}"[:200]
            failed = True
        record["elapsed_s"] = round(time.perf_counter() - start, 2)
        budget_left -= record["elapsed_s"]
        print(f"gpu_check: {name} {record['status']} in {record['elapsed_s']:.1f} s", file=sys.stderr, flush=True)
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    result["table"] = [dict(zip(("name", "figure", "unit", "ratio"), row)) for row in _table(result)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}; {result['elapsed_s']:.1f} s in all")
    print(f"{size} model, {ctx.params_m:.2f}M params on {card}, {result['date']}")
    print(f"{'name':<26}{'figure':>12}  {'unit':<12}ratio")
    for row in result["table"]:
        print(f"{row['name']:<26}{row['figure']:>12}  {row['unit']:<12}{row['ratio']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
