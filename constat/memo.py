"""Work already done, by content: parsed YAML, per-file problems, converted Markdown, folded texts.

Every table maps a key made of content (the text itself, or its hash) to what was derived from
it, so an entry can never be stale: changed content is a different key. A build starts from the
tables the previous builds saved (constat/cache.py) and records what it uses and computes; the
computed entries are journaled, and when the tables are written whole only what was used (or
touched: kept without being read) is kept, so they hold about one project's worth. Without a saved cache the
tables start empty and everything is computed, exactly as a clean build must.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")
MISSING: Any = object()

TABLES = ("front", "yaml", "checks", "html", "folded", "quote", "claims", "cards", "records", "templates", "pages")
"""front: ("file", a claim file's hash) → the hash of its text, and text hash → the parsed data of
site.yaml, statuses.yaml and the articles' front matter (what every build reads);
yaml: a claim file's text hash → its parsed data (read only when a claim is new or changed);
checks: (kind, path, file hash) → the file's own problems, ("names", path, text hash) → the
person and themes a claim names (what the checks across files need of every claim);
claims: the claim's digest → the model's claim, its article, person, verdict and themes named (model.claim_model);
html: Markdown text's hash → safe HTML; folded: body hash → folded text; quote: (body hash, quote) → position;
cards: (templates and site hash, claim digest) → a claim's card; records: (site hash, claim digest) → open-data row;
templates: ("uses", source hash) → the templates a template uses, ("code", Jinja's key and checksum) → compiled code;
pages: (template and site hash, claim digest) → the claim page's path, key, permalink and date."""


DIGEST_SIZE = 16


def digest(data: bytes | str) -> str:
    """A short content hash (BLAKE2b, 128 bits), the key of every table."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.blake2b(raw, digest_size=DIGEST_SIZE).hexdigest()


@lru_cache(maxsize=8192)
def text_key(text: str) -> str:
    """digest() of a text used as a key many times (an article body, once per claim quoting it)."""
    return digest(text)


class Memo:
    def __init__(self, previous: Mapping[str, MutableMapping[Any, Any]] | None = None, *,
                 loader: Callable[[str], MutableMapping[Any, Any]] | None = None,
                 journal: dict[str, dict[Any, Any]] | None = None) -> None:
        self.loader = loader
        """Reads one saved table (constat/cache.py), the first time a build consults it; None: no saved tables."""
        self.previous: dict[str, MutableMapping[Any, Any]] = _Tables(self, previous or {})
        """The tables as saved, each read on first use: a build that never consults one (the
        converted Markdown of pages it does not render) does not pay for reading it."""
        self.based: set[str] = set()
        """Tables read from the saved files: ``journal`` holds what was added to each since it was written."""
        self.dropped: set[str] = set()
        """Tables let go of though not written whole (``drop``): only their journal is saved."""
        self.used: dict[str, dict[Any, Any]] = {t: {} for t in TABLES}
        self.touched: dict[str, set[Any]] = {t: set() for t in TABLES}
        """Keys this build needs kept though it did not ask for their value (touch): what a later
        build will ask for, such as the converted Markdown of pages it did not render."""
        self.misses = 0
        """Entries computed by this build rather than found: when none, the saved tables are still right."""
        self.journal: dict[str, dict[Any, Any]] = {t: {**(journal or {}).get(t, {})} for t in TABLES}
        """Entries saved since each table was written, and the entries this build computed:
        what to append to it (constat/cache.py saves the journal rather than every table)."""
        self.built_with: frozenset[str] | None = None
        """The tables read when the build ended (``end_build``); None while it runs."""

    def loaded(self) -> list[str]:
        """The tables this build has read (or was given)."""
        return [t for t in TABLES if t in self.previous]

    def get(self, table: str, key: Any, compute: Callable[[], T]) -> T:
        used = self.used[table]
        if key in used:
            return used[key]  # type: ignore[no-any-return]
        previous = self.previous[table]
        value = previous.get(key, MISSING)  # MISSING too for a damaged entry of a keyed table
        if value is MISSING:
            self.misses += 1
            value = self.journal[table][key] = compute()
        elif getattr(previous, "in_file", False):
            self.touched[table].add(key)  # kept, and read again from the file if asked for again
            return value  # type: ignore[no-any-return]
        used[key] = value
        return value  # type: ignore[no-any-return]

    def peek(self, table: str, key: Any) -> Any:
        """The value for ``key`` (recorded as used), or MISSING."""
        if key in self.used[table]:
            return self.used[table][key]
        value = self.previous[table].get(key, MISSING)
        if value is not MISSING:
            self.used[table][key] = value
        return value

    def has(self, table: str, key: Any) -> bool:
        """Whether the memo has an entry for ``key``, without reading its value."""
        return key in self.used[table] or key in self.previous[table]

    def put(self, table: str, key: Any, value: Any) -> None:
        self.misses += 1
        self.used[table][key] = self.journal[table][key] = value

    def add(self, table: str, entries: dict[Any, Any]) -> None:
        """Entries computed elsewhere (prefill's workers), for the stages to find: new work, saved."""
        self.previous[table].update(entries)
        self.journal[table].update(entries)
        self.misses += len(entries)

    def touch(self, table: str, keys: Iterable[Any]) -> None:
        """Keep these entries, as if used, without reading their values."""
        self.touched[table].update(keys)

    def stale(self, table: str) -> int:
        """Entries of a table read but neither used nor touched by this build: what a compaction would drop."""
        return self.census(table)[0]

    def kept(self, table: str) -> list[Any]:
        """The keys of the entries to keep that this build did not ask for (touched, in the saved table)."""
        return list(filter(_membership(self.previous[table]), self.touched[table] - self.used[table].keys()))

    def census(self, table: str) -> tuple[int, int]:
        """(``stale``, the number of ``kept``), without a set of the table's keys made or looked
        through: the entries used come from the saved table or were computed by this build, which
        journaled them, so those used and not saved are among the (few) journaled. At 10,000
        claims, deciding at a claim edit's end whether to write each table whole took some 85 ms,
        most of it sets of 10,000 to 41,000 keys made and compared."""
        previous, used = self.previous[table], self.used[table]
        has = _membership(previous)
        kept = len(self.kept(table))
        new = sum(1 for k in self.journal[table] if k in used and not has(k))
        return len(previous) - (len(used) - new) - kept, kept

    def reread(self, table: str, saved: MutableMapping[Any, Any]) -> None:
        """Take a table saved already (cache.save_early) from its file from now on, rather than
        hold its values: those this build used or touched stay touched, and nothing is left to save."""
        self.touched[table].update(self.used[table])
        self.previous[table], self.used[table], self.journal[table] = saved, {}, {}
        self.based.add(table)

    def drop(self, table: str) -> None:
        """Let go of a table that stays as its file has it (cache.save_early): nothing of it is
        asked for again; its journal, the entries added since the file was written, is still saved."""
        self.previous[table], self.used[table], self.touched[table] = {}, {}, set()
        self.based.add(table)
        self.dropped.add(table)

    def forget(self, table: str) -> None:
        """Let go of a table saved already (cache.save_early): nothing of it is asked for again,
        and saving the memo finds nothing more to write of it: its file holds its journal too."""
        self.drop(table)
        self.journal[table] = {}

    def keep_previous(self) -> None:
        """Count every previous entry as used: a build that stopped early (an input error) did not
        reach the render side, whose entries are still right for the build that follows the fix."""
        for table in self.loaded():
            self.touch(table, self.previous[table].keys())

    def end_build(self) -> None:
        """The build is over: the tables it read are those whose unused entries it does not need.
        A table read after it (by the preview's first look at an edit, between two builds) was not
        the build's to judge, and is carried over whole."""
        self.built_with = frozenset(self.loaded())

    def carry_over(self) -> Memo:
        """A memo for the next build in the same process: what this one used or touched is its
        starting point; the tables it never read are read from the saved files if the next one needs them."""
        loaded = self.loaded()
        tables: dict[str, MutableMapping[Any, Any]] = {}
        for t in loaded:
            previous = self.previous[t]
            with_added = getattr(previous, "with_added", None)
            if with_added is None and self.built_with is not None and t not in self.built_with:
                tables[t] = {**previous, **self.used[t]}  # read after the build: nothing is known unused
            elif with_added is None:
                tables[t] = {**{k: previous[k] for k in self.kept(t)}, **self.used[t]}
            else:  # a keyed table (constat/cache.py): its values stay in the file, this build's are added
                tables[t] = with_added(self.used[t])
        return Memo(tables, loader=self.loader, journal={t: self.journal[t] for t in TABLES if t not in loaded})


def _membership(table: Mapping[Any, Any]) -> Callable[[Any], bool]:
    """``key in table`` as a function; a saved keyed table's (constat/cache.py) looks in its index
    directly, not through a method written in Python."""
    has = getattr(table, "has", None)
    return has() if has is not None else table.__contains__


class _Tables(dict[str, MutableMapping[Any, Any]]):
    """The saved tables of a memo, each read from its file when first asked for."""

    def __init__(self, memo: Memo, given: Mapping[str, MutableMapping[Any, Any]]) -> None:
        super().__init__({t: given[t] or {} for t in TABLES if t in given})
        self.memo = memo

    def __missing__(self, table: str) -> MutableMapping[Any, Any]:
        if table not in TABLES:
            raise KeyError(table)
        memo = self.memo
        value: MutableMapping[Any, Any] = {}
        if memo.loader is not None:
            value = memo.loader(table)
            value.update(memo.journal[table])  # what was added since it was written
            memo.based.add(table)
        self[table] = value
        return value


_current = Memo()


def current() -> Memo:
    return _current


def use(memo: Memo) -> Memo:
    """Make ``memo`` the one every stage consults; returns it."""
    global _current
    _current = memo
    return memo
