"""Write files whole or not at all.

Outputs are written to a temporary name in the same directory and renamed
over the final name, so a killed process never leaves a half-written file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``path``.

    The temporary file lies beside ``path`` (same file system, so the rename
    is atomic) and is removed if the block raises.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name, not a file: the writer creates it with the usual
    # permissions (mkstemp's 0600 would make outputs private to one user).
    tmp = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory; on success rename it to ``path``.

    ``path`` must not exist. Used for cache entries, which must appear
    complete or not at all.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def replacing_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; on success it
    becomes ``path``, replacing whatever was there.

    On any failure (an exception, Ctrl-C) the temporary directory is removed
    and ``path`` is left as it was: an earlier output survives a run that
    fails, and no half-written output appears.
    """
    # Resolved: through a symbolic link the files land where it points, as
    # they would if written into it, and "." gets a name.
    final = Path(path).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the mode follows the umask and a shared group
    # directory's setgid bit is inherited, as for a directory made in place.
    tmp = final.with_name(f".{final.name}.new.{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old.{uuid.uuid4().hex[:8]}")
    had_old = final.exists()
    if had_old:
        final.rename(old)
    try:
        tmp.rename(final)
    except OSError:
        if had_old:
            old.rename(final)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)
