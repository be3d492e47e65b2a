"""The build cache: a folder beside the output folder (``.site.cache/`` for ``site/``), never published.

``memo-<table>`` is the work the previous builds did, by content (constat/memo.py), one file
per table: parsed YAML, each file's own problems, converted Markdown, folded article texts,
quote positions, cards, open-data rows…; a build reads a table when it first consults it,
and the values of a keyed table (KEYED: the converted Markdown and the claims' cards) one by one.
``memo-journal`` holds the entries computed since each table was written whole (see save_memo).
``state`` is what the previous build read and wrote: the hash of every input, the problems it
reported, the key and manifest of every output file (constat/write.py), and the back buffer's.

Both are keyed by content, never by modification time alone (a git checkout changes every
mtime; see pipeline.quick_inputs for when a file is not read again), and both start with a
header naming the version of the code and libraries that wrote them and a checksum of their
payload: a file written by another version, cut short or damaged is ignored, never trusted,
and the build then does the work again. The cache is local state, as trusted as
``.venv``: it is never committed (``.gitignore``) and must not be restored from an untrusted source.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any, BinaryIO

from constat.memo import MISSING, TABLES, Memo, digest
from constat.problems import Problem
from constat.write import Manifest

_MAGIC = b"constat-cache/1 "
_LIBRARIES = ("markdown", "jinja2", "markupsafe", "nh3", "pyyaml", "jsonschema", "jsonschema-rs", "pagefind")
_CODE = Path(__file__).resolve().parent


def folder(out: Path) -> Path:
    return out.parent / f".{out.name}.cache"


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Each library's installed version ("absent" if none), as importlib.metadata gives it.

    Read from the names of the ``name-version.dist-info`` folders on sys.path (the first found,
    as importlib.metadata finds it): importing importlib.metadata and reading each library's
    METADATA took some 15 ms of every build and every check. A library installed otherwise (an
    .egg-info) is asked of importlib.metadata."""
    wanted = {_normalized(name): name for name in names}
    found: dict[str, str] = {}
    ask: list[str] = []
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for item in listing:
            stem, dot, kind = item.rpartition(".")
            if kind not in ("dist-info", "egg-info") or not dot:
                continue
            name, _, version = stem.partition("-")
            library = wanted.get(_normalized(name))
            if library is None or library in found or library in ask:
                continue
            if kind == "dist-info" and version and "-" not in version:
                found[library] = version
            else:
                ask.append(library)
    ask += [name for name in wanted.values() if name not in found and name not in ask]
    if ask:
        from importlib import metadata

        for name in ask:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                found[name] = "absent"
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


@cache
def code_version() -> str:
    """A hash of Constat's own code and schemas, Python's version and the libraries' versions."""
    parts = [sys.version]
    versions = library_versions(_LIBRARIES)
    parts += [f"{name} {versions[name]}" for name in _LIBRARIES]
    for path in sorted([*_CODE.glob("*.py"), *(_CODE.parent / "schema").glob("*.json")]):
        parts.append(f"{path.name} {digest(path.read_bytes())}")
    return digest("\n".join(parts))


