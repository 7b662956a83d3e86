"""Training speed, peak memory and MFU: our `prm.training.train` against TRL's `PRMTrainer`.

Two scenarios, each trainer on the same rows, backbone, batch, max length, steps, learning
rate, seed and thread count, back to back on one CPU:
  (a) fixed: PRM800K step-wise at max length 512 (--fixed-length), where most rows are cut;
  (b) variable: the same data at max length 2048 (--variable-length), where nothing is cut and
      rows range from ~150 to ~1,800 tokens (median ~470 with SmolLM2's tokenizer).
Sides: `trl` (PRMTrainer), `ours` (`--packing auto`, i.e. padding-free packed batches) and
`ours_padded` (`--packing off`), so the table also shows what packing itself gives.

Per run (each in its own child process, this script with `--worker`, so ru_maxrss is that
trainer's own peak): samples/s over every optimizer step (the headline; our length-grouped
sampler runs the longest batches first, so timing only the steps after a warm-up would favour
us), samples/s after `--warmup` steps, peak RSS, and MFU: the useful FLOPs of the steps after
the warm-up (forward + backward of the real tokens each trainer feeds its model, padding not
counted; `benchmarks/_train_flops.py`) over their time, divided by the matmul peak of the
model's linear shapes measured in the same run (a `matmul` child at the start and at the end;
the higher counts). With `--repeats R` the sides alternate and the table shows medians.

Same rows for both trainers: PRM800K phase-1 test (step-wise critic), drawn with --seed and
written once as TRL step-wise rows. Each side keeps its own way of building the input: TRL
appends "\\n" to every step and truncates tokens at max_length; ours appends its step tag and
drops whole trailing steps, groups batches by length, and (packed) drops tokens after the last
supervised tag. `--our-step-tag "\\n"` tags with an existing token instead of adding one.

Writes docs/results/train_vs_trl.json (--out): `ratio_variable_length` (ours / TRL samples/s
on (b); goal >= 1.5 at no more peak memory) and `mfu_512` (ours on (a); goal >= 0.7).
`--quick` is a smoke test on a tiny in-process model (seconds; results go to the work folder).

TRL's PRMTrainer lives in trl.experimental.prm and was removed in TRL 1.14; .venv-trl pins
trl==1.13.0 (`bash benchmarks/trl_env.sh`; the project's .venv has it too):

    .venv-trl/bin/python benchmarks/bench_train_vs_trl.py --threads 2
    python benchmarks/bench_train_vs_trl.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "prm800k" / "phase1_test.stepwise-critic.jsonl"
DEFAULT_OUT = ROOT / "docs" / "results" / "train_vs_trl.json"
SIDES = ("trl", "ours", "ours_padded")
SCENARIOS = ("fixed", "variable")
PHASES = ("forward_backward_s", "optimizer_s", "other_s")
SUMMARY_KEYS = ("samples_per_s", "samples_per_s_after_warmup", "seconds_per_step", "peak_rss_mb",
                "rss_before_train_mb", "mean_tokens_per_sample", "useful_gflops_per_s", "mfu")


# ------------------------------------------------------------------------------ parent
def _prepare_rows(data: Path, count: int, seed: int, out: Path) -> dict:
    """Write `count` TRL step-wise rows drawn (seeded) from the PRM800K critic file."""
    from prm.data import load_stepwise

    records = load_stepwise(data, format="prm800k_critic", neutral="positive", unrated="positive", alternatives=True)
    records = [r for r in records if r.steps and r.labels is not None]
    if len(records) < count:
        raise SystemExit(f"{data} gives {len(records)} labelled solutions, fewer than the {count} needed")
    chosen = random.Random(seed).sample(records, count)
    with out.open("w") as handle:
        for record in chosen:
            row = {"prompt": record.prompt, "completions": list(record.steps), "labels": [bool(v >= 0.5) for v in record.labels]}
            handle.write(json.dumps(row) + "\n")
    steps = [len(r.steps) for r in chosen]
    return {"source": str(data), "available_solutions": len(records), "rows": count, "mean_steps": statistics.mean(steps)}


def _model_folder(name: str, work: Path, quick: bool) -> str:
    if quick:
        from prm.testing import save_tiny_backbone

        return str(save_tiny_backbone(work / "tiny-backbone"))
    from prm.modeling.loading import resolve_model

    return resolve_model(name)


def _run_worker(side: str, spec_path: Path, result_path: Path, threads: int, timeout: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               TRL_EXPERIMENTAL_SILENCE="1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--spec", str(spec_path), "--result", str(result_path)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not result_path.is_file():
        tail = (done.stderr or done.stdout)[-3000:]
        return {"side": side, "ok": False, "error": tail, "process_wall_s": wall}
    result = json.loads(result_path.read_text())
    result["process_wall_s"] = wall
    return result


def _summary(results: list[dict], peak_gflops: float | None) -> dict:
    summary: dict = {}
    for side in SIDES:
        runs = [r for r in results if r["side"] == side]
        if not runs:
            continue
        good = [r for r in runs if r.get("ok")]
        for run in good:
            run["mfu"] = run["useful_gflops_per_s"] / peak_gflops if peak_gflops else None
        entry = {"runs": len(good), "error": next((r["error"] for r in runs if not r.get("ok")), None)}
        for key in SUMMARY_KEYS:
            values = [r[key] for r in good if r.get(key) is not None]
            if values:
                entry[key] = statistics.median(values)
        for key in PHASES:
            values = [r["phases"][key] for r in good if key in r.get("phases", {})]
            if values:
                entry[key] = statistics.median(values)
        summary[side] = entry
    ratios = {}
    for side in ("ours", "ours_padded"):
        if summary.get("trl", {}).get("runs") and summary.get(side, {}).get("runs"):
            ratios[f"{side}_vs_trl"] = {
                "samples_per_s": summary[side]["samples_per_s"] / summary["trl"]["samples_per_s"],
                "peak_rss": summary[side]["peak_rss_mb"] / summary["trl"]["peak_rss_mb"],
            }
    if summary.get("ours", {}).get("runs") and summary.get("ours_padded", {}).get("runs"):
        ratios["packed_vs_padded"] = {"samples_per_s": summary["ours"]["samples_per_s"] / summary["ours_padded"]["samples_per_s"]}
    summary["ratios"] = ratios
    return summary


def _table(name: str, spec: dict, summary: dict) -> str:
    lines = [
        f"{name}: max length {spec['max_length']}, {spec['warmup']} + {spec['steps']} steps, batch {spec['batch_size']}, "
        f"{spec['threads']} threads, float32, gradient checkpointing {'on' if spec['gradient_checkpointing'] else 'off'}",
        f"{'trainer':<12} {'runs':>4} {'samples/s':>10} {'after wu':>9} {'s/step':>8} {'peak RSS MB':>12} "
        f"{'tokens/sample':>14} {'GFLOP/s':>8} {'MFU':>6}",
    ]
    for side in SIDES:
        s = summary.get(side)
        if s is None:
            continue
        if not s["runs"]:
            lines.append(f"{side:<12} {0:>4}  failed: {s['error'].strip().splitlines()[-1] if s['error'] else '?'}")
            continue
        mfu = f"{s['mfu']:>6.2f}" if s.get("mfu") is not None else f"{'-':>6}"
        lines.append(
            f"{side:<12} {s['runs']:>4} {s['samples_per_s']:>10.3f} {s['samples_per_s_after_warmup']:>9.3f} "
            f"{s['seconds_per_step']:>8.2f} {s['peak_rss_mb']:>12.0f} {s['mean_tokens_per_sample']:>14.1f} "
            f"{s['useful_gflops_per_s']:>8.1f} {mfu}"
        )
    for key, ratio in summary["ratios"].items():
        lines.append(f"{key}: " + ", ".join(f"{k} x{v:.2f}" for k, v in ratio.items()))
    return "\n".join(lines)


def _headline(summaries: dict, peak: dict) -> dict:
    def ratio(scenario: str, key: str):
        return summaries.get(scenario, {}).get("ratios", {}).get("ours_vs_trl", {}).get(key)

    ours = lambda scenario, key: summaries.get(scenario, {}).get("ours", {}).get(key)  # noqa: E731
    return {
        "ratio_variable_length": ratio("variable", "samples_per_s"),
        "memory_ratio_variable_length": ratio("variable", "peak_rss"),
        "mfu_512": ours("fixed", "mfu"),
        "ratio_fixed_length": ratio("fixed", "samples_per_s"),
        "memory_ratio_fixed_length": ratio("fixed", "peak_rss"),
        "mfu_variable_length": ours("variable", "mfu"),
        "matmul_peak_gflops": peak.get("peak_gflops"),
        "goals": {"ratio_variable_length": ">= 1.5 at memory_ratio_variable_length <= 1.0", "mfu_512": ">= 0.7"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PRM800K step-wise critic jsonl")
    parser.add_argument("--model", default="embedded", help="model folder, or 'embedded' (SmolLM2-135M)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps timed after the warm-up")
    parser.add_argument("--warmup", type=int, default=1, help="steps before the MFU clock starts")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--fixed-length", type=int, default=512, help="max length of scenario (a)")
    parser.add_argument("--variable-length", type=int, default=2048, help="max length of scenario (b)")
    parser.add_argument("--scenarios", default="fixed,variable", help="comma-separated: fixed, variable")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each trainer")
    parser.add_argument("--repeats", type=int, default=1, help="runs per trainer, alternating")
    parser.add_argument("--sides", default="trl,ours,ours_padded", help="comma-separated: " + ", ".join(SIDES))
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--our-step-tag", help="an existing token as our step tag (e.g. a newline, as TRL's "
                        "separator), so no tag token is added and no embedding resized; default: our special tag")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per trainer run")
    parser.add_argument("--quick", action="store_true", help="smoke test: a tiny model, 2 steps, short rows")
    parser.add_argument("--out", type=Path, help=f"JSON results (default {DEFAULT_OUT.relative_to(ROOT)}; "
                        "with --quick, the work folder)")
    parser.add_argument("--worker", choices=(*SIDES, "matmul"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args.worker, json.loads(args.spec.read_text()), args.result)

    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not sides or set(sides) - set(SIDES):
        parser.error(f"--sides takes {', '.join(SIDES)}; got {args.sides!r}")
    if not scenarios or set(scenarios) - set(SCENARIOS):
        parser.error(f"--scenarios takes {', '.join(SCENARIOS)}; got {args.scenarios!r}")
    if args.quick:
        args.steps, args.warmup, args.batch_size, args.fixed_length, args.variable_length = 2, 1, 2, 256, 1024
    for name in ("steps", "warmup", "batch_size", "fixed_length", "variable_length", "threads", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    work = Path(tempfile.mkdtemp(prefix="bench-train-vs-trl-"))
    out = args.out or (work / "train_vs_trl.json" if args.quick else DEFAULT_OUT)
    rows_path = work / "rows.jsonl"
    data_info = _prepare_rows(args.data, (args.warmup + args.steps) * args.batch_size, args.seed, rows_path)
    base = {
        "rows": str(rows_path), "model": _model_folder(args.model, work, args.quick), "steps": args.steps,
        "warmup": args.warmup, "batch_size": args.batch_size, "threads": args.threads,
        "gradient_checkpointing": args.gradient_checkpointing, "seed": args.seed, "learning_rate": 1e-5,
        "our_step_tag": args.our_step_tag, "work": str(work),
        "matmul_rows": [64, 256] if args.quick else [512, 2048],
    }
    print(f"data: {data_info}\nmodel: {base['model']}\nwork folder: {work}", flush=True)
    (work / "matmul.json").write_text(json.dumps(base))
    peaks = [_run_worker("matmul", work / "matmul.json", work / "matmul-start.json", args.threads, args.timeout)]
    print(f"matmul peak at the start: {peaks[0].get('peak_gflops', float('nan')):.1f} GFLOP/s", flush=True)
    runs: dict[str, list[dict]] = {}
    specs = {}
    for scenario in scenarios:
        spec = dict(base, scenario=scenario,
                    max_length=args.fixed_length if scenario == "fixed" else args.variable_length)
        specs[scenario] = spec
        spec_path = work / f"spec-{scenario}.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        for repeat in range(args.repeats):
            for side in sides:
                print(f"{scenario} (max length {spec['max_length']}) run {repeat + 1}/{args.repeats}: {side} ...", flush=True)
                result = _run_worker(side, spec_path, work / f"{scenario}-{side}-{repeat}.json", args.threads, args.timeout)
                result["repeat"] = repeat
                runs.setdefault(scenario, []).append(result)
                if result.get("ok"):
                    print(f"  {result['samples_per_s']:.3f} samples/s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
                else:
                    print(f"  failed:\n{result['error']}", flush=True)
    peaks.append(_run_worker("matmul", work / "matmul.json", work / "matmul-end.json", args.threads, args.timeout))
    good_peaks = [p for p in peaks if p.get("ok")]
    peak = max(good_peaks, key=lambda p: p["peak_gflops"]) if good_peaks else {}
    print(f"matmul peak (the higher of start and end): {peak.get('peak_gflops', float('nan')):.1f} GFLOP/s "
          f"{[round(p.get('peak_gflops', 0), 1) for p in peaks]}")
    summaries = {name: _summary(results, peak.get("peak_gflops")) for name, results in runs.items()}
    for name, summary in summaries.items():
        print(_table(name, specs[name], summary))
    headline = _headline(summaries, peak)
    print(json.dumps({k: v for k, v in headline.items() if k != "goals"}, indent=1))
    payload = {**headline, "quick": args.quick, "scenarios": summaries, "specs": specs, "data": data_info,
               "matmul": peaks, "runs": runs, "environment": _environment(),
               "command": " ".join([Path(sys.executable).name, *sys.argv])}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _environment() -> dict:
    import importlib.metadata as metadata
    import platform

    versions = {}
    for name in ("torch", "transformers", "trl", "accelerate", "datasets"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "load_average": os.getloadavg(), **versions}


# ------------------------------------------------------------------------------ worker
def _timing_callback(warmup: int, counter):
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall time of every optimizer step's begin and end; counts each forward's FLOPs."""

        def __init__(self) -> None:
            self.ends: list[float] = []
            self.begins: list[float] = []
            self.pre_optimizer: list[float] = []
            self.post_optimizer: list[float] = []
            self.rss_before_train_mb = 0.0
            self.dataset_lengths: list[int] = []
            self.cpu: list[float] = []  # process CPU time (all threads) at each step's begin

        def on_train_begin(self, args, state, control, **kwargs):
            self.rss_before_train_mb = peak_rss_mb()
            counter.attach(kwargs["model"])
            loader = kwargs.get("train_dataloader")
            dataset = getattr(loader, "dataset", None)
            if dataset is not None and hasattr(dataset, "column_names"):
                if "length" in dataset.column_names:
                    self.dataset_lengths = list(dataset["length"])
                elif "input_ids" in dataset.column_names:
                    self.dataset_lengths = [len(ids) for ids in dataset["input_ids"]]

        def on_step_begin(self, args, state, control, **kwargs):
            self.begins.append(time.perf_counter())
            self.cpu.append(time.process_time())

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.pre_optimizer.append(time.perf_counter())

        def on_optimizer_step(self, args, state, control, **kwargs):
            self.post_optimizer.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

        def phases(self) -> dict[str, float]:
            """Mean seconds per measured step in: forward+backward (step begin to optimizer),
            optimizer (+ grad clipping), and the rest (data loading, collation, scheduler, logging)."""
            measured = range(warmup, len(self.ends))
            if not measured or len(self.pre_optimizer) < len(self.ends) or len(self.post_optimizer) < len(self.ends):
                return {}
            forward_backward = [self.pre_optimizer[i] - self.begins[i] for i in measured]
            optimizer = [self.post_optimizer[i] - self.pre_optimizer[i] for i in measured]
            total = [self.ends[i] - self.ends[i - 1] for i in measured]
            return {
                "forward_backward_s": statistics.mean(forward_backward),
                "optimizer_s": statistics.mean(optimizer),
                "other_s": statistics.mean(t - f - o for t, f, o in zip(total, forward_backward, optimizer)),
            }

    return StepClock()


