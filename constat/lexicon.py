"""Constat's own search index: static JSON files that an edit updates in place.

The site's search index unless site.yaml says ``search: {engine: pagefind}``; docs/search-index.md
fixes the format, which templates/static/lexicon.js reads. Pagefind rebuilds its index from every page and cannot
update one (Pagefind/pagefind#71); here a page gives its words and their counts, the index is
the postings of every word by the first two letters of the words (a shard), and an edit that
changes a few pages rewrites the shards of the words whose counts changed on them, their
fragments and the table of pages: the same bytes a clean build writes, since each file depends
only on the pages, never on the order of the edits.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from constat.search import Interrupt
    from constat.spool import Spooled

T = TypeVar("T")
R = TypeVar("R")

FOLDER = "recherche/index/"
PAGES = FOLDER + "pages.json"
VERSION = 1
TITLE_WEIGHT = 5
"""How much a word of the title counts, for each time it is there (the text counts once)."""
MAX_COUNT = 255

_MARKS = re.compile("[\u0300-\u036f]+")
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Without accents, in lower case, œ and æ as two letters (docs/search-index.md, *Words*)."""
    text = _MARKS.sub("", unicodedata.normalize("NFD", text)).lower()
    return text.replace("œ", "oe").replace("æ", "ae") if "œ" in text or "æ" in text else text


def words(text: str) -> list[str]:
    """The folded words of a text, in order, as often as they appear: what the index counts."""
    return [word for chunk in text.split() for word in _FOLDED[chunk]]


class _Folded(dict[str, tuple[str, ...]]):
    """What is between two spaces → its words, worked out once per process: a page's text has
    some 500 of them, which the pages of a site share (words cannot span a space)."""

    def __missing__(self, chunk: str) -> tuple[str, ...]:
        if len(self) > 500_000:  # a preview that runs for days: start again
            self.clear()
        found = self[chunk] = tuple(_WORD.findall(fold(chunk)))
        return found


_FOLDED = _Folded()


def _counted(text: str, counts: dict[str, int], weight: int) -> int:
    found = words(text)
    if weight == 1 and not counts:
        counts.update(Counter(found))
    else:
        for word, n in Counter(found).items():
            counts[word] = counts.get(word, 0) + n * weight
    return len(found) * weight


def shard_name(word: str) -> str:
    """The shard a word's postings are in: its first two characters, in hex where not a-z0-9."""
    head = word[:2]
    if _PLAIN.fullmatch(head):
        return head
    return "_" + "-".join(f"{ord(c):x}" for c in head)


_PLAIN = re.compile(r"[a-z0-9]{1,2}")


@dataclass(frozen=True)
class Page:
    """What one page gives the index."""

    title: str
    text: str
    counts: dict[str, int]
    """Folded word → its count (title words weighed TITLE_WEIGHT), not capped."""
    length: int


