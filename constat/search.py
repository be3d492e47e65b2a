"""The full-text search index, built by Pagefind from the rendered pages, in memory."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from constat.model import Site

_LEFT_OUT = re.compile(r"pagefind-(component-ui|modular-ui|ui|highlight)\.(js|css)$")
"""Pagefind's ready-made interfaces: the search page has its own script and the site one stylesheet."""


def is_indexed(path: str, content: bytes) -> bool:
    """Whether a file is a page the search covers: one that marks its text with data-pagefind-body."""
    return path.endswith(".html") and b"data-pagefind-body" in content


_READ_OUTSIDE = re.compile(rb'<html\b[^>]*>|<title\b.*?</title>|<h1\b.*?</h1>|<img\b[^>]*>'
                          rb'|data-pagefind-[a-z-]+(?:="[^"]*")?', re.DOTALL)
"""What Pagefind reads before the data-pagefind-body element: the language, the title, the first
h1 and image (its default title and image metadata) and its own attributes."""


def indexed_part(content: bytes) -> bytes:
    """What of a page Pagefind reads, over-approximated: when it is unchanged on every page, so is
    the index, which then need not be built again."""
    start = content.find(b"data-pagefind-body")
    return b"\n".join([*_READ_OUTSIDE.findall(content[:start]), content[start:]])


class Interrupted(Exception):
    """The index was being built when ``interrupt`` was set: Pagefind was stopped, nothing is published."""


def index_search(files: dict[str, bytes], site: Site, interrupt: threading.Event | None = None) -> dict[str, bytes]:
    """Pagefind's files, under ``pagefind/``, for the pages that mark their text with data-pagefind-body.

    Result URLs are relative to the site's root; the search page gives Pagefind the base path.
    When ``interrupt`` is set before Pagefind is done (the preview got a save), Pagefind is
    stopped within a tenth of a second and Interrupted raised.
    """
    pages = {p: c for p, c in files.items() if is_indexed(p, c)}
    # No claim and no article (a dossier being started, or every article deleted): Pagefind refuses
    # to build an empty index, and there is nothing to search.
    return _index(pages, site, interrupt) if pages else {}


def _command(source: Path, output: Path, site: Site) -> list[str]:
    from pagefind.service import _must_get_executable  # the bundled binary, as `python -m pagefind` finds it

    return [str(_must_get_executable()), "--site", str(source), "--output-path", str(output),
            "--force-language", site.language, "--quiet"]


def _index(pages: dict[str, bytes], site: Site, interrupt: threading.Event | None) -> dict[str, bytes]:
    # The pages go through a scratch folder to Pagefind's own command (the binary the pagefind
    # package ships), and the index comes back as the files it writes there. Its Python API was
    # dropped: it waits about 0.1 s per reply, its get_files reply overflows its 2 MiB reader from
    # about a thousand pages on (the build waited forever), and it stops Pagefind as soon as it
    # replies to WriteFiles, which on a busy machine left some index files empty (2 runs in 20).
    # The command exits only once every file is written. Pages are written in sorted order:
    # Pagefind indexes them in the order the folder lists them.
    with tempfile.TemporaryDirectory(prefix="constat-pagefind-") as scratch:
        source, output = Path(scratch) / "pages", Path(scratch) / "index"
        for n, path in enumerate(sorted(pages)):
            if n % 256 == 0 and interrupt is not None and interrupt.is_set():
                raise Interrupted  # writing 11,000 pages for Pagefind takes seconds too
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(pages[path])
        with subprocess.Popen(
                _command(source, output, site), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                cwd=scratch,  # no pagefind.yml is read from there
                env={k: v for k, v in os.environ.items() if not k.startswith("PAGEFIND_")},
                start_new_session=True) as pagefind:  # its own process group, stopped whole
            try:
                while True:
                    try:
                        stdout, stderr = pagefind.communicate(timeout=0.1)
                        break
                    except subprocess.TimeoutExpired:
                        if interrupt is not None and interrupt.is_set():
                            raise Interrupted from None
            except BaseException:  # interrupted, Ctrl+C, anything: Pagefind stops with the build
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pagefind.pid, signal.SIGKILL)
                pagefind.communicate()
                raise
        if pagefind.returncode != 0:
            raise RuntimeError(f"Pagefind failed ({pagefind.returncode}): {stderr.strip() or stdout.strip()}")
        return {f"pagefind/{p.relative_to(output).as_posix()}": p.read_bytes()
                for p in sorted(output.rglob("*")) if p.is_file() and not _LEFT_OUT.search(p.name)}
