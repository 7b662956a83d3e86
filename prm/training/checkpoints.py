"""Checkpoints and the final model written atomically, and the newest complete checkpoint.

Public: `staging_folder(parent, name)`, `commit_folder(staging, target)`,
`install_files(staging, target, last)`, `latest_complete_checkpoint(folder)`,
`remove_folder(path)`, `remove_checkpoints(folder)`, `rotate_checkpoints(folder, limit, best)`.

A checkpoint is written into a fresh hidden folder beside its final place
(`.checkpoint-N-<random>.partial`, made by `tempfile.mkdtemp`) and renamed to `checkpoint-N`
once every file is in it, so a `checkpoint-N` folder is always whole; a kill leaves at most a
`.partial` folder, which nothing reads. The final model shares its folder with the checkpoints,
so its files are written into a staging folder first and then moved in one by one with
`os.replace`, the file that makes the folder loadable (`reward_config.json`) removed first and
moved in last: a kill in between leaves a folder that refuses to load, never a mix that loads.
Old checkpoints are deleted the same way round: renamed to a hidden `.old` folder, then removed.
`latest_complete_checkpoint` picks the newest `checkpoint-N` holding a readable
`trainer_state.json` and the reward config, and lists the newer ones it skipped, with why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"


def staging_folder(parent: str | os.PathLike, name: str) -> Path:
    """A new, empty, hidden folder in `parent` (which is created) for building `name`."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}-", suffix=".partial"))


def commit_folder(staging: Path, target: Path) -> None:
    """Rename the finished `staging` folder to `target` (an older `target` is replaced)."""
    if target.exists():
        old = _set_aside(target)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def install_files(staging: Path, target: Path, last: str) -> None:
    """Move every file of `staging` into `target` (see the module doc), `last` removed first
    and moved last; `staging` is removed."""
    target.mkdir(parents=True, exist_ok=True)
    (target / last).unlink(missing_ok=True)
    names = sorted(p.name for p in staging.iterdir() if p.name != last)
    for name in names + ([last] if (staging / last).exists() else []):
        if (staging / name).is_dir():
            commit_folder(staging / name, target / name)
        else:
            os.replace(staging / name, target / name)
    shutil.rmtree(staging, ignore_errors=True)


def _incomplete(folder: Path, required: tuple[str, ...]) -> str | None:
    for name in (TRAINER_STATE, *required):
        if not (folder / name).is_file():
            return f"no {name}"
    try:
        json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return f"{TRAINER_STATE} is not readable JSON"
    return None


def latest_complete_checkpoint(
    folder: str | os.PathLike, required: tuple[str, ...] = ()
) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the newest complete `checkpoint-N` in `folder` or None, [(newer torn checkpoint, why)])."""
    folder = Path(folder)
    found = []
    if folder.is_dir():
        for child in folder.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and child.is_dir():
                found.append((int(match.group(1)), child))
    skipped: list[tuple[Path, str]] = []
    for _, child in sorted(found, reverse=True):
        why = _incomplete(child, required)
        if why is None:
            return child, skipped
        skipped.append((child, why))
    return None, skipped


def _set_aside(path: Path) -> Path:
    """Move `path` into a new hidden `.NAME-<random>.old` folder beside it (one atomic rename);
    returns that folder, which nothing reads."""
    old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-", suffix=".old"))
    os.replace(path, old / path.name)
    return old


def remove_folder(path: Path) -> None:
    """Delete a folder so that a kill never leaves part of it under its name: set aside first
    (one atomic step), then removed."""
    shutil.rmtree(_set_aside(path), ignore_errors=True)


def remove_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """Delete every `checkpoint-N` folder in `folder` (a run with save_total_limit=0, once its
    final model is written); returns those removed."""
    removed = [p for p in Path(folder).iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)]
    for path in removed:
        remove_folder(path)
    return removed


def rotate_checkpoints(folder: str | os.PathLike, save_total_limit: int | None, best: str | None = None) -> list[Path]:
    """`transformers.trainer_utils.rotate_checkpoints` (keep the newest `save_total_limit`
    checkpoints, never the newest one or `best`), each deletion through `remove_folder`: the
    Trainer's own deletes in place, and a kill in its `rmtree` leaves a torn `checkpoint-N`
    that looks like the newest whole one (seen in tests/test_training_kill.py). Returns those removed."""
    if save_total_limit is None or save_total_limit <= 0:
        return []
    numbered = sorted((int(m.group(1)), p) for p in Path(folder).iterdir()
                      if p.is_dir() and (m := _CHECKPOINT.match(p.name)))
    checkpoints = [p for _, p in numbered]
    protected = set(checkpoints[-1:]) | ({Path(best)} if best is not None else set())
    keep = max(save_total_limit, len(protected))
    removed = []
    for path in checkpoints:
        if len(checkpoints) - len(removed) <= keep:
            break
        if path not in protected:
            remove_folder(path)
            removed.append(path)
    return removed