@dataclass
class State:
    """What the last successful build read and wrote."""

    inputs: str = ""
    """Hash of every input file and template (see pipeline.quick_inputs)."""
    seen: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)
    """Every input file's size, mtime, ctime, inode and hash when it was last read (pipeline.quick_inputs)."""
    seen_at: int = 0
    """When ``seen`` was recorded (nanoseconds since the epoch)."""
    problems: list[Problem] = field(default_factory=list)
    pages: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    """Output path → the key it was rendered from (page_key in render.render_site)."""
    site: Manifest | None = None
    back: Manifest | None = None
    search: dict[str, str] = field(default_factory=dict)
    """Each part of the search index (its folder) → what it was built from (search.part_key)."""
    search_files: dict[str, list[str]] = field(default_factory=dict)
    """Each part of the search index (its folder) → its files."""
    search_hidden: dict[str, list[str]] = field(default_factory=dict)
    """Each part of the search index (its folder) → the ids of its vocabulary page (constat/search.py)."""
    indexed: dict[str, str] = field(default_factory=dict)
    """The pages the search index covers, with the hash of their indexed part (search.indexed_part)."""
    vocabulary: dict[str, int] = field(default_factory=dict)
    """For a search in parts: every word of those pages, with the number of pages that have it."""


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the output folder's lock (in its cache folder): a second build waits for the first.

    The lock is the open file's, which forked processes share: it is not let go explicitly, so
    that a process the build forked and left working (write.Checked's, which may be writing
    files of the back buffer) holds it until its work is done, and the next build waits for it
    (forking.Aside then closes it, before it writes an answer that may never be read)."""
    try:
        folder(out).mkdir(parents=True, exist_ok=True)
        handle = open(folder(out) / "lock", "a+b")  # noqa: SIM115 - held for the whole with-block
    except OSError:
        yield  # a folder where nothing can be created: the build will say why
        return
    with handle:  # closing it lets go of the lock, once no process forked by the build holds it still
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def read(out: Path, name: str) -> Any:
    """The payload of one cache file, or None when it is missing, foreign, stale or damaged."""
    return _read(out, name)[0]


def _read(out: Path, name: str) -> tuple[Any, str]:
    """The payload and its checksum, or (None, "").

    The pickle is read from the file as it is unpickled (a table read whole first was that
    much more memory), checksummed on the way; what it gave is dropped unless the checksum of
    every byte matches."""
    header = _header()
    try:
        with open(folder(out) / name, "rb") as f:
            if f.read(len(header)) != header:
                return None, ""
            check, source = f.read(_CHECK), _Checksummed(f)
            try:
                value = pickle.load(source)
                if isinstance(value, tuple) and len(value) == 2 and value[0] == _RUNS:
                    runs, value = value[1], {}
                    for _ in range(runs):
                        value.update(pickle.load(source))
            except Exception:  # damaged: whatever it is, it is not trusted
                return None, ""
            source.read()  # bytes after the pickle are damage too
    except OSError:
        return None, ""
    return (value, check.decode()) if source.check() == check else (None, "")


_CHECK = 16


class _Checksummed:
    """A file the pickle is written to as it is made, or read from as it is unpickled, checksummed
    on the way: this detects a damaged file (not a forged one: the cache is trusted local state),
    at disk speed."""

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.crc = file, 0

    def update(self, data: bytes | memoryview) -> None:
        self.crc = zlib.crc32(data, self.crc)

    def write(self, data: bytes | memoryview) -> int:
        self.update(data)
        return self.file.write(data)

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.update(data)
        return data

    def readline(self) -> bytes:
        data = self.file.readline()
        self.update(data)
        return data

    def check(self) -> bytes:
        return f"{self.crc:0{_CHECK}x}".encode()


def _header() -> bytes:
    """What every cache file starts with: the format and the version of the code that wrote it."""
    return _MAGIC + code_version().encode() + b"\n"


@contextmanager
def _replacing(out: Path, name: str) -> Iterator[BinaryIO]:
    """A cache file to write whole, after its header: written aside, then renamed over the old
    one; if that fails, the cache goes without it (a cache that cannot be written only costs time)."""
    where = folder(out)
    tmp = where / f"{name}.tmp"
    try:
        if where.exists() and not where.is_dir():
            where.unlink()
        where.mkdir(exist_ok=True)
        f = open(tmp, "wb")  # noqa: SIM115 (closed below, once its header and body are written)
    except OSError:
        with open(os.devnull, "wb") as nowhere:  # the caller's writing goes nowhere
            yield nowhere
        return
    try:
        with f:
            f.write(_header())
            yield f
        os.replace(tmp, where / name)
    except OSError:
        pass


def write(out: Path, name: str, value: Any, *, shared: bool = False) -> None:
    """Replace one cache file whole, or leave the cache without it.

    The pickle goes to the file as it is made, never whole in memory, and its checksum is put in
    the header last. ``shared``: ``value`` is a dict whose entries share many of their objects
    (the parsed YAML's keys and short texts: constat/load.py's _SHARED); it is written in runs
    of entries, each a pickle that writes an object met twice once (see _RUN)."""
    with _replacing(out, name) as f:
        start = f.tell()
        f.write(b"0" * _CHECK)
        sink = _Checksummed(f)
        pickler = pickle.Pickler(sink, protocol=pickle.HIGHEST_PROTOCOL)
        if shared and isinstance(value, dict):
            entries = list(value.items())
            pickler.dump((_RUNS, (len(entries) + _RUN - 1) // _RUN))
            for n in range(0, len(entries), _RUN):
                pickler.clear_memo()
                pickler.dump(dict(entries[n:n + _RUN]))
        else:
            # No memo of the objects already written (it held one entry per object: +100 MB at
            # 10,000 claims). What the cache holds has no cycles (the loader refuses YAML aliases);
            # a value met twice is written twice.
            pickler.fast = True
            pickler.dump(value)
        f.seek(start)
        f.write(sink.check())


_RUNS = "constat runs"
"""First in a file written in runs (``write``'s ``shared``), with their number."""
_RUN = 1000
"""Entries per run. A pickler's memo holds every object it wrote (the whole table's would be
100 MB at 10,000 claims): cleared at each run, it holds a thousand entries' objects. The
parsed YAML of the benchmark's 10,000 claims, its keys and short texts shared: 29.2 MB against
32.5, read in 103 ms against 129 (medians of 7)."""


_COMPACT_AT = 0.2
"""Saved entries of a table the last build did not use plus its journal entries, as a share of
the used ones, from which the table is written whole again (and pruned) rather than journaled."""
_FOLD_AT = 5000
"""Journal entries of a table the build never read from which they are folded into it."""


SHARED = frozenset({"front", "yaml", "claims"})
"""Tables written in runs that keep the objects their entries share once (``write``'s ``shared``).
Only where it pays: the per-file checks, whose entries share nothing, took 2.6 times as long to read."""
KEYED = frozenset({"html", "cards"})
"""Tables kept in their file and read value by value (KeyedTable): a build often needs a few of
their 11,000 entries (a claim edit: a verdict, the cards of the lists the claim is on), and
reading them whole took 0.1 s and 90 MB of memory at 10,000 claims (the cards alone 17 MB; the
pages' words, a keyed table too until stop 22, are no longer kept: pipeline._vocabulary)."""

_TRAILER = struct.Struct("<QQI")
"""The end of a keyed table's file: where its index starts, its length, its CRC-32."""


class KeyedTable(MutableMapping[Any, Any]):
    """A saved table whose values stay in its file until one is asked for.

    Each value is stored alone (_pack) with its CRC-32 in the index: a damaged one is missing,
    and the build computes it again. Entries added in memory (``added``) come first."""

    def __init__(self, index: dict[Any, tuple[int, int, int]] | None = None, file: _Open | None = None,
                 added: dict[Any, Any] | None = None) -> None:
        self.index = index or {}
        self.file = file
        """The open file the values are read from (never mapped: a file cut short under a mapping
        would kill the process with SIGBUS; a read then only comes back short)."""
        self.added: dict[Any, Any] = dict(added or {})

    @property
    def in_file(self) -> bool:
        """Whether its values are read from the file (the memo then keeps none it reads: Memo.get)."""
        return not self.added

    def raw(self, key: Any) -> bytes | None:
        """The value as the file holds it (_pack), or None when it is not here or damaged."""
        if key in self.added:
            return _pack(self.added[key])
        where = self.index.get(key)
        if where is None:
            return None
        start, size, crc = where
        try:
            raw = os.pread(self.file.fd, size, start) if self.file is not None else b""
        except OSError:
            return None
        return raw if len(raw) == size and zlib.crc32(raw) == crc else None

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self.added:
            return self.added[key]
        raw = self.raw(key)
        if raw is None:
            return default
        try:
            return _unpack(raw)
        except Exception:  # damaged although its checksum matched: not trusted either
            return default

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, MISSING)
        if value is MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self.added or key in self.index

    def has(self) -> Callable[[Any], bool]:
        """``__contains__`` as a function, looking in the index alone when nothing was added."""
        return self.__contains__ if self.added else self.index.__contains__

    def __iter__(self) -> Iterator[Any]:
        yield from self.added
        yield from (k for k in self.index if k not in self.added)

    def __len__(self) -> int:
        return len(self.index) + sum(1 for k in self.added if k not in self.index)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.added[key] = value

    def __delitem__(self, key: Any) -> None:
        raise TypeError("a saved table is never trimmed in memory: it is written again without the entry")

    def with_added(self, entries: dict[Any, Any]) -> KeyedTable:
        """The same file, with these entries added (for the next build in the same process)."""
        return KeyedTable(self.index, self.file, {**self.added, **entries})


