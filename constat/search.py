"""The full-text search index, built by Pagefind from the rendered pages, in memory.

Up to PART_PAGES pages it is one Pagefind index in ``pagefind/``. A larger site's index comes
in parts, each a Pagefind index of its own over a share of the pages (an article's page and
its claims' pages together, by a hash of the article's slug), which the search page merges
(Pagefind's mergeIndex, one WebAssembly for all). Pagefind cannot update an index
(Pagefind/pagefind#71) and needs about 165 KB of memory per page it indexes: with parts an edit
re-indexes only the part that holds the changed pages, parts are indexed two at a time (one
where memory is short: ``at_once``), and no Pagefind process grows with the site.

Merged parts must answer as one index would. When a word is missing from an index, Pagefind
searches again with ever shorter prefixes of it: a part without the word would answer with
pages that only share its first letters. So every part also indexes the vocabulary page, which
holds every word of the site and which the search page leaves out of the results: a word is
missing from a part only when it is missing from the whole site, exactly when one index would
fall back too. A word that appears or disappears changes every part.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from constat.forking import available_memory, held_elsewhere, results, start_holding

if TYPE_CHECKING:  # the model and the Markdown libraries behind it: not needed to list or remove an index
    from constat.model import Site


class Interrupt(Protocol):
    """What stops a build or an index when set: a threading.Event, or the preview builder's count
    of saves (constat/builder.py)."""

    def is_set(self) -> bool: ...


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


PART_PAGES = 4000
"""Pages per part of the index, on average, unless site.yaml sets search.part_pages.

