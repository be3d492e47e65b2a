"""Stage 1, load: read the project's files into raw records that remember where every value came from."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from constat.memo import MISSING, current, digest, text_key
from constat.problems import Problem, Severity

if TYPE_CHECKING:
    import yaml

MAX_FILE_BYTES = 1_000_000
"""An input file larger than this is refused: no claim or article needs a megabyte."""
MAX_DEPTH = 32
"""Deepest nesting of YAML collections accepted; the schema needs four levels."""

ValuePath = tuple[str | int, ...]
"""Where a value sits inside a document: keys and list indexes from the top, e.g. ("sources", 0, "url")."""


class Position(NamedTuple):
    """Where a value or key starts in its file (a named tuple: a claim's file has some fifty)."""

    line: int
    """1-based."""
    column: int
    """1-based."""


@dataclass(frozen=True)
class Positions:
    values: dict[ValuePath, Position]
    keys: dict[ValuePath, Position]
    blocks: frozenset[ValuePath]
    """Values written as block scalars (``|`` or ``>``): their text starts on the next line."""


UNREAD: Any = object()
"""A Document's data not read yet (Document.read reads it)."""


class ChangedDuringBuild(Exception):
    """A file read again (its Markdown or data, which the model does not keep) is not what the build read."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.format())
        self.problem = problem

    @classmethod
    def at(cls, path: str) -> ChangedDuringBuild:
        return cls(Problem(path, 1, 1, "changed-during-build",
                           "the file changed while the site was being built: build again"))

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a render worker, re-raised here whole
        return (ChangedDuringBuild, (self.problem,))


class Document:
    """A YAML mapping read from a file, with the position of each value and of each key.

    ``path``: of the file, relative to the project root; ``sha``: the hash of the whole file's
    text, what a page built from it depends on; ``locate``: the positions, at hand after a parse,
    parsed again on first need when the data came from the cache. ``data`` is the parsed data,
    or ``UNREAD`` with ``read``: then it is read on first need (a claim known to the cache, whose
    checks and model the cache has too: a claim edit at 10,000 claims reads no other claim's
    data, 29 MB of it)."""

    __slots__ = ("__dict__", "_data", "locate", "path", "read", "sha")

    def __init__(self, path: str, data: Any, sha: str, locate: Callable[[], Positions],
                 read: Callable[[], Any] | None = None) -> None:
        self.path, self._data, self.sha, self.locate, self.read = path, data, sha, locate, read

    @property
    def data(self) -> Any:
        if self._data is UNREAD:
            assert self.read is not None
            self._data = self.read()
        return self._data

    @cached_property
    def positions(self) -> Positions:
        return self.locate()

    @property
    def values(self) -> dict[ValuePath, Position]:
        return self.positions.values

    @property
    def keys(self) -> dict[ValuePath, Position]:
        return self.positions.keys

    @property
    def blocks(self) -> frozenset[ValuePath]:
        return self.positions.blocks

    def line_in(self, where: ValuePath, offset: int) -> Position:
        """Position of the ``offset``-th line (0-based) of the text value at ``where``."""
        start = self.at(where)
        if where in self.blocks:
            return Position(start.line + 1 + offset, 1)
        return start if offset == 0 else Position(start.line + offset, 1)

    def at(self, where: ValuePath) -> Position:
        """Position of the value at ``where``, or of its nearest ancestor that exists."""
        while where not in self.values and where:
            where = where[:-1]
        return self.values.get(where, Position(1, 1))

    def key_at(self, where: ValuePath) -> Position:
        """Position of the key that names ``where``, falling back on its value."""
        return self.keys.get(where) or self.at(where)

    def problem(self, where: ValuePath, code: str, message: str, *, key: bool = False,
                severity: Severity = Severity.ERROR) -> Problem:
        pos = self.key_at(where) if key else self.at(where)
        return Problem(self.path, pos.line, pos.column, code, message, severity)


class ArticleFile:
    """An article's file: ``slug``, the file name without .md (the article's permanent address);
    ``path``; ``front``, its front matter; ``body``, the Markdown after it, which starts on line
    ``body_line`` (so positions in it can be reported); ``body_key``, the hash of ``body``
    (memo.text_key). An article known to the memo (by its file's hash) is not read: its front
    matter comes from the memo, its body is read from the file when first asked for (which must
    still be the one the build read), as only a changed claim's checks and model need it."""

    __slots__ = ("_body", "_body_key", "_read", "body_line", "front", "path", "slug")

    def __init__(self, slug: str, path: str, front: Document, body: str, body_line: int,
                 body_key: str | None = None, read: Callable[[], str] | None = None) -> None:
        self.slug, self.path, self.front, self._body, self.body_line = slug, path, front, body, body_line
        self._body_key, self._read = body_key, read

    @property
    def body(self) -> str:
        if self._body is UNREAD:
            assert self._read is not None
            self._body = self._read()
        return self._body

    @property
    def body_key(self) -> str:
        if self._body_key is None:
            self._body_key = text_key(self.body)
        return self._body_key


@dataclass(frozen=True, eq=False)
class ClaimFile:
    article_slug: str
    """The name of the folder under claims/: the article the claim was quoted in."""
    slug: str
    path: str
    doc: Document


@dataclass(frozen=True, eq=False)
class Inputs:
    """Everything read from a project, and what went wrong reading it."""

    site: Document | None
    statuses: Document | None
    articles: tuple[ArticleFile, ...]
    claims: tuple[ClaimFile, ...]
    claim_folders: tuple[tuple[str, str], ...]
    """(article slug, path) of every folder under claims/, including empty ones."""
    article_slugs: frozenset[str]
    """Every content/*.md file name, including those that failed to load."""
    problems: tuple[Problem, ...]
    root: Path | None = None
    """The project folder they were read from (the model reads a text it does not keep again from its file)."""


def load_project(root: Path) -> Inputs:
    """Read site.yaml, statuses.yaml, content/*.md and claims/*/*.yaml under ``root``."""
    problems: list[Problem] = []
    for name in ("content", "claims", "templates"):
        if (root / name).is_symlink():
            problems.append(Problem(name, 1, 1, "symlink",
                                    f"{name}/ is a symbolic link: the build reads only inside the project, "
                                    "so make it a real folder"))
    site = _load_required_yaml(root, "site.yaml", problems)
    statuses = _load_required_yaml(root, "statuses.yaml", problems)
    content = _list(root, "content", problems)
    articles = [a for a in (load_article(root, p, problems) for p in content if p.suffix == ".md") if a is not None]
    for p in content:
        if p.suffix != ".md":
            problems.append(_whole_file(root, p, "ignored-file",
                                        "not an article: only .md files belong in content/",
                                        Severity.WARNING))
    claims: list[ClaimFile] = []
    folders: list[tuple[str, str]] = []
    for folder in _list(root, "claims", problems, folders_too=True):
        if not folder.is_dir:
            problems.append(_whole_file(root, folder, "misplaced-claim",
                                        "claim files go in claims/<article>/, in the folder of their article"))
            continue
        folders.append((folder.name, _rel(root, folder)))
        for p in _list(root, f"claims/{folder.name}", problems):
            if p.suffix in (".yaml", ".yml"):
                doc = load_yaml_file(root, p, problems)
                if doc is not None:
                    claims.append(ClaimFile(folder.name, p.stem, doc.path, doc))
            else:
                problems.append(_whole_file(root, p, "ignored-file",
                                            "not a claim: only .yaml files belong in claims/<article>/",
                                            Severity.WARNING))
    slugs = frozenset(p.stem for p in content if p.suffix == ".md")
    return Inputs(site, statuses, tuple(articles), tuple(claims), tuple(folders), slugs, tuple(problems), root)


class Entry:
    """A file or folder found in the project: its absolute path and its path from the project root.

    A plain class whose name, suffix and stem are made with it: 11,000 of them at 10,000 claims,
    and functools.cached_property takes a lock on every first read (25 ms of a claim edit)."""

    __slots__ = ("is_dir", "name", "path", "rel", "stem", "suffix")

    def __init__(self, path: str, rel: str, is_dir: bool = False) -> None:
        self.path, self.rel, self.is_dir = path, rel, is_dir
        self.name = name = rel.rpartition("/")[2]
        dot = name.rfind(".")
        self.suffix = suffix = name[dot:] if 0 < dot < len(name) - 1 else ""
        self.stem = name[: -len(suffix)] if suffix else name

    def __fspath__(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and (self.path, self.rel, self.is_dir) == (other.path, other.rel, other.is_dir)

    def __hash__(self) -> int:
        return hash((self.path, self.rel, self.is_dir))

    def __repr__(self) -> str:
        return f"Entry({self.path!r}, {self.rel!r}, is_dir={self.is_dir!r})"


def editors_own(name: str) -> bool:
    """A file an editor keeps beside the one it edits, which the build passes over without a word:
    a swap or lock file (``.name``), a backup (``name~``)."""
    return name.startswith(".") or name.endswith("~")


def _list(root: Path, folder: str, problems: list[Problem], *, folders_too: bool = False) -> list[Entry]:
    """The entries of a folder in a stable order; symbolic links are refused, never followed."""
    base = f"{root}/{folder}"
    if os.path.islink(base) or not os.path.isdir(base):
        return []
    entries = []
    with os.scandir(base) as found:
        listed = sorted(found, key=lambda e: e.name)
    for e in listed:  # the kind of each entry comes with the listing: no stat per file
        if editors_own(e.name):
            continue
        entry = Entry(e.path, f"{folder}/{e.name}")
        if e.is_symlink():
            problems.append(_whole_file(root, entry, "symlink",
                                        "symbolic links are not followed: put the real file here"))
        elif e.is_file():
            entries.append(entry)
        elif e.is_dir():
            if folders_too:
                entries.append(Entry(e.path, entry.rel, is_dir=True))
            else:
                problems.append(_whole_file(root, entry, "ignored-file",
                                            f"folders inside {folder}/ are not read", Severity.WARNING))
    return entries


def _rel(root: Path, path: Path | Entry) -> str:
    return path.rel if isinstance(path, Entry) else path.relative_to(root).as_posix()


def _whole_file(root: Path, path: Path | Entry, code: str, message: str,
                severity: Severity = Severity.ERROR) -> Problem:
    return Problem(_rel(root, path), 1, 1, code, message, severity)


def _load_required_yaml(root: Path, name: str, problems: list[Problem]) -> Document | None:
    path = root / name
    if path.is_symlink():
        problems.append(Problem(name, 1, 1, "symlink", f"{name} is a symbolic link: put the real file here"))
        return None
    if not path.is_file():
        problems.append(Problem(name, 1, 1, "missing-file", f"{name} is missing: the project needs one"))
        return None
    return load_yaml_file(root, path, problems, "front")


def load_yaml_file(root: Path, path: Path | Entry, problems: list[Problem], table: str = "yaml") -> Document | None:
    """A YAML file: a claim's (its parsed data in the memo's ``yaml`` table) or, with ``table``
    "front", site.yaml or statuses.yaml."""
    file_sha = _KNOWN.get(os.fspath(path))
    if file_sha is not None and (known := _known_document(root, path, file_sha, table)) is not None:
        return known
    text = read_text(root, path, problems)
    if text is None:
        return None
    doc, found = parse_yaml(text, _rel(root, path), table=table)
    problems.extend(found)
    mapping = ("file", file_sha)
    if doc is not None and not found and file_sha is not None and current().peek("front", mapping) != doc.sha:
        current().put("front", mapping, doc.sha)
    return doc


def _known_document(root: Path, path: Path | Entry, file_sha: str, table: str) -> Document | None:
    """The document of a file whose bytes hash to ``file_sha`` and that parsed without a problem
    before, from the memo, without reading the file; None when the memo does not have it.

    A claim's data is read from the memo when first asked for (Document.data), not now: an
    unchanged claim's checks and model come from the memo too. Should the memo have let go of it
    by then, the file is parsed again, and must still be the one the build read."""
    memo = current()
    key = memo.peek("front", ("file", file_sha))
    if key is MISSING or (table != "yaml" and not memo.has(table, key)):
        return None  # (a claim's data, should the memo lack it, is the file parsed again: below)
    rel = _rel(root, path)

    def parsed() -> Document:  # the file as the build read it, parsed again
        text = read_text(root, path, [])
        doc = _parse(text, rel, 0, key)[0] if text is not None and digest(text) == key else None
        if doc is None:
            raise ChangedDuringBuild.at(rel)
        return doc

    def read() -> Any:
        data = memo.peek(table, key)
        return parsed().data if data is MISSING else data

    if table == "yaml":
        return Document(rel, UNREAD, key, lambda: parsed().positions, read)
    return Document(rel, memo.peek(table, key), key, lambda: parsed().positions)


def load_article(root: Path, path: Path | Entry, problems: list[Problem]) -> ArticleFile | None:
    rel = _rel(root, path)
    file_sha = _KNOWN.get(os.fspath(path))
    if file_sha is not None and (known := _known_article(root, path, rel, file_sha)) is not None:
        return known
    text = read_text(root, path, problems)
    if text is None:
        return None
    article, front_key = _article(rel, Path(rel).stem, text, problems)
    if article is not None and front_key is not None and file_sha is not None:
        current().put("front", ("article", file_sha), (article.front.sha, front_key, article.body_line,
                                                        article.body_key))
    return article


def _known_article(root: Path, path: Path | Entry, rel: str, file_sha: str) -> ArticleFile | None:
    """The article of a file whose bytes hash to ``file_sha`` and whose front matter parsed without
    a problem before, from the memo, without reading the file; None when the memo does not have it."""
    memo = current()
    known = memo.peek("front", ("article", file_sha))
    if known is MISSING:
        return None
    sha, front_key, body_line, body_key = known
    data = memo.peek("front", front_key)
    if data is MISSING:
        return None

    def parsed() -> ArticleFile:  # the file as the build read it, parsed again
        text = read_text(root, path, [])
        article = _article(rel, Path(rel).stem, text, [])[0] if text is not None and digest(text) == sha else None
        if article is None:
            raise ChangedDuringBuild.at(rel)
        return article

    front = Document(rel, data, sha, lambda: parsed().front.positions)
    return ArticleFile(Path(rel).stem, rel, front, UNREAD, body_line, body_key, lambda: parsed().body)


def _article(rel: str, slug: str, text: str, problems: list[Problem]) -> tuple[ArticleFile | None, str | None]:
    """An article's file read from its text, and the memo's key of its front matter's data (None
    when the front matter did not parse cleanly)."""
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        problems.append(Problem(rel, 1, 1, "front-matter",
                                "an article starts with its front matter: a line '---', the fields "
                                "(title, publisher, published…), then another line '---'"))
        return None, None
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        problems.append(Problem(rel, 1, 1, "front-matter",
                                "the front matter is not closed: add a line '---' after its last field"))
        return None, None
    front_text = "\n".join(lines[1:end])
    front, found = parse_yaml(front_text, rel, line_offset=1, sha=digest(text))
    problems.extend(found)
    if front is None:
        return None, None
    return ArticleFile(slug, rel, front, "\n".join(lines[end + 1:]), end + 2), None if found else digest(front_text)


_CONTENTS: dict[str, bytes] = {}
"""Files already read by this build (pipeline.quick_inputs), by absolute path: not read twice."""
_KNOWN: dict[str, str] = {}
"""The hash of every input file's bytes, by absolute path, as pipeline.quick_inputs found it
(read, or vouched for by its size, times and inode): a YAML file parsed before is not read again."""


def remember_contents(contents: dict[str, bytes], known: dict[str, str] | None = None) -> None:
    _CONTENTS.clear()
    _CONTENTS.update(contents)
    _KNOWN.clear()
    _KNOWN.update(known or {})


def read_text(root: Path, path: Path | Entry, problems: list[Problem]) -> str | None:
    """The file as text with \\n line ends, or None and a problem when it cannot be text."""
    rel = _rel(root, path)
    data = _CONTENTS.get(os.fspath(path))
    if data is None:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        size = os.stat(path).st_size
        problems.append(Problem(rel, 1, 1, "file-too-large",
                                f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}: split it or shorten it"))
        return None
    if b"\x00" in data:
        problems.append(Problem(rel, 1, 1, "binary-file", "file holds NUL bytes: it is not a text file"))
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte order mark carries no meaning: some Windows editors add it
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.append(Problem(rel, line, column, "not-utf8",
                                f"byte 0x{data[exc.start]:02x} is not UTF-8: save the file as UTF-8"))
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@cache
def _yaml_tools() -> tuple[Any, Any, Any, Any]:
    """PyYAML's scalar node, resolver, constructor and C loader, imported when a file is first
    parsed: a build that finds every file's YAML in the memo (nothing to do, a template edit)
    does not import PyYAML (some 20 ms of the process's start)."""
    import yaml

    return (yaml.ScalarNode, yaml.resolver.Resolver(), yaml.constructor.SafeConstructor(),
            getattr(yaml, "CSafeLoader", yaml.SafeLoader))

_SHARED = 64
"""Keys, and text values up to this length (a status, a name, a date, a publisher), are interned:
one string for all the files that write it. The memo's table of parsed YAML, read by every build
that is not the first, then writes and reads each once (cache.SHARED: at 10,000 claims, 103 ms to
read instead of 129), and the model holds each once."""

_HIDDEN_BREAKS = frozenset("\x85\u2028\u2029")
"""Line breaks for YAML but not for editors: positions after them would not match the editor's lines."""

_HINTS = {
    "mapping values are not allowed":
        'a value that contains ": " must be put in quotes, e.g. title: "Objectif : agir"',
    "could not find expected ':'": 'each line needs the form "key: value"; a long text goes in quotes or after "|"',
    "found unexpected end of stream": "a quotation mark is not closed",
    "did not find expected key": "check the indentation: keys of one mapping start in the same column",
    "did not find expected '-' indicator": "check the indentation of the list items",
}


_NO_ALIAS = "YAML anchors (&) and aliases (*) are not accepted: write the value out in full"


class _Refused(Exception):
    """Raised inside parse_yaml only, for input it refuses to build at all."""

    def __init__(self, mark: Any, code: str, message: str) -> None:
        super().__init__(message)
        self.mark, self.code, self.message = mark, code, message


def parse_yaml(text: str, path: str, line_offset: int = 0, sha: str | None = None,
               table: str = "front") -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document into plain values plus the position of every value and key.

    Built from the parser's events rather than PyYAML's composer, so that what YAML would
    let through silently is caught where it happens: duplicate keys, anchors and aliases
    (the billion-laughs expansion), nesting deeper than MAX_DEPTH, tags that build objects.
    Dates stay strings: the validate stage checks them and says what is wrong.

    ``sha`` is the hash of the whole file (the text itself when None). Text parsed before, by this
    build or the previous one, is not parsed again: its data comes from the memo, and its positions
    are parsed only if a problem needs one. ``table``: the memo's table it is kept in ("yaml"
    for claims, "front" for the other files).
    """
    key = digest(text)
    sha = sha or key
    memo = current()
    # A claim's text is looked for by its file's hash first (load_yaml_file): one whose file is
    # not known is new, and looking for it would read every claim's data (29 MB at 10,000 claims).
    data = memo.peek(table, key) if table != "yaml" else MISSING
    if data is not MISSING:
        def reparse() -> Positions:
            doc, _ = _parse(text, path, line_offset, sha)
            assert doc is not None, "cached YAML no longer parses"
            return doc.positions
        return Document(path, data, sha, reparse), []
    doc, problems = _parse(text, path, line_offset, sha)
    if doc is not None:
        memo.put(table, key, doc.data)
    return doc, problems


def _parse(text: str, path: str, line_offset: int, sha: str) -> tuple[Document | None, list[Problem]]:
    problems = []
    suspect = "\t" in text or any(char in text for char in _HIDDEN_BREAKS)  # seldom: then line by line
    for n, source_line in enumerate(text.split("\n") if suspect else ()):
        if "\t" in source_line[:len(source_line) - len(source_line.lstrip())]:
            problems.append(Problem(path, n + 1 + line_offset, source_line.index("\t") + 1, "tab",
                                    "tab in indentation: YAML indents with spaces; replace the tab with spaces"))
        for column, char in enumerate(source_line):
            if char in _HIDDEN_BREAKS:
                problems.append(Problem(path, n + 1 + line_offset, column + 1, "hidden-line-break",
                                        f"invisible line break U+{ord(char):04X} (often pasted from a web page): "
                                        "delete it or replace it with a space"))
    if problems:
        return None, problems
    values: dict[ValuePath, Position] = {}
    keys: dict[ValuePath, Position] = {}
    blocks: set[ValuePath] = set()

    first_line = 1 + line_offset

    def pos(mark: Any) -> Position:  # written out where a key or value is kept, the commonest calls
        return Position(mark.line + first_line, mark.column + 1)

    import yaml  # see _yaml_tools

    tools = _yaml_tools()
    root: Any = None
    where: ValuePath
    # Each frame: the collection being filled, its path, and for mappings the pending key.
    stack: list[list[Any]] = []
    documents = 0
    # Events are told apart by their exact class, the commonest first (scalars, then the starts
    # and ends of collections), each looked at once, rather than by a chain of isinstance; with
    # positions as named tuples and _RESOLVED, the benchmark's 10,000 claim files parse in 3.8 s
    # instead of 5.7 (PyYAML's events alone: 1.9 s).
    scalar, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end, document_start = yaml.MappingEndEvent, yaml.SequenceEndEvent, yaml.DocumentStartEvent
    loader = None
    try:
        loader = tools[3](text)  # the pure Python loader reads the text here: errors are caught below
        next_event = loader.get_event  # yaml.parse's loop, without a generator around each event
        while (event := next_event()) is not None:
            kind = type(event)
            if kind is scalar:
                if event.anchor is not None:
                    raise _Refused(event.start_mark, "yaml-alias", _NO_ALIAS)
                top = stack[-1] if stack else None
                if top is not None and top[2] is None and type(top[0]) is dict:
                    # A mapping key: kept as the text written, whatever YAML would resolve it to.
                    mapping, parent, _ = top
                    if event.value in mapping:
                        first = keys[(*parent, event.value)]
                        raise _Refused(event.start_mark, "duplicate-key",
                                       f'duplicate key "{event.value}" (first at line {first.line}): '
                                       "remove one of them")
                    name = sys.intern(event.value)  # see _SHARED
                    top[2] = name
                    mark = event.start_mark
                    keys[(*parent, name)] = Position(mark.line + first_line, mark.column + 1)
                    mapping[name] = None
                    continue
                value: Any = _scalar(event, tools)
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None:
                    raise _Refused(event.start_mark, "yaml-alias", _NO_ALIAS)
                if event.tag not in (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
                    raise _Refused(event.start_mark, "yaml-tag", f"YAML tag {event.tag} is not accepted: remove it")
                top = stack[-1] if stack else None
                if top is not None and top[2] is None and type(top[0]) is dict:
                    raise _Refused(event.start_mark, "yaml-syntax", "a key must be plain text, not a list or mapping")
                value = {} if kind is mapping_start else []
            elif kind is mapping_end or kind is sequence_end:
                stack.pop()
                continue
            elif kind is document_start:
                documents += 1
                if documents > 1:
                    raise _Refused(event.start_mark, "yaml-syntax",
                                   "only one YAML document per file: remove the second '---'")
                continue
            elif kind is yaml.AliasEvent:
                raise _Refused(event.start_mark, "yaml-alias", _NO_ALIAS)
            else:  # the stream's start and end, a document's end
                continue
            if top is None:
                where = ()
                root = value
            elif type(top[0]) is dict:
                where = (*top[1], top[2])
                top[0][top[2]] = value
                top[2] = None
            else:
                where = (*top[1], len(top[0]))
                top[0].append(value)
            mark = event.start_mark
            values[where] = Position(mark.line + first_line, mark.column + 1)
            if kind is scalar:
                if event.style == "|" or event.style == ">":
                    blocks.add(where)
            else:
                if len(stack) >= MAX_DEPTH:
                    raise _Refused(event.start_mark, "too-deep",
                                   f"values nested more than {MAX_DEPTH} levels deep are refused")
                stack.append([value, where, None])
    except _Refused as refused:
        p = pos(refused.mark)
        return None, [Problem(path, p.line, p.column, refused.code, refused.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1 + line_offset, mark.column + 1) if mark else (1 + line_offset, 1)
        problem = (exc.problem or "invalid YAML").strip()
        hint = next((h for k, h in _HINTS.items() if k in problem), "")
        message = f"invalid YAML: {problem}" + (f" ({exc.context})" if exc.context else "")
        return None, [Problem(path, line, column, "yaml-syntax", message + (f": {hint}" if hint else ""))]
    except yaml.YAMLError as exc:  # reader errors (e.g. control characters) carry an offset only
        offset = int(getattr(exc, "position", 0) or 0)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return None, [Problem(path, line + line_offset, column, "yaml-syntax", f"invalid YAML: {exc}")]
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return None, [Problem(path, 1 + line_offset, 1, "empty-file", "the file has no content")]
    found = Positions(values, keys, frozenset(blocks))
    return Document(path, root, sha, lambda: found), []


_RESOLVED: dict[str, str] = {}
"""The tag PyYAML's resolver gives each plain scalar, by its text (the same few thousand names,
roles, dates and verdicts in every claim's file): the resolver tries a dozen expressions."""


def _scalar(event: yaml.ScalarEvent, tools: tuple[Any, Any, Any, Any]) -> Any:
    scalar_node, resolver, constructor, _ = tools
    tag = event.tag
    if (tag is None or tag == "!") and not event.implicit[0]:
        tag = _STR  # quoted or a block: text, as the resolver would say after its checks
    elif tag is None or tag == "!":
        tag = _RESOLVED.get(event.value)
        if tag is None:
            if len(_RESOLVED) > 100_000:  # a preview that runs for days: start again
                _RESOLVED.clear()
            tag = _RESOLVED[event.value] = resolver.resolve(scalar_node, event.value, event.implicit)
    if tag == _STR:
        return sys.intern(event.value) if len(event.value) <= _SHARED else event.value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return event.value.lower() in ("yes", "true", "on")
    if tag in (_INT, _FLOAT):
        node = scalar_node(tag, event.value)
        return (constructor.construct_yaml_int if tag == _INT else constructor.construct_yaml_float)(node)
    if tag == _TIMESTAMP:
        return sys.intern(event.value)
    raise _Refused(event.start_mark, "yaml-tag", f"YAML tag {tag} is not accepted: write plain text")