class _Open:
    """A file kept open for reading while a table (and the tables made from it) reads values from
    it; closed with the last of them. Forked workers read it too: pread uses no shared offset."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with suppress(OSError):
            os.close(self.fd)


def _pack(value: Any) -> bytes:
    """A value of a keyed table as its file holds it: a text as UTF-8, anything else pickled.
    Not a pickle of the text: pickling keeps a UTF-8 copy inside the str (30 MB more memory
    after writing the converted Markdown at 10,000 claims)."""
    if type(value) is str:
        return b"s" + value.encode("utf-8", "surrogatepass")
    return b"p" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(raw: bytes) -> Any:
    view = memoryview(raw)[1:]
    if raw[:1] == b"s":
        return str(view, "utf-8", "surrogatepass")
    if raw[:1] == b"p":
        return pickle.loads(view)
    raise ValueError("not a value of a keyed table")


def _read_keyed(out: Path, name: str) -> KeyedTable:
    """A keyed table's index, its values read from the file when asked for; an empty table when the file is
    missing, foreign, stale or its index damaged."""
    header = _header()
    try:
        file = _Open(os.open(folder(out) / name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
    except OSError:
        return KeyedTable()
    try:
        size = os.fstat(file.fd).st_size
        if os.pread(file.fd, len(header), 0) != header or size < len(header) + _TRAILER.size:
            return KeyedTable()
        start, length, crc = _TRAILER.unpack(os.pread(file.fd, _TRAILER.size, size - _TRAILER.size))
        if not len(header) <= start <= start + length <= size - _TRAILER.size:
            return KeyedTable()
        raw = os.pread(file.fd, length, start)
        if len(raw) != length or zlib.crc32(raw) != crc:
            return KeyedTable()
        index = pickle.loads(raw)
    except Exception:  # unreadable, cut short, or an index that does not unpickle: not trusted
        return KeyedTable()
    return KeyedTable(index, file) if isinstance(index, dict) else KeyedTable()


def _write_keyed(out: Path, name: str, entries: Iterable[tuple[Any, bytes]]) -> None:
    """Write a keyed table: each value in turn (_pack), then the index, then the trailer."""
    index: dict[Any, tuple[int, int, int]] = {}
    with _replacing(out, name) as f:
        at = f.tell()
        for key, raw in entries:
            f.write(raw)
            index[key] = (at, len(raw), zlib.crc32(raw))
            at += len(raw)
        packed = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
        f.write(packed)
        f.write(_TRAILER.pack(at, len(packed), zlib.crc32(packed)))


def write_part(out: Path, name: str, n: int, entries: Mapping[Any, Any]) -> None:
    """Part ``n`` of the keyed table ``name``, made by one of prefill's processes (gather_parts)."""
    _write_keyed(out, f"{_table(name)}.part{n}", ((key, _pack(value)) for key, value in entries.items()))


