"""Rendered files wait on disk, not in memory, until they are published.

At 10,000 claims the rendered site is some 240 MB; held in memory until the swap, it was a third
of a clean build's peak, and it crossed a pipe from the render workers. Now each file is written
once, as it is rendered (by the forked workers when there are many), into a spool folder beside
the output folder (``.site.spool/``, same file system), and the build keeps only its hash. The
files of a first build are at their place in the site's tree, and the spool becomes the staging
folder; later builds put each file into the back buffer (over the file it replaces, or renamed
there). The search index links the pages it reads into Pagefind's folder. The spool is emptied
at the start and at the end of a build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from constat.memo import DIGEST_SIZE, digest
from constat.search import indexed_part, is_indexed


@dataclass(frozen=True)
class Spooled:
    """A rendered file waiting in the spool."""

    path: str
    """Where it is, until publishing moves it."""
    sha: str
    """The hash of its bytes (memo.digest)."""
    indexed: str | None
    """The hash of the part of it the search index reads (search.indexed_part), if it is a page the search covers."""

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()


class Spool:
    """The spool folder of one build."""

    def __init__(self, out: Path, *, tree: bool) -> None:
        self.folder = out.parent / f".{out.name}.spool"
        self.tree = tree
        """Files at their place in the site's tree, so that the spool can become the first site
        whole; else all in the spool's folder, named by the hash of their path (no folders to make
        and remove: a template edit at 10,000 claims spools 10,000 pages into existing folders)."""
        self.clear()
        self.folder.mkdir(parents=True)
        self.made = {str(self.folder)}
        """Folders known to exist (in each forked worker, those it made or saw)."""

    def clear(self) -> None:
        """Remove the folder and whatever is left in it (files not published, a killed build's)."""
        remove(self.folder)

    def _place(self, rel: str) -> str:
        check_output_path(rel)
        if not self.tree:
            return f"{self.folder}/{digest(rel)}"
        path = f"{self.folder}/{rel}"
        parent = path.rpartition("/")[0]
        if parent not in self.made:
            os.makedirs(parent, exist_ok=True)
            self.made.add(parent)
        return path

    def put_pieces(self, rel: str, pieces: Iterable[bytes]) -> Spooled:
        """A file made of many pieces (the open data: 27 MB at 10,000 claims), written as they
        come, a few hundred at a time; never a page the search covers."""
        path, hashed = self._place(rel), hashlib.blake2b(digest_size=DIGEST_SIZE)
        with open(path, "wb") as f:
            for run in _runs(pieces, 256):
                hashed.update(run)
                f.write(run)
        return Spooled(path, hashed.hexdigest(), None)

    def put(self, rel: str, data: bytes, part: bytes | None = None) -> Spooled:
        """A file, written now; ``part``: what of it the search index reads, if the caller has it
        (search.indexed_part), else found here."""
        path = self._place(rel)
        with open(path, "wb") as f:
            f.write(data)
        if part is None and is_indexed(rel, data):
            part = indexed_part(data)
        return Spooled(path, digest(data), None if part is None else digest(part))


def _runs(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The pieces joined ``size`` at a time: one write and one hash update for each run, not each piece."""
    run: list[bytes] = []
    for piece in pieces:
        run.append(piece)
        if len(run) == size:
            yield b"".join(run)
            run.clear()
    if run:
        yield b"".join(run)


class UnsafePath(ValueError):
    """An output path that would land outside the output folder."""


def check_output_path(rel: str) -> PurePosixPath:
    if not is_safe(rel):
        raise UnsafePath(f"refusing to write outside the site folder: {rel!r}")
    return PurePosixPath(rel)


def is_safe(rel: str) -> bool:
    """A relative path in normal form that stays inside the folder: no empty, . or .. part, no \\."""
    return bool(rel) and "\\" not in rel and all(part not in ("", ".", "..") for part in rel.split("/"))


def remove(path: Path) -> None:
    """Remove a folder and what it holds, or whatever else is at ``path`` (a symbolic link is
    removed, never followed); nothing if there is nothing."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def move(source: Spooled, target: Path) -> None:
    """Put a spooled file at ``target``, replacing what is there in one step."""
    os.replace(source.path, target)