def _train_trl(spec: dict, clock) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from trl.experimental.prm import PRMConfig, PRMTrainer

    rows = [json.loads(line) for line in Path(spec["rows"]).read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForTokenClassification.from_pretrained(spec["model"], num_labels=2, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    config = PRMConfig(
        output_dir=str(Path(spec["work"]) / "trl-out"), max_steps=spec["warmup"] + spec["steps"],
        per_device_train_batch_size=spec["batch_size"], max_length=spec["max_length"],
        learning_rate=spec["learning_rate"], seed=spec["seed"], bf16=False, fp16=False, use_cpu=True,
        gradient_checkpointing=spec["gradient_checkpointing"], report_to="none", save_strategy="no",
        logging_steps=10_000, disable_tqdm=True, dataloader_num_workers=0, step_separator="\n",
    )
    trainer = PRMTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, callbacks=[clock])
    trainer.train()


def _train_ours(spec: dict, clock, packing: str) -> None:
    from prm.modeling.loading import load_causal_lm
    from prm.records import StepwiseSolution
    from prm.steps import StepFormat
    from prm.training.trainer import TrainConfig, train

    rows = [json.loads(line) for line in Path(spec["rows"]).read_text().splitlines()]
    records = [StepwiseSolution.from_dict(row) for row in rows]
    causal_lm, tokenizer = load_causal_lm(spec["model"], dtype="float32")
    # Hand over the bare decoder: a causal LM object kept alive here would hold its LM head
    # (tied to the pre-resize embedding, 49152 x 576 floats) for the whole run.
    model = causal_lm.base_model.train()
    del causal_lm
    step_format = StepFormat() if spec.get("our_step_tag") is None else StepFormat(tag=spec["our_step_tag"], tag_is_special=False)
    config = TrainConfig(
        step_format=step_format,
        output_dir=str(Path(spec["work"]) / "ours-out"), max_steps=spec["warmup"] + spec["steps"],
        batch_size=spec["batch_size"], max_length=spec["max_length"], learning_rate=spec["learning_rate"],
        seed=spec["seed"], gradient_checkpointing=spec["gradient_checkpointing"], logging_steps=10_000,
        save_steps=10_000, device="cpu", packing=packing,
    )
    train(config, records, model=model, tokenizer=tokenizer, callbacks=[clock])


def _matmul_worker(spec: dict, result_path: Path) -> int:
    from transformers import AutoConfig

    from benchmarks._train_flops import DecoderShape, matmul_peak

    shape = DecoderShape.of(AutoConfig.from_pretrained(spec["model"]))
    result = {"side": "matmul", "ok": True, **matmul_peak(shape, spec["matmul_rows"])}
    result_path.write_text(json.dumps(result, indent=2))
    return 0


def run_worker(side: str, spec: dict, result_path: Path) -> int:
    """Train one side (or time the matmuls) and write its measurements to result_path (JSON)."""
    import torch
    from transformers import AutoConfig

    from benchmarks._train_flops import DecoderShape, FlopCounter

    torch.set_num_threads(spec["threads"])
    if side == "matmul":
        return _matmul_worker(spec, result_path)
    torch.manual_seed(spec["seed"])
    counter = FlopCounter(DecoderShape.of(AutoConfig.from_pretrained(spec["model"])))
    clock = _timing_callback(spec["warmup"], counter)
    started = time.perf_counter()
    if side == "trl":
        _train_trl(spec, clock)
    else:
        _train_ours(spec, clock, "auto" if side == "ours" else "off")
    total = time.perf_counter() - started
    warmup, steps = spec["warmup"], spec["steps"]
    if len(clock.ends) < warmup + steps:
        raise SystemExit(f"{side}: only {len(clock.ends)} steps ran, expected {warmup + steps}")
    every = clock.ends[warmup + steps - 1] - clock.begins[0]
    after_start, end = clock.ends[warmup - 1], clock.ends[warmup + steps - 1]
    after = end - after_start
    flops, tokens, samples_after = counter.between(after_start, end)
    _, all_tokens, samples = counter.between(clock.begins[0], end)
    lengths = clock.dataset_lengths
    result = {
        "side": side, "ok": True,
        "samples_per_s": samples / every,
        "samples_per_s_after_warmup": samples_after / after,
        "seconds_per_step": every / (warmup + steps),
        "step_seconds": [b - a for a, b in zip(clock.begins, clock.ends)],
        # CPU time of all threads per step after the warm-up: a cross-check when the machine is busy
        "cpu_seconds_per_step": (time.process_time() - clock.cpu[warmup]) / steps if len(clock.cpu) > warmup else None,
        "useful_gflops_per_s": flops / after / 1e9,
        "samples": samples,
        "tokens_after_warmup": tokens,
        "tokens_fed_per_sample": all_tokens / samples,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_train_mb": clock.rss_before_train_mb,
        "mean_tokens_per_sample": statistics.mean(lengths) if lengths else float("nan"),
        "dataset_rows": len(lengths),
        "phases": clock.phases(),
        "process_train_s": total,
        "torch_threads": torch.get_num_threads(),
    }
    result_path.write_text(json.dumps(result, indent=2))
    return 0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