def clear_parts(out: Path, name: str) -> None:
    """Remove the parts of the keyed table ``name`` (write_part) left in the cache: a killed build's."""
    for part in folder(out).glob(f"{_table(name)}.part*"):
        with suppress(OSError):
            part.unlink()


def take_parts(out: Path, name: str, parts: int, memo: Memo) -> None:
    """The entries of ``parts`` parts (write_part) of a table the memo holds whole (not KEYED),
    added to the memo as new work, and the parts removed. A part that is missing or damaged loses
    its entries, which the build then works out again."""
    for n in range(parts):
        piece = _read_keyed(out, f"{_table(name)}.part{n}")
        memo.add(name, {key: value for key in piece.index if (value := piece.get(key, MISSING)) is not MISSING})
    clear_parts(out, name)


def gather_parts(out: Path, name: str, parts: int, memo: Memo, keys: Iterable[Any] | None = None) -> None:
    """Write the keyed table ``name`` whole: its entries in ``memo`` (those used, and ``keys`` of the
    table as saved: all of them when None), then those of ``parts`` parts (write_part), and let the
    memo read its values from the file from now on (Memo.reread). A part that is missing or damaged
    loses its entries, which the build then works out again. With no part at all, nothing is
    written: the memo keeps the table as it was."""
    pieces = [_read_keyed(out, f"{_table(name)}.part{n}") for n in range(parts)]
    if not any(piece.index for piece in pieces):
        clear_parts(out, name)
        return
    previous, used = memo.previous[name], memo.used[name]

    def entries() -> Iterator[tuple[Any, bytes]]:
        seen = set()
        for key, value in _keyed_entries(used, previous, list(previous) if keys is None else keys):
            seen.add(key)
            yield key, value
        for piece in pieces:
            for key in piece.index:
                raw = None if key in seen else piece.raw(key)  # made twice, by two processes: once
                if raw is not None:
                    seen.add(key)
                    memo.misses += 1  # new work, to be saved (as memo.add counts it)
                    yield key, raw

    _write_keyed(out, _table(name), entries())
    clear_parts(out, name)
    memo.reread(name, _read_keyed(out, _table(name)))


