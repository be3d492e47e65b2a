"""Stage 5, write: put a rendered site in place so that nobody ever sees half of it.

The new site is assembled in a staging folder beside the output folder, then swapped in
with one rename. Files whose bytes did not change are hard links to the previous ones,
so their modification times stay put (rsync and CDNs see no change) and nothing is copied.
If anything fails before the swap, the previous output folder has not been touched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_RENAME_EXCHANGE = 2


@dataclass(frozen=True)
class WriteReport:
    written: int
    """Files new or changed."""
    unchanged: int
    removed: int
    """Files of the previous site that the new one no longer has."""


class UnsafePath(ValueError):
    """An output path that would land outside the output folder."""


def check_output_path(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    if (path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts) or "\\" in rel
            or str(path) != rel):
        raise UnsafePath(f"refusing to write outside the site folder: {rel!r}")
    return path


def publish(files: dict[str, bytes], out: Path) -> WriteReport:
    """Replace the folder ``out`` by exactly ``files``: all of them or, on any failure, none."""
    out = out.resolve()
    staging = out.parent / f".{out.name}.staging"
    old = out.parent / f".{out.name}.old"
    recover(out)
    for leftover in (staging, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    written = unchanged = 0
    try:
        staging.mkdir(parents=True)
        for rel in sorted(files):
            target = staging.joinpath(*check_output_path(rel).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            previous = out.joinpath(*PurePosixPath(rel).parts)
            if _same_bytes(previous, files[rel]):
                try:
                    os.link(previous, target)
                    unchanged += 1
                    continue
                except OSError:
                    pass  # a file system without hard links: write a copy instead
            target.write_bytes(files[rel])
            written += 1
        removed = _count_gone(out, files)
        _swap(staging, out, old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return WriteReport(written, unchanged, removed)


def recover(out: Path) -> None:
    """Finish a swap that a killed process left half done: the previous site comes back."""
    old = out.parent / f".{out.name}.old"
    if not out.exists() and old.is_dir():
        old.rename(out)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size == len(data) \
            and path.read_bytes() == data
    except OSError:
        return False


def _count_gone(out: Path, files: dict[str, bytes]) -> int:
    if not out.is_dir():
        return 0
    return sum(1 for p in out.rglob("*") if p.is_file() and p.relative_to(out).as_posix() not in files)


def _swap(staging: Path, out: Path, old: Path) -> None:
    """Make ``staging`` the new ``out``, atomically where the system allows it."""
    if not out.exists():
        staging.rename(out)
        return
    if _exchange(staging, out):
        staging.rename(old)  # staging now holds the previous site
        return
    # No atomic exchange: two renames. A crash between them leaves ``old``, which recover() restores.
    out.rename(old)
    staging.rename(out)


def _exchange(a: Path, b: Path) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): both names swap in one step, so ``b`` always exists."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)
