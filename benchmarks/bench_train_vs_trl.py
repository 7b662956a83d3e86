"""Training speed and peak memory: our `prm.training.train` against TRL's `PRMTrainer`.

What it measures: samples per second of optimizer steps after warm-up, and the peak resident
memory (ru_maxrss) of the process, for each trainer on the same CPU, back to back. Each run
happens in its own child process (this script, `--worker`), so one trainer's memory never
counts against the other and ru_maxrss is that trainer's own peak. With `--repeats R` the
trainers alternate (trl, ours, trl, ours, ...) and the table shows the median of each.

Same for both sides: the rows (PRM800K phase-1 test, step-wise critic format, read through
`prm.data.load_stepwise` and written once as TRL step-wise rows: prompt / completions / labels),
the backbone folder (the embedded SmolLM2-135M converted by `prm.modeling.loading`), float32,
batch size, max length, number of steps, learning rate, seed, thread count, gradient
checkpointing (off unless --gradient-checkpointing). Each side keeps its own way of building
the input: TRL appends `step_separator` ("\\n") to every step and truncates tokens at
max_length; ours appends its step tag and drops whole trailing steps, and groups batches by
length (its default). The number of rows is (warmup + steps) * batch size, so each side sees
every row exactly once. Per side the table also splits a measured step into forward+backward
(with gradient clipping), optimizer step, and the rest (data loading, collation, scheduler).
`--our-step-tag` makes our trainer tag steps with an existing token (TRL's newline) instead of
adding a special token, which isolates the cost of resizing the embeddings.

TRL's PRMTrainer lives in trl.experimental.prm and was removed in TRL 1.14, so this runs in its
own environment (benchmarks/trl_env.sh builds .venv-trl with trl==1.13.0):

    bash benchmarks/trl_env.sh
    .venv-trl/bin/python benchmarks/bench_train_vs_trl.py --steps 20 --batch-size 4 \\
        --max-length 256 --threads 2 --out runs/bench_train_vs_trl.json
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
SIDES = ("trl", "ours")
PHASES = ("forward_backward_s", "optimizer_s", "other_s")


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


def _model_folder(name: str) -> str:
    from prm.modeling.loading import resolve_model

    return resolve_model(name)


def _run_worker(side: str, spec_path: Path, result_path: Path, threads: int, timeout: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
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


def _table(results: list[dict], spec: dict) -> str:
    lines = [
        f"train speed, {spec['steps']} measured steps after {spec['warmup']} warm-up, batch {spec['batch_size']}, "
        f"max length {spec['max_length']}, {spec['threads']} threads, float32, "
        f"gradient checkpointing {'on' if spec['gradient_checkpointing'] else 'off'}, "
        f"our step tag {spec['our_step_tag'] or 'default special token'!r}",
        f"{'trainer':<8} {'runs':>4} {'samples/s':>10} {'s/step':>8} {'peak RSS MB':>12} {'RSS before train MB':>20} {'tokens/sample':>14}",
    ]
    summary = _summary(results)
    for side in SIDES:
        s = summary.get(side)
        if s is None:
            continue
        if not s["runs"]:
            lines.append(f"{side:<8} {0:>4}  failed: {s['error'].strip().splitlines()[-1] if s['error'] else '?'}")
            continue
        lines.append(
            f"{side:<8} {s['runs']:>4} {s['samples_per_s']:>10.3f} {s['seconds_per_step']:>8.2f} "
            f"{s['peak_rss_mb']:>12.0f} {s['rss_before_train_mb']:>20.0f} {s['mean_tokens_per_sample']:>14.1f}"
            + "".join(f" {name}={s[name]:.2f}" for name in PHASES if name in s)
        )
    ratio = summary.get("ratio")
    if ratio:
        lines.append(
            f"ours / trl: samples/s x{ratio['samples_per_s']:.2f} (goal >= 1.5), "
            f"peak RSS x{ratio['peak_rss']:.2f} (goal <= 1.0)"
        )
    return "\n".join(lines)


def _summary(results: list[dict]) -> dict:
    summary: dict = {}
    for side in SIDES:
        runs = [r for r in results if r["side"] == side]
        if not runs:
            continue
        good = [r for r in runs if r.get("ok")]
        entry = {"runs": len(good), "error": next((r["error"] for r in runs if not r.get("ok")), None)}
        if good:
            for key in ("samples_per_s", "seconds_per_step", "peak_rss_mb", "rss_before_train_mb", "mean_tokens_per_sample"):
                entry[key] = statistics.median(r[key] for r in good)
            for key in PHASES:
                values = [r["phases"][key] for r in good if key in r.get("phases", {})]
                if values:
                    entry[key] = statistics.median(values)
        summary[side] = entry
    if summary.get("trl", {}).get("runs") and summary.get("ours", {}).get("runs"):
        summary["ratio"] = {
            "samples_per_s": summary["ours"]["samples_per_s"] / summary["trl"]["samples_per_s"],
            "peak_rss": summary["ours"]["peak_rss_mb"] / summary["trl"]["peak_rss_mb"],
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PRM800K step-wise critic jsonl")
    parser.add_argument("--model", default="embedded", help="model folder, or 'embedded' (SmolLM2-135M)")
    parser.add_argument("--steps", type=int, default=20, help="measured optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="steps run before timing starts")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each trainer")
    parser.add_argument("--repeats", type=int, default=1, help="runs per trainer, alternating")
    parser.add_argument("--sides", default="trl,ours", help="comma-separated: trl, ours")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--our-step-tag", help="an existing token as our step tag (e.g. a newline, as TRL's "
                        "separator), so no tag token is added and no embedding resized; default: our special tag")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per trainer run")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args.worker, json.loads(args.spec.read_text()), args.result)

    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = [s for s in sides if s not in SIDES]
    if unknown or not sides:
        parser.error(f"--sides takes {', '.join(SIDES)}; got {args.sides!r}")
    for name in ("steps", "warmup", "batch_size", "max_length", "threads", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    work = Path(tempfile.mkdtemp(prefix="bench-train-vs-trl-"))
    rows_path = work / "rows.jsonl"
    data_info = _prepare_rows(args.data, (args.warmup + args.steps) * args.batch_size, args.seed, rows_path)
    spec = {
        "rows": str(rows_path), "model": _model_folder(args.model), "steps": args.steps, "warmup": args.warmup,
        "batch_size": args.batch_size, "max_length": args.max_length, "threads": args.threads,
        "gradient_checkpointing": args.gradient_checkpointing, "seed": args.seed, "learning_rate": 1e-5,
        "our_step_tag": args.our_step_tag,
        "work": str(work),
    }
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    print(f"data: {data_info}\nmodel: {spec['model']}\nwork folder: {work}", flush=True)
    results = []
    for repeat in range(args.repeats):
        for side in sides:
            print(f"run {repeat + 1}/{args.repeats}: {side} ...", flush=True)
            result = _run_worker(side, spec_path, work / f"{side}-{repeat}.json", args.threads, args.timeout)
            result["repeat"] = repeat
            results.append(result)
            if result.get("ok"):
                print(f"  {result['samples_per_s']:.3f} samples/s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
            else:
                print(f"  failed:\n{result['error']}", flush=True)
    print(_table(results, spec))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"spec": spec, "data": data_info, "summary": _summary(results), "runs": results, "environment": _environment()}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.out}")
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
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(), **versions}


# ------------------------------------------------------------------------------ worker
def _timing_callback(warmup: int):
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall time of every optimizer step's end; the first `warmup` ends start the clock."""

        def __init__(self) -> None:
            self.ends: list[float] = []
            self.begins: list[float] = []
            self.pre_optimizer: list[float] = []
            self.post_optimizer: list[float] = []
            self.rss_before_train_mb = 0.0
            self.dataset_lengths: list[int] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.rss_before_train_mb = peak_rss_mb()
            loader = kwargs.get("train_dataloader")
            dataset = getattr(loader, "dataset", None)
            if dataset is not None and hasattr(dataset, "column_names"):
                if "length" in dataset.column_names:
                    self.dataset_lengths = list(dataset["length"])
                elif "input_ids" in dataset.column_names:
                    self.dataset_lengths = [len(ids) for ids in dataset["input_ids"]]

        def on_step_begin(self, args, state, control, **kwargs):
            self.begins.append(time.perf_counter())

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.pre_optimizer.append(time.perf_counter())

        def on_optimizer_step(self, args, state, control, **kwargs):
            self.post_optimizer.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

        def phases(self) -> dict[str, float]:
            """Mean seconds per measured step in: forward+backward+grad clipping (step begin to optimizer),
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


def _train_ours(spec: dict, clock) -> None:
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
        save_steps=10_000, device="cpu",
    )
    train(config, records, model=model, tokenizer=tokenizer, callbacks=[clock])


def run_worker(side: str, spec: dict, result_path: Path) -> int:
    """Train one side and write its measurements to result_path (JSON)."""
    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    clock = _timing_callback(spec["warmup"])
    started = time.perf_counter()
    (_train_trl if side == "trl" else _train_ours)(spec, clock)
    total = time.perf_counter() - started
    warmup, steps = spec["warmup"], spec["steps"]
    if len(clock.ends) < warmup + steps:
        raise SystemExit(f"{side}: only {len(clock.ends)} steps ran, expected {warmup + steps}")
    start = clock.ends[warmup - 1] if warmup else None
    if start is None:
        raise SystemExit("--warmup must be >= 1 so that the clock starts after a finished step")
    measured = clock.ends[warmup + steps - 1] - start
    step_times = [b - a for a, b in zip(clock.ends, clock.ends[1:])]
    lengths = clock.dataset_lengths
    result = {
        "side": side, "ok": True,
        "samples_per_s": steps * spec["batch_size"] / measured,
        "seconds_per_step": measured / steps,
        "step_seconds": step_times,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_train_mb": clock.rss_before_train_mb,
        "mean_tokens_per_sample": statistics.mean(lengths) if lengths else float("nan"),
        "approx_tokens_per_s": (statistics.mean(lengths) if lengths else float("nan")) * steps * spec["batch_size"] / measured,
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