def _table(name: str) -> str:
    return f"memo-{name}"


def read_memo(out: Path) -> Memo:
    """The memo the previous builds saved: each table read when first consulted, plus the journal
    written since."""
    journal = read(out, "memo-journal")
    if not (isinstance(journal, dict) and all(isinstance(v, dict) for v in journal.values())):
        journal = {}
    return Memo(loader=partial(_read_table, out), journal=journal)


def _read_table(out: Path, name: str) -> MutableMapping[Any, Any]:
    if name in KEYED:
        return _read_keyed(out, _table(name))
    table = read(out, _table(name))
    return table if isinstance(table, dict) else {}


def _write_table(out: Path, name: str, values: Mapping[Any, Any], saved: Mapping[Any, Any] | None = None,
                 keys: Iterable[Any] = ()) -> None:
    """Write a table whole: ``values``, plus the entries ``keys`` of the table as ``saved``
    (a keyed table's are copied as they are in its file, never unpickled)."""
    saved = saved if saved is not None else {}
    if name not in KEYED:
        write(out, _table(name), {**{k: saved[k] for k in keys}, **values}, shared=name in SHARED)
        return

    _write_keyed(out, _table(name), _keyed_entries(values, saved, keys))


def _keyed_entries(values: Mapping[Any, Any], saved: Mapping[Any, Any], keys: Iterable[Any]
                   ) -> Iterator[tuple[Any, bytes]]:
    """What a keyed table's file holds (_pack), for ``values`` and the entries ``keys`` of ``saved``
    (a keyed table's copied as they are in its file, never unpickled)."""
    for k in keys:
        raw = saved.raw(k) if isinstance(saved, KeyedTable) else _pack(saved[k])
        if raw is not None and k not in values:
            yield k, raw
    for k, v in values.items():
        yield k, _pack(v)


