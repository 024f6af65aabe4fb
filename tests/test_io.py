"""Atomic artifact writes: complete file or nothing, flushed to disk before the rename."""
import os

import pytest

from apq import io


def test_file_is_fsynced_complete_before_it_is_renamed(tmp_path, monkeypatch):
    target, events = tmp_path / "a" / "out.json", []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "fsync", fsync)
    monkeypatch.setattr(io.os, "replace", replace)
    io.write_json(target, {"a": 1})
    assert target.read_text() == '{\n "a": 1\n}\n'
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["fsync", "replace"] and events[0][1] == events[1][1]  # the temporary file, then its rename
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_written_artifacts_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        io.write_json(tmp_path / "out.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o640
