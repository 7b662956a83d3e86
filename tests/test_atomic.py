"""Temporary files are fresh (mkstemp: O_EXCL, random name) beside their target and renamed
into place; a link planted at the old predictable `<out>.tmp` path is never followed; one
writer per output."""

from __future__ import annotations

import os

import pytest

from labeling.store import ResumableJsonl, sidecar_path
from prm.atomic import OutputLock, atomic_write, atomic_writer
from prm.data.io import write_jsonl


def _plant(tmp_path, target):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = target.with_name(target.name + ".tmp")
    link.symlink_to(victim)
    return victim, link


@pytest.mark.parametrize("writer", ["write_jsonl", "atomic_write", "store sidecar"])
def test_a_symlink_at_the_old_temporary_path_is_never_followed(tmp_path, writer):
    out = tmp_path / "out.jsonl"
    target = sidecar_path(out) if writer == "store sidecar" else out
    victim, link = _plant(tmp_path, target)
    if writer == "write_jsonl":
        write_jsonl([{"a": 1}], out)
    elif writer == "atomic_write":
        atomic_write(out, '{"a": 1}\n')
    else:
        ResumableJsonl(out, "f", {"shard": [0, 1]}).close()
    assert victim.read_text() == "precious"
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert target.is_file() and not target.is_symlink()


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(out) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_the_output_lock_names_its_holder(tmp_path):
    with OutputLock(tmp_path / "o.jsonl"):
        with pytest.raises(OSError, match=f"pid {os.getpid()}") as caught:
            OutputLock(tmp_path / "o.jsonl").acquire()
        assert not str(caught.value).startswith("[Errno")
    OutputLock(tmp_path / "o.jsonl").acquire().release()  # free again once released
