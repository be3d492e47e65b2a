"""Work already done, by content: parsed YAML, per-file problems, converted Markdown, folded texts.

Every table maps a key made of content (the text itself, or its hash) to what was derived from
it, so an entry can never be stale: changed content is a different key. A build starts from the
tables the previous builds saved (constat/cache.py) and records what it uses and computes; the
computed entries are journaled, and when the tables are written whole only what was used is
kept, so they hold about one project's worth. Without a saved cache the
tables start empty and everything is computed, exactly as a clean build must.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")
MISSING: Any = object()

TABLES = ("yaml", "checks", "html", "folded", "quote", "cards", "records", "templates", "words", "pages")
"""yaml: text hash → parsed data; checks: (kind, path, file hash) → the file's own problems;
html: Markdown text's hash → safe HTML; folded: body hash → folded text; quote: (body hash, quote) → position;
cards: (templates and site hash, claim digest) → a claim's card; records: (site hash, claim digest) → open-data row;
templates: ("uses", source hash) → the templates a template uses, ("code", Jinja's key and checksum) → compiled code;
words: hash of a page's indexed part → its words (search.page_words);
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
    def __init__(self, previous: dict[str, dict[Any, Any]] | None = None, *,
                 loader: Callable[[str], dict[Any, Any]] | None = None,
                 journal: dict[str, dict[Any, Any]] | None = None) -> None:
        self.loader = loader
        """Reads one saved table (constat/cache.py), the first time a build consults it; None: no saved tables."""
        self.previous: dict[str, dict[Any, Any]] = _Tables(self, previous or {})
        """The tables as saved, each read on first use: a build that never consults one (the
        converted Markdown of pages it does not render) does not pay for reading it."""
        self.based: set[str] = set()
        """Tables read from the saved files: ``journal`` holds what was added to each since it was written."""
        self.used: dict[str, dict[Any, Any]] = {t: {} for t in TABLES}
        self.misses = 0
        """Entries computed by this build rather than found: when none, the saved tables are still right."""
        self.journal: dict[str, dict[Any, Any]] = {t: {**(journal or {}).get(t, {})} for t in TABLES}
        """Entries saved since each table was written, and the entries this build computed:
        what to append to it (constat/cache.py saves the journal rather than every table)."""

    def loaded(self) -> list[str]:
        """The tables this build has read (or was given)."""
        return [t for t in TABLES if t in self.previous]

    def get(self, table: str, key: Any, compute: Callable[[], T]) -> T:
        used = self.used[table]
        if key in used:
            return used[key]  # type: ignore[no-any-return]
        previous = self.previous[table]
        if key in previous:
            value = previous[key]
        else:
            self.misses += 1
            value = self.journal[table][key] = compute()
        used[key] = value
        return value  # type: ignore[no-any-return]

    def peek(self, table: str, key: Any) -> Any:
        """The value for ``key`` (recorded as used), or MISSING."""
        if key in self.used[table]:
            return self.used[table][key]
        previous = self.previous[table]
        if key in previous:
            value = self.used[table][key] = previous[key]
            return value
        return MISSING

    def put(self, table: str, key: Any, value: Any) -> None:
        self.misses += 1
        self.used[table][key] = self.journal[table][key] = value

    def add(self, table: str, entries: dict[Any, Any]) -> None:
        """Entries computed elsewhere (prefill's workers), for the stages to find: new work, saved."""
        self.previous[table].update(entries)
        self.journal[table].update(entries)
        self.misses += len(entries)

    def stale(self, table: str) -> int:
        """Entries of a table read but not used by this build: what a compaction would drop."""
        return len(self.previous[table].keys() - self.used[table].keys())

    def keep_previous(self) -> None:
        """Count every previous entry as used: a build that stopped early (an input error) did not
        reach the render side, whose entries are still right for the build that follows the fix."""
        for table in self.loaded():
            self.used[table] = {**self.previous[table], **self.used[table]}

    def carry_over(self) -> Memo:
        """A memo for the next build in the same process: what this one used is its starting
        point; the tables it never read are read from the saved files if the next one needs them."""
        loaded = self.loaded()
        return Memo({t: {**self.used[t]} for t in loaded}, loader=self.loader,
                    journal={t: self.journal[t] for t in TABLES if t not in loaded})


class _Tables(dict[str, dict[Any, Any]]):
    """The saved tables of a memo, each read from its file when first asked for."""

    def __init__(self, memo: Memo, given: dict[str, dict[Any, Any]]) -> None:
        super().__init__({t: given[t] or {} for t in TABLES if t in given})
        self.memo = memo

    def __missing__(self, table: str) -> dict[Any, Any]:
        if table not in TABLES:
            raise KeyError(table)
        memo = self.memo
        value: dict[Any, Any] = {}
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
