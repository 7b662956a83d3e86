"""Run the README's five-minute tour as written and time each command.

    python benchmarks/tour.py [--workdir /tmp/tour] [--data ../shared/data]

Every `prm ...` line of the tour's bash block (continuation lines joined, comments left out)
runs in order, in a fresh working folder whose `../shared/data` is the shared data, with this
venv's `prm` first on PATH. Prints and writes (WORKDIR/tour_times.json) each command's wall
time and exit status; stops at the first failure (exit 1), as a user following the tour would.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tour_commands(readme: str) -> list[list[str]]:
    """The argv of every `prm` line of the tour's bash block, as the shell would split it."""
    section = readme.split("## Five-minute tour", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()
            if line.strip().startswith("prm ")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/tour", help="a fresh folder to run in (default: /tmp/tour)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    args = parser.parse_args()
    work = Path(args.workdir) / "work"
    if work.exists():
        raise SystemExit(f"{work} exists; give a fresh --workdir")
    work.mkdir(parents=True)
    (work.parent / "shared").mkdir(exist_ok=True)
    link = work.parent / "shared" / "data"
    if not link.exists():
        link.symlink_to(Path(args.data).resolve())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    results = []
    for argv in tour_commands((ROOT / "README.md").read_text(encoding="utf-8")):
        command = shlex.join(argv)
        print(f"$ {command}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - start
        tail = done.stdout.strip().splitlines()[-3:]
        results.append({"command": command, "seconds": round(seconds, 1), "exit": done.returncode, "last_lines": tail})
        print(f"  exit {done.returncode} in {seconds:.1f} s; " + " | ".join(tail)[-300:], flush=True)
        (work.parent / "tour_times.json").write_text(json.dumps(results, indent=2) + "\n")
        if done.returncode != 0:
            print(done.stdout[-4000:])
            return 1
    total = sum(r["seconds"] for r in results)
    print(f"{len(results)} commands, {total:.0f} s in all, longest {max(r['seconds'] for r in results):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
