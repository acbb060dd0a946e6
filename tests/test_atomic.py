"""Atomic writes: the final file appears whole or not at all, with the mode a plain write would give it."""

from __future__ import annotations

import os

import pytest

from semunet_monai.atomic import atomic_write, atomic_write_text


def test_new_files_get_the_umask_mode_and_existing_files_keep_theirs(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        path.chmod(0o640)
        atomic_write_text(path, "y")
        assert path.stat().st_mode & 0o777 == 0o640 and path.read_text() == "y"
    finally:
        os.umask(old)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "b.txt", "old")

    def broken(tmp):
        tmp.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]


def test_backup_receives_the_previous_file(tmp_path):
    path = atomic_write_text(tmp_path / "c.txt", "first")
    atomic_write(path, lambda tmp: tmp.write_text("second"), backup=tmp_path / "c.prev.txt")
    assert path.read_text() == "second" and (tmp_path / "c.prev.txt").read_text() == "first"