_ATTRIBUTES = r"""(?:\s+[^\s=>"'/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*?"""
"""A tag's attributes before the one sought, each value taken whole: a value that says
data-pagefind-body (an editor's text in a meta description, say) is not the attribute."""
_OPEN = re.compile(rf"<([a-zA-Z][a-zA-Z0-9]*){_ATTRIBUTES}\s+data-pagefind-body(?=[\s/>=])[^>]*>")
_IGNORED = re.compile(rf"<([a-zA-Z][a-zA-Z0-9]*){_ATTRIBUTES}\s+data-pagefind-ignore(?=[\s/>=])[^>]*>")
_INLINE = re.compile(r"</?(?:a|abbr|b|cite|code|del|em|i|ins|mark|q|s|small|span|strong|sub|sup|time|u)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.DOTALL)
_CONTROL_SPACES = "\t\n\r\f\v"


def _element(source: str, start: int, name: str) -> int:
    """Where the element whose start tag ends at ``start`` ends (after its end tag): the end tags
    of the same name are counted against the start tags, so nested ones are passed over."""
    tags = re.compile(rf"<(/?){name}\b[^>]*>", re.IGNORECASE)
    depth = 1
    for tag in tags.finditer(source, start):
        depth += -1 if tag[1] else 1
        if depth == 0:
            return tag.end()
    return len(source)


BLOCKS_APART = " · "
"""Between the texts of two blocks (a heading and a paragraph, a label and its value) where the
first does not end a phrase: an excerpt reads « Verdict : Plutôt vrai · Les mesures… », not
« Plutôt vrai Les mesures… »."""
_PHRASE_ENDS = frozenset(".!?…:;")


def _text(fragment: str) -> str:
    """The text of some HTML: inline elements do not cut words, any other tag does, and stands as
    BLOCKS_APART where the text before it does not end a phrase; no-break spaces kept."""
    source = _INLINE.sub("", fragment)
    if _BREAK in source:  # not in a page's text: HTML has no NUL (and &#0; is U+FFFD)
        source = source.replace(_BREAK, " ")
    text = ""
    for piece in collapsed(html.unescape(_TAG.sub(_BREAK, source))).split(_BREAK):
        piece = piece.strip(" ")
        if not piece:
            continue
        if text:
            text += " " if text[-1] in _PHRASE_ENDS else BLOCKS_APART
        text += piece
    return text.strip()


_BREAK = "\x00"
"""Where a tag that cuts words was, while the text is made."""


def collapsed(text: str) -> str:
    """Each run of ASCII whitespace as one space, none at either end; other spaces (no-break
    spaces) kept. As ``re.sub(r"[ \\t\\n\\r\\f\\v]+", " ", text).strip(" ")``, two to three times
    as fast: the regular expression replaced each of a page's 700 spaces (some 0.9 s of a clean
    build's CPU at 11,000 pages)."""
    for control in _CONTROL_SPACES:
        if control in text:
            text = text.replace(control, " ")
    return " ".join(filter(None, text.split(" ")))


def page(content: bytes) -> Page | None:
    """What a rendered page gives the index: its indexed element's words, title and text; None
    when it does not say data-pagefind-body (search.is_indexed: the pages Pagefind indexes).
    A page that says it only in its text (an editor quoting the attribute, say) gives nothing:
    it is in the index, and no search finds it, as Pagefind would have it."""
    at = content.find(b"data-pagefind-body")
    if at < 0:
        return None
    start = content.rfind(b"<", 0, at)
    source = content[start:].decode("utf-8", "replace")
    found = _OPEN.match(source)
    if found is None:  # not in the first tag that has it: look from the start
        source = content.decode("utf-8", "replace")
        found = _OPEN.search(source)
        if found is None:
            return _NOTHING
    inner = source[found.end():_element(source, found.end(), found[1])]
    while "data-pagefind-ignore" in inner and (ignored := _IGNORED.search(inner)) is not None:
        inner = inner[:ignored.start()] + " " + inner[_element(inner, ignored.end(), ignored[1]):]
    title_html = _H1.search(inner)
    title = _text(title_html[1]) if title_html else ""
    text = _text(inner)
    counts: dict[str, int] = {}
    length = _counted(text, counts, 1)
    if title:
        length += _counted(title, counts, TITLE_WEIGHT - 1)  # the title is in the text once already
    return Page(title, text, counts, length)


def url_of(rel: str) -> str:
    """A page's address from the site's root: its folder for an index.html."""
    return rel.removesuffix("index.html")


def keys(paths: Iterable[str]) -> dict[str, str]:
    """Each page's fragment key (paths in sorted order): 8 hex digits of its path's SHA-256, then
    -2, -3… for a path whose key an earlier one has."""
    taken: set[str] = set()
    out = {}
    for rel in sorted(paths):
        key = base = hashlib.sha256(rel.encode()).hexdigest()[:8]
        n = 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        taken.add(key)
        out[rel] = key
    return out


def _json(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode() + b"\n"


def fragment(rel: str, entry: Page) -> bytes:
    return _json({"title": entry.title, "url": url_of(rel), "text": entry.text})


def fragment_path(key: str) -> str:
    return f"{FOLDER}f/{key}.json"


def shard_path(name: str) -> str:
    return f"{FOLDER}w/{name}.json"


def _encoded(postings: array[int]) -> list[int]:
    """(id, count, id, count…) → (gap, count…), counts capped."""
    ids = postings[0::2]
    out = list(postings)
    out[0::2] = [b - a for a, b in zip((0, *ids), ids, strict=False)]
    if max(out[1::2]) > MAX_COUNT:
        out[1::2] = [min(n, MAX_COUNT) for n in out[1::2]]
    return out


def _decoded(values: list[int]) -> dict[int, int]:
    """(gap, count…) → {id: count}, in order."""
    out = {}
    page_id = 0
    for i in range(0, len(values), 2):
        page_id += values[i]
        out[page_id] = values[i + 1]
    return out


def _pages_file(paths: list[str], page_keys: Mapping[str, str], lengths: list[int]) -> bytes:
    return _json({"version": VERSION, "pages": [page_keys[rel] for rel in paths], "lengths": lengths})


def full(paths: Iterable[str], read: Callable[[str], bytes], interrupt: Interrupt | None = None,
         put: Callable[[str, bytes], Spooled] | None = None) -> dict[str, bytes | Spooled]:
    """Every file of the index of these pages (paths in the site; ``read`` gives a page's bytes).

    ``put`` (the build's spool) takes the fragments and shards as they are made, by whichever
    process makes them: the 45 MB of the index at 11,000 pages then never cross a pipe or wait in
    this process's memory.

    ``interrupt`` (the preview's, while it brings the index up to date when idle) is looked at
    before each run of pages this process takes: once set, search.Interrupted is raised and the
    forked workers are ended with the pool (some 4 s at 11,000 pages otherwise kept a save
    waiting).

    The pages are read in runs of SHARE_PAGES, on every core on a large site (forking.shared),
    each run's counts added to postings and let go: a page's counts in a dict are some 15 KB,
    postings 8 bytes a word of a page (18 MB for the 11,000 pages of the benchmark, against some
    150 MB of the pages' dicts). The shards are then written on every core too."""
    ordered = sorted(paths)
    page_keys = keys(ordered)
    runs = [(start, ordered[start:start + SHARE_PAGES]) for start in range(0, len(ordered), SHARE_PAGES)]
    _SHARED.update(read=read, keys=page_keys, interrupt=interrupt, put=put)
    try:
        done = _on_every_core(_run, runs)
        postings: dict[str, array[int]] = {}
        lengths: list[int] = []
        files: dict[str, bytes | Spooled] = {}
        for run_lengths, fragments, run_postings in done:
            lengths += run_lengths
            files.update(fragments)
            for word, found in run_postings.items():  # in the order of the runs: ids increasing
                if word in postings:
                    postings[word] += found
                else:
                    postings[word] = found
        del done
        by_shard: dict[str, list[str]] = {}
        for word in postings:
            by_shard.setdefault(shard_name(word), []).append(word)
        _SHARED.update(postings=postings)
        shards = [sorted(by_shard[name]) for name in sorted(by_shard)]
        groups = [shards[n::SHARD_GROUPS] for n in range(min(SHARD_GROUPS, len(shards)))]
        for written in _on_every_core(_shards, groups):
            files.update(written)
    finally:
        _SHARED.clear()
    files[PAGES] = _pages_file(ordered, page_keys, lengths)
    return files


SHARE_PAGES = 500
"""Pages in a run of the index built whole: runs are shared between the cores."""
SHARD_GROUPS = 16
"""Groups of shards written by the cores, each taking the next group left."""
SHARE_FROM = 2000
"""Fewer pages are indexed in this process alone: forking costs more than it saves."""

_SHARED: dict[str, Any] = {}
"""What full() gives its runs, inherited by the forked workers (a closure cannot be pickled)."""


def _on_every_core(work: Callable[[T], R], jobs: list[T]) -> list[R]:
    from constat.forking import can_fork, shared

    pages = len(_SHARED["keys"])
    if pages >= SHARE_FROM and len(jobs) > 1 and can_fork():
        return shared(work, jobs)
    return [work(job) for job in jobs]


def _run(job: tuple[int, list[str]]) -> tuple[list[int], dict[str, bytes | Spooled], dict[str, array[int]]]:
    """A run of pages: their lengths, fragments and postings (ids from the run's first)."""
    start, paths = job
    read, page_keys, interrupt, put = _SHARED["read"], _SHARED["keys"], _SHARED["interrupt"], _SHARED["put"]
    if interrupt is not None and interrupt.is_set():  # in a forked worker, as it was at the fork: no harm
        from constat.search import Interrupted

        raise Interrupted
    postings: dict[str, array[int]] = {}
    lengths = []
    fragments: dict[str, bytes | Spooled] = {}
    for page_id, rel in enumerate(paths, start):
        entry = page(read(rel))
        if entry is None:
            raise ValueError(f"{rel} has no indexed element")
        lengths.append(entry.length)
        path, data = fragment_path(page_keys[rel]), fragment(rel, entry)
        fragments[path] = data if put is None else put(path, data)
        for word, count in entry.counts.items():
            found = postings.get(word)
            if found is None:
                found = postings[word] = array("I")
            found.append(page_id)
            found.append(count)
    return lengths, fragments, postings


def _shards(group: list[list[str]]) -> dict[str, bytes | Spooled]:
    """The files of a group of shards, each given as its words."""
    postings, put = _SHARED["postings"], _SHARED["put"]
    files: dict[str, bytes | Spooled] = {}
    for words in group:
        path, data = shard_path(shard_name(words[0])), _json({word: _encoded(postings[word]) for word in words})
        files[path] = data if put is None else put(path, data)
    return files


def update(paths: Iterable[str], changed: Mapping[str, tuple[bytes | None, bytes]],
           published: Callable[[str], bytes], files: Iterable[str],
           previous: Iterable[str] | None = None) -> tuple[dict[str, bytes], list[str]] | None:
    """The files an edit changes in the published index, and every file of the index after it.

    ``paths`` are the pages indexed now, ``previous`` those the published index has (the same by
    default); ``changed`` gives each page changed or added its bytes as the index has them (None
    for a page added) and as they are now; ``published`` reads a file of the published index,
    whose files are ``files``. None when the published index does not hold what it should (a file
    missing or damaged, a page's length that is not the one of its version given): the caller
    builds it whole.

    When no page came or went, only the shards of the words whose counts changed are rewritten.
    Otherwise the ids after the first page added or removed move, and every shard is rewritten
    with its ids renumbered: some 9 MB of JSON read and written at 11,000 pages, against their
    words counted again."""
    ordered = sorted(paths)
    before = sorted(previous) if previous is not None else ordered
    ids = {rel: n for n, rel in enumerate(ordered)}
    page_keys = keys(ordered)
    old_keys = page_keys if before == ordered else keys(before)
    have = set(files)
    try:
        table = json.loads(published(PAGES))
    except (OSError, ValueError):
        return None
    if (not isinstance(table, dict) or table.get("version") != VERSION
            or table.get("pages") != [old_keys[rel] for rel in before]
            or not isinstance(table.get("lengths"), list) or len(table["lengths"]) != len(before)):
        return None
    old_lengths = dict(zip(before, table["lengths"], strict=True))
    lengths = [old_lengths.get(rel, 0) for rel in ordered]
    out: dict[str, bytes] = {}
    moved: dict[str, dict[int, int]] = {}
    """word → page id (now) → its new count (0: the page no longer has it)"""
    for rel, (then, now) in changed.items():
        old = page(then) if then is not None else _NOTHING
        new = page(now)
        if old is None or new is None or rel not in ids or (then is None) != (rel not in old_lengths):
            return None
        if then is not None and old_lengths[rel] != old.length:
            return None
        lengths[ids[rel]] = new.length
        out[fragment_path(page_keys[rel])] = fragment(rel, new)
        for word in old.counts.keys() | new.counts.keys():
            if old.counts.get(word) != new.counts.get(word):
                moved.setdefault(word, {})[ids[rel]] = new.counts.get(word, 0)
    if len(out) != len(changed):
        return None  # two pages' fragments in one file: not this index
    # Fragments: those of pages gone, or whose key moved (a collision), go; a page whose key moved
    # keeps its bytes under the new key.
    for rel in before:
        if rel not in ids or page_keys[rel] != old_keys[rel]:
            have.discard(fragment_path(old_keys[rel]))
    for rel in ordered:
        if rel not in changed and page_keys[rel] != old_keys.get(rel):
            try:
                out[fragment_path(page_keys[rel])] = published(fragment_path(old_keys[rel]))
            except (OSError, KeyError):
                return None
    out[PAGES] = _pages_file(ordered, page_keys, lengths)
    renumber = None if before == ordered else [ids.get(rel) for rel in before]
    by_shard: dict[str, list[str]] = {}
    for word in moved:
        by_shard.setdefault(shard_name(word), []).append(word)
    if renumber is not None:
        for rel in have:
            if rel.startswith(FOLDER + "w/"):
                by_shard.setdefault(rel[len(FOLDER) + 2:].removesuffix(".json"), [])
    for name, shard_words in sorted(by_shard.items()):
        rel = shard_path(name)
        shard = {}
        if rel in have:
            try:
                shard = json.loads(published(rel))
            except (OSError, ValueError):
                return None
            if not isinstance(shard, dict):
                return None
        edited = shard_words if renumber is None else list(shard.keys() | set(shard_words))
        for word in edited:
            try:
                counts = _decoded(shard.get(word, []))
                if renumber is not None:
                    counts = {moved_to: n for old_id, n in counts.items() if (moved_to := renumber[old_id]) is not None}
            except (IndexError, TypeError):
                return None  # not postings this index writes
            for page_id, count in moved.get(word, {}).items():
                if count:
                    counts[page_id] = count
                else:
                    counts.pop(page_id, None)
            if counts:
                flat: array[int] = array("I")
                for page_id in sorted(counts):
                    flat.append(page_id)
                    flat.append(counts[page_id])
                shard[word] = _encoded(flat)
            else:
                shard.pop(word, None)
        if shard:
            out[rel] = _json(shard)
            have.add(rel)
        else:
            have.discard(rel)
            out.pop(rel, None)
    have.update(rel for rel in out if rel.startswith(FOLDER + "f/") or rel == PAGES)
    return out, sorted(have)


_NOTHING = Page("", "", {}, 0)
"""What a page added gave the index before: nothing."""