def _written_whole(memo: Memo, table: str) -> bool:
    """Whether save_memo writes a table it read whole, rather than journaling its new entries."""
    if table in memo.dropped:  # let go of, its file as it was: only its journal is left to save
        return False
    if table not in memo.based:  # given, not read: its file may lack entries
        return True
    stale, kept = memo.census(table)
    return stale + len(memo.journal[table]) > _COMPACT_AT * max(len(memo.used[table]) + kept, 1)


def save_early(out: Path, memo: Memo, tables: tuple[str, ...], reread: tuple[str, ...] = ()) -> None:
    """Save ``tables`` now rather than at the end of the build, and let go of them: those the
    build will not ask for again (the parsed YAML and the per-file problems, once the model is
    built and checked), in a process that ends with the build (pipeline.build's ``lean``). A
    table save_memo would write whole (every table of a clean build) is written now; one it would
    not (an edit's) is right in its file as it is, and only its journal (the entries added since)
    is kept for save_memo (Memo.drop): a template edit at 10,000 claims held the parsed YAML to
    its end. A build that fails after this has saved entries that are right all the same: they
    are keyed by content.

    Written by a forked process (forking.Aside; here where it cannot fork): pickling a string
    keeps its UTF-8 bytes in it, and the model holds the same strings to the end. Written here,
    the clean build at 10,000 claims peaked at 571-577 MiB instead of 550."""
    from constat.forking import Aside, give_back_free_memory

    loaded = memo.loaded()
    names = [t for t in tables if t in loaded and _written_whole(memo, t)]
    keyed = [t for t in reread if t in KEYED and t in loaded and _written_whole(memo, t)]
    if names or keyed:
        def write_them() -> bool:
            for name in [*names, *keyed]:
                _write_table(out, name, memo.used[name], memo.previous[name], memo.kept(name))
            return True

        Aside(write_them).result()
    for name in tables:
        if name in names:
            memo.forget(name)
        else:  # its file is right as it is (or never read): let go of the table, not of its journal
            memo.drop(name)
    for name in keyed:
        saved = _read_keyed(out, _table(name))
        if saved.index.keys() >= {*memo.used[name], *memo.kept(name)}:  # else not written: kept in memory
            memo.reread(name, saved)
    give_back_free_memory()


def save_memo(out: Path, memo: Memo) -> None:
    """Save what a build used and computed, table by table: its new entries appended to the
    journal when they are few, else the table rewritten whole with only the entries this build used.

    At 10,000 claims the tables take some 130 MB: a build that changed a claim writes a few
    entries, and a template edit rewrites the tables of cards and pages (11 MB), not the
    parsed YAML and converted Markdown, which it used as they were.
    """
    loaded = memo.loaded()
    if not memo.misses and not any(memo.stale(t) for t in loaded):
        return  # everything used was read, and everything read was used: the saved memo is right
    rewrite = [t for t in loaded if _written_whole(memo, t)]
    for name in rewrite:
        _write_table(out, name, memo.used[name], memo.previous[name], memo.kept(name))
    fold = [t for t in TABLES if t not in loaded and len(memo.journal[t]) > _FOLD_AT]
    for name in fold:
        saved = _read_table(out, name)
        _write_table(out, name, memo.journal[name], saved, list(saved))
    # Last: a build stopped before this line leaves journal entries its tables already hold, which is harmless.
    journal = {t: entries for t, entries in memo.journal.items() if entries and t not in rewrite and t not in fold}
    if journal:
        if memo.misses or rewrite or fold:
            write(out, "memo-journal", journal)
    else:
        with suppress(OSError):
            (folder(out) / "memo-journal").unlink(missing_ok=True)
    for retired in RETIRED:
        with suppress(OSError):
            (folder(out) / retired).unlink(missing_ok=True)


RETIRED = ("memo", "memo-words")
"""Files of earlier versions' caches that nothing reads any more, removed by the next save:
the memo in a single file, and the pages' words (19 MB at 10,000 claims, until stop 22)."""


def read_state(out: Path) -> State:
    state = read(out, "state")
    return state if isinstance(state, State) else State()

