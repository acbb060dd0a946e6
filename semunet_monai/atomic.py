"""Atomic file writes: every file the project writes goes to a temporary name in the same folder and is moved into
place with ``os.replace``, so an interrupted write never leaves a partial file under the final name."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text", "atomic_copy"]


def atomic_write(path: str | Path, write: Callable[[Path], object], backup: str | Path | None = None) -> Path:
    """Call ``write(tmp)`` on a hidden temporary file next to ``path`` (same suffixes, since writers such as nibabel
    and SimpleITK pick the format from them), then ``os.replace`` it onto ``path``.

    Args:
        path: the final file; its folder is created.
        write: writes the file it is given.
        backup: if given and ``path`` exists, ``path`` is moved there just before the replacement.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes))
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode(path))  # mkstemp creates 0600; give the file the mode a plain open() would
        if backup is not None and path.exists():
            os.replace(path, backup)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _file_mode(path: Path) -> int:
    """The mode of an existing ``path``, else ``0o666`` minus the process umask."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_copy(source: str | Path, path: str | Path) -> Path:
    """Copy ``source`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