Measured at 1,000 × 10 (11,000 indexed pages): Pagefind needs about 165 KB per page (some
660 MB for a part of 4,000) and 2.5 s per 1,000 pages. What readers load grows with the
parts: a first search for two words fetched 460 KB from one index, 640 KB from 3 parts of
4,000 pages, 933 KB from 8 parts of 1,500 (each word's chunk comes from every part). 4,000
keeps readers' cost near one index's and bounds the memory of a build at any size."""

PARTS_FILE = "pagefind/parts.json"
"""What the search page merges: the parts' folders, and the id of the vocabulary page to leave out."""

VOCABULARY_PAGE = "constat-vocabulaire/index.html"
"""Where the vocabulary page sits among the pages each part indexes; it is never published."""


def part_count(pages: int, part_pages: int | None = None) -> int:
    """How many parts an index of this many pages comes in: one up to ``part_pages`` (PART_PAGES by default)."""
    return max(1, -(-pages // (part_pages or PART_PAGES)))


_ARTICLE_OF = re.compile(r"^(?:affirmations|articles)/([^/]+)/")


def split(indexed: Mapping[str, str], part_pages: int | None = None) -> dict[str, dict[str, str]]:
    """The indexed pages (path → hash of their indexed part) by the folder of their part.

    An article's page and its claims' pages go to the same part, chosen by a hash of the
    article's slug (any other page by a hash of its path), so that an edit to a claim, which
    changes its page and its article's, re-indexes one part and leaves the others as they were.
    The part with the lowest number is in ``pagefind/`` (the search page loads Pagefind's script
    from there), the others in ``pagefind/<number>/``; a part that gets no page is left out."""
    count = part_count(len(indexed), part_pages)
    numbered: dict[int, dict[str, str]] = {}
    for rel in sorted(indexed):
        article = _ARTICLE_OF.match(rel)
        group = article[1] if article else rel
        numbered.setdefault(zlib.crc32(group.encode()) % count, {})[rel] = indexed[rel]
    first = min(numbered, default=0)
    return {"pagefind/" if n == first else f"pagefind/{n}/": numbered[n] for n in sorted(numbered)}


def part_key(folder: str, pages: Mapping[str, str], vocabulary: str) -> str:
    """What a part's index is made of: its folder, its pages (path, indexed hash), the vocabulary's hash."""
    from constat.memo import digest

    return digest("\n".join([folder, vocabulary, *(f"{rel} {sha}" for rel, sha in sorted(pages.items()))]))


_TAG = re.compile(r"<[^>]*>")
_INLINE = re.compile(r"</?(?:a|abbr|b|cite|code|del|em|i|ins|mark|q|s|small|span|strong|sub|sup|time|u)\b[^>]*>")
_EDGES = re.compile(r"^\W+|\W+$")


def page_words(indexed: bytes) -> list[str]:
    """The words of a page's indexed part, each once, in order of appearance: in lower case,
    without the punctuation around them, otherwise as written (Pagefind cuts them into words
    itself, the same way in the vocabulary page as in the page)."""
    text = indexed.decode("utf-8", "replace")
    text = html.unescape(_TAG.sub(" ", _INLINE.sub("", text)))  # inline elements do not separate words, blocks do
    words = dict.fromkeys(map(_BARE.__getitem__, text.split()))
    words.pop("", None)
    return list(words)


class _Bare(dict[str, str]):
    """Each word as written → the word in lower case without the punctuation around it, worked
    out once per word and process: a page has some 800 words, the first 3,000 pages of the
    benchmark's corpus 3,012 different ones between them. Lowered word by word rather than the
    page's text at once (the same words: lowering neither makes nor takes away a space, and
    the only rule that looks at a letter's neighbours, the Greek final sigma's, stops at a
    space): finding the words of 2,200 pages of the benchmark took 150 µs a page, now 107."""

    def __missing__(self, word: str) -> str:
        if len(self) > 500_000:  # a preview that runs for days: start again
            self.clear()
        low = word.lower()
        bare = self[word] = low if low[0].isalnum() and low[-1].isalnum() else _EDGES.sub("", low)
        return bare


_BARE = _Bare()


def vocabulary_page(words: list[str], site: Site) -> bytes:
    return (f'<!DOCTYPE html><html lang="{site.language}"><head><title>-</title></head><body>'
            f"<main data-pagefind-body><p>{html.escape(' '.join(words))}</p></main></body></html>").encode()


def parts_file(folders: list[str], hidden: list[str]) -> dict[str, bytes]:
    """The list the search page reads, or nothing when there is no index at all."""
    data = {"parts": sorted(folders), "hidden": sorted(hidden)}
    return {PARTS_FILE: json.dumps(data).encode() + b"\n"} if folders else {}


def index_parts(parts: Mapping[str, Mapping[str, bytes | str]], site: Site, vocabulary: list[str] | None,
                interrupt: Interrupt | None = None, *,
                out: Path | None = None) -> tuple[dict[str, dict[str, bytes]], list[str]]:
    """Each part's index files (paths from the site's root), built two at a time (at_once), and the ids
    Pagefind gave the vocabulary page (none without one: a single part).

    Only the main part (``pagefind/``) keeps Pagefind's scripts and WebAssembly: the search page
    loads them from there, and the other parts are merged into that instance."""
    extra = {VOCABULARY_PAGE: vocabulary_page(vocabulary, site)} if vocabulary is not None else {}
    stopping = _Either(interrupt)

    def one(folder: str) -> dict[str, bytes]:
        files = _index({**parts[folder], **extra}, site, stopping, out)
        if folder != "pagefind/":
            files = {rel: data for rel, data in files.items() if not _MAIN_ONLY.search(rel)}
        return {folder + rel.removeprefix("pagefind/"): data for rel, data in files.items()}

    folders = [folder for folder in sorted(parts) if parts[folder]]
    from concurrent.futures import ThreadPoolExecutor  # 4 ms of imports a build needs only here

    try:
        sizes = [len(parts[folder]) + len(extra) for folder in folders]
        with ThreadPoolExecutor(max_workers=at_once(sizes, available_memory() if len(sizes) > 1 else None)) as pool:
            try:
                built = dict(zip(folders, results([pool.submit(one, folder) for folder in folders]), strict=True))
            except BaseException:  # Ctrl+C, a stop signal, a part failing: the other Pagefind stops too
                stopping.set()
                raise
    finally:
        _start_removals()  # the pool's threads have stopped
    return built, _fragments_of(built, "/" + VOCABULARY_PAGE.removesuffix("index.html")) if extra else []


PAGEFIND_BYTES_PER_PAGE = 165_000
"""What a Pagefind process takes per page it indexes (measured at 1,000 × 10: 660 MB for 4,000)."""


def at_once(sizes: list[int], available: int | None) -> int:
    """How many parts of these sizes (pages) to index at once: two where ``available``, the memory
    this build may still take (forking.available_memory), holds the two largest with a quarter
    to spare, else one. On a 2 GB machine two parts of 4,000 pages beside the build would not
    fit; one at a time took 42.5-45.7 s of a clean build at 1,000 × 10 against 34.7-38.2 s."""
    if len(sizes) < 2:
        return 1
    if available is None:
        return 2
    two = sum(sorted(sizes)[-2:]) * PAGEFIND_BYTES_PER_PAGE
    return 2 if two * 5 // 4 <= available else 1


_MAIN_ONLY = re.compile(r"^pagefind/(?:pagefind(?:-worker)?\.js|wasm\.[a-z-]+\.pagefind)$")


def _fragments_of(built: Mapping[str, Mapping[str, bytes]], url: str) -> list[str]:
    """The ids (file names) Pagefind gave the fragment of the page at ``url`` in each part."""
    found = set()
    for files in built.values():
        for rel, data in files.items():
            raw = gzip.decompress(data) if "/fragment/" in rel else b""
            if url.encode() in raw and json.loads(raw.removeprefix(b"pagefind_dcd")).get("url") == url:
                found.add(rel.rpartition("/")[2].removesuffix(".pf_fragment"))
    if built and not found:
        raise RuntimeError(f"Pagefind indexed no page at {url}")
    return sorted(found)


class _Either:
    """Set when the caller's ``interrupt`` is, or once ``set()`` here (without touching the caller's)."""

    def __init__(self, interrupt: Interrupt | None) -> None:
        self.interrupt, self.own = interrupt, threading.Event()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.interrupt is not None and self.interrupt.is_set())

    def set(self) -> None:
        self.own.set()


def _callers(interrupt: Interrupt | None) -> Interrupt | None:
    """The caller's own ``interrupt`` (the preview's; build.py gives none), not this build's stop."""
    return interrupt.interrupt if isinstance(interrupt, _Either) else interrupt


class Interrupted(Exception):
    """The index was being built when ``interrupt`` was set: Pagefind was stopped, nothing is published."""


def _command(source: Path, output: Path, site: Site) -> list[str]:
    from pagefind.service import _must_get_executable  # the bundled binary, as `python -m pagefind` finds it

    return [str(_must_get_executable()), "--site", str(source), "--output-path", str(output),
            "--force-language", site.language, "--quiet"]


def _link_or_copy(source: str, target: Path) -> None:
    """``target`` as a second name of ``source`` (a copy across file systems): Pagefind only reads it."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


SCRATCH_PREFIX = "pagefind-"
"""The name of Pagefind's scratch folders, in the build cache's folder (``.site.cache/``), where
they are nothing a script that looks beside site/ finds, even while a program removes them."""


def scratch_parent(out: Path) -> Path:
    from constat.cache import folder

    return folder(out)


def remove_scratch(out: Path) -> None:
    """Remove the scratch folders a killed build left for the output folder ``out`` (no other
    build of it runs), but those a program or a thread is removing (_start_removals)."""
    for remover, folders in list(_REMOVERS):
        if remover.poll() is not None:  # done (or killed: what it left is removed below), and reaped
            _REMOVERS.remove((remover, folders))
            _REMOVING.difference_update(folders)
    for left in sorted(scratch_parent(out).glob(SCRATCH_PREFIX + "*")):
        if str(left) not in _REMOVING and not held_elsewhere(left):  # (maybe by the build before this one)
            shutil.rmtree(left, ignore_errors=True)


_REMOVING: set[str] = set()
"""Scratch folders that another process or a thread is removing for this one."""
_ASIDE: list[str] = []
"""Scratch folders to remove meanwhile, once the threads indexing the parts have stopped."""
_REMOVERS: list[tuple[subprocess.Popen[bytes], list[str]]] = []
"""The processes removing them, and which, until reaped."""
_REMOVE = "import shutil, sys\nfor folder in sys.argv[1:]:\n    shutil.rmtree(folder, ignore_errors=True)"


def _remove_aside(scratch: str) -> None:
    """Remove a scratch folder meanwhile, in the preview: its index was built, or a save stopped it.

    Removing the pages linked for a part (some 4,000 files and folders at 10,000 claims) took
    0.45 s, and 0.6 s for two parts of the preview's first look at a save that stopped the
    index: the save is shown first, and the preview's builder is free for the next one. Noted
    here by the thread that indexed it, and removed once index_parts' threads have stopped
    (_start_removals)."""
    _REMOVING.add(scratch)
    _ASIDE.append(scratch)


def _start_removals() -> None:
    """Remove the scratch folders set aside by _remove_aside in a program of its own
    (forking.start_holding: while a forked copy of the preview's 500 MB builder lived, the save's
    first look took 0.41-0.55 s, against 0.24-0.25 s this way), which holds their locks, so that
    no other build removes them meanwhile (remove_scratch). In a thread if it cannot be started.
    A process that ends first leaves them to the next build."""
    folders = list(_ASIDE)
    _ASIDE.clear()
    if not folders:
        return
    try:
        _REMOVERS.append((start_holding([sys.executable, "-c", _REMOVE, *folders], folders), folders))
    except OSError:
        def remove_here() -> None:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            _REMOVING.difference_update(folders)

        threading.Thread(target=remove_here, daemon=True).start()


def _scratch_folder(out: Path | None) -> str:
    """A new scratch folder: in the build cache's folder when there is an output folder, on its
    disk, so the pages are linked there, never copied, and what a killed build leaves (SIGKILL,
    the kernel out of memory) the next one removes. In the system's temporary folder otherwise,
    or when the cache's folder cannot be made (a file in its place: the build goes on without a
    cache)."""
    if out is not None:
        with contextlib.suppress(OSError):
            parent = scratch_parent(out)
            parent.mkdir(parents=True, exist_ok=True)
            return tempfile.mkdtemp(dir=parent, prefix=SCRATCH_PREFIX)
    return tempfile.mkdtemp(prefix="constat-pagefind-")


def _index(pages: Mapping[str, bytes | str], site: Site,
           interrupt: Interrupt | None, out: Path | None = None) -> dict[str, bytes]:
    # The pages go through a scratch folder to Pagefind's own command (the binary the pagefind
    # package ships), and the index comes back as the files it writes there. Its Python API was
    # dropped: it waits about 0.1 s per reply, its get_files reply overflows its 2 MiB reader from
    # about a thousand pages on (the build waited forever), and it stops Pagefind as soon as it
    # replies to WriteFiles, which on a busy machine left some index files empty (2 runs in 20).
    # The command exits only once every file is written. Pages are written in sorted order:
    # Pagefind indexes them in the order the folder lists them.
    scratch, here = _scratch_folder(out), True
    try:
        source, output = Path(scratch) / "pages", Path(scratch) / "index"
        for n, path in enumerate(sorted(pages)):
            if n % 256 == 0 and interrupt is not None and interrupt.is_set():
                raise Interrupted  # writing 11,000 pages for Pagefind takes seconds too
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            page = pages[path]
            if isinstance(page, bytes):
                target.write_bytes(page)
            else:  # a page's file, in the spool or the site: Pagefind only reads it
                _link_or_copy(page, target)
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
        files = {f"pagefind/{p.relative_to(output).as_posix()}": p.read_bytes()
                 for p in sorted(output.rglob("*")) if p.is_file() and not _LEFT_OUT.search(p.name)}
        # Built. The preview goes on while the folder is removed (0.45 s for a part of 4,000
        # pages); build.py removes it before it returns, leaving the cache's folder at rest
        # for whatever comes next (a CI job saving it, say).
        here = _callers(interrupt) is None
    except Interrupted:
        # A save in the preview: shown first, the folder removed meanwhile. A build that stops
        # (Ctrl+C, a stop signal: this build's own stop) or fails removes it before it ends.
        caller = _callers(interrupt)
        here = caller is None or not caller.is_set()
        raise
    finally:
        if here:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            _remove_aside(scratch)
    return files
