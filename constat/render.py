"""Stage 4, render: the model to the site's files (in the spool), through the Jinja2 templates in templates/."""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.meta
import jinja2.runtime
from markupsafe import Markup

from constat.cache import clear_parts, gather_parts, take_parts, write_part
from constat.claimreview import claim_review, has_claim_review, script_json
from constat.feeds import feed_entries
from constat.forking import MOST_JOBS, Aside, can_fork, cores, shared
from constat.french import count_of, date_fr, de, month_fr, plural, typography
from constat.load import ChangedDuringBuild, editors_own
from constat.markup import Highlight, highlight_quotes
from constat.memo import MISSING, current, digest
from constat.model import Article, Claim, Correction, Dossier, Site, Speaker, Status, Tag
from constat.opendata import CSV_COLUMNS, claims_csv_pieces, claims_json_pieces, new_rows, records_key, rows
from constat.problems import Problem
from constat.search import indexed_part, is_indexed, page_words
from constat.spool import Spool, Spooled


class TemplateProblem(Exception):
    """A page could not be rendered: carries the Problem that names the template, its line and the
    page (or the input file read again that changed during the build: model.ChangedDuringBuild)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.format())
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:  # raised in a render worker, re-raised here whole
        return (TemplateProblem, (self.problem,))


def _finalize(value: Any) -> Any:
    # Every plain string printed by a template gets French spacing; Markup (already HTML,
    # e.g. rendered Markdown or JSON from |tojson) is left exactly as it is.
    if isinstance(value, str) and not isinstance(value, Markup):
        return _typography(value) if len(value) <= SHORT else _typography_long(value)
    return value


SHORT = 80
_typography = lru_cache(maxsize=1 << 15)(typography)
"""typography() of the short strings templates print: a page prints some eighty, most of them on
every page (labels, names, dates): 30 % of rendering a claim's page went to it."""
_typography_long = lru_cache(maxsize=64)(typography)
"""typography() of the long ones (quotes, summaries), which a claim's page and a list or two
print: the cache kept 8 MiB of them to the end of a clean build at 10,000 claims."""


class _MemoBytecode(jinja2.BytecodeCache):
    """Compiled templates kept in the memo, by Jinja's own key (the name) and checksum (the
    source): a build that renders a few pages does not parse and compile every template again."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = current().peek("templates", ("code", bucket.key, bucket.checksum))
        if code is not MISSING:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        current().put("templates", ("code", bucket.key, bucket.checksum), bucket.bytecode_to_string())


class _Templates(jinja2.FileSystemLoader):
    """The templates folder. Its listing (which ``TemplateDigests`` hashes when it cannot tell what a
    template uses, and the render compiles before forking) leaves out static/, whose files are
    published as they are, and an editor's swap files and backups (Vim's ``.claim.html.swp``)."""

    def list_templates(self) -> list[str]:
        return [name for name in super().list_templates()
                if not name.startswith("static/") and not any(editors_own(part) for part in name.split("/"))]


class _Context(jinja2.runtime.Context):
    """Jinja's context, which calls a plain function or method (``url``, ``card``, a date's
    ``isoformat``…) at once: Jinja's own ``call`` looks for a ``jinja_pass_arg`` on every callable
    it is given, and on its ``__call__``, six lookups for each of the thirty calls of a claim's page.
    A callable that has one, or of another kind (a macro, a class), goes through Jinja's."""

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        kind = type(__obj)
        if kind is BuiltinFunctionType or (kind is FunctionType and "jinja_pass_arg" not in __obj.__dict__) \
                or (kind is MethodType and "jinja_pass_arg" not in getattr(__obj.__func__, "__dict__", {})):
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:  # as Jinja's call
                return __self.environment.undefined("value was undefined because a callable raised a"
                                                    " StopIteration exception")
        return super().call(__obj, *args, **kwargs)


class _Globals(dict[str, Any]):
    """The environment's globals, which _Environment copies into each template as it is loaded:
    set before the first is (make_environment, then _environment's ``card``), as Jinja's
    documentation asks; one set later would be missing from the templates loaded before, so it
    is an error rather than a page that fails on a name it cannot find."""

    sealed = False

    def __setitem__(self, key: str, value: Any) -> None:
        if self.sealed:
            raise RuntimeError(f"global {key!r} set after a template was loaded: set it in make_environment")
        super().__setitem__(key, value)


class _Environment(jinja2.Environment):
    """Jinja's environment, with each template's globals one dict (Jinja makes a ChainMap over
    the environment's). Jinja copies a template's globals into every context it makes (a page,
    each include) and takes their keys away from the context's at every import: a ChainMap does
    both in Python (6 and 7 µs, against 0.2 and 0.3 for a dict); they took 8 % of rendering the
    pages of a clean build at 10,000 claims (py-spy, new_context and _get_default_module)."""

    globals: _Globals

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._loaded: dict[str, jinja2.Template] = {}

    def make_globals(self, d: Any) -> Any:
        self.globals.sealed = True
        return {**self.globals, **(d or {})}

    def _load_template(self, name: str, globals: MutableMapping[str, Any] | None) -> jinja2.Template:
        """The template by its name in a plain dict: Jinja looks it up in its LRU cache, with a
        lock and a weak reference to the loader, for every page, each template it extends and
        each partial it renders (2 % of a clean build's samples at 10,000 claims). An environment
        lives for one build, whose templates do not change (auto_reload is off)."""
        if globals:
            return super()._load_template(name, globals)
        loaded = self._loaded.get(name)
        if loaded is None:
            loaded = self._loaded[name] = super()._load_template(name, None)
        return loaded


def make_environment(templates: Path, dossier: Dossier) -> jinja2.Environment:
    env = _Environment(
        loader=_Templates(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates do not change during a build: no stat() per page
        bytecode_cache=_MemoBytecode(),
    )
    env.context_class = _Context
    env.globals = _Globals(env.globals)
    env.filters["date_fr"] = date_fr
    env.filters["month_fr"] = month_fr
    env.filters["typo"] = typography
    env.filters["de"] = de
    env.filters["count_of"] = count_of
    env.filters["number_fr"] = _number_fr
    env.filters["quoted"] = _quoted
    env.globals["site"] = dossier.site
    # No ``dossier`` global: a page sees only what its context holds, which is what its key is made
    # of (see page_key); the pages about the whole dossier get it in their context.
    env.globals["url"] = dossier.site.url
    env.globals["absolute_url"] = dossier.site.absolute_url
    env.globals["passages"] = _passages(env, dossier.site)
    return env


def _quoted(text: str) -> str:
    """A quote between guillemets, unless the quote is itself one whole quotation already."""
    text = " ".join(text.split())
    if text.startswith(("«", "“", '"')) and text.endswith(("»", "”", '"')):
        return typography(text)
    return typography(f"« {text} »")


def _number_fr(value: float) -> str:
    """« 115 000 », « 2,5 »."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", "\u202f")
    return f"{value:,}".replace(",", "\u202f").replace(".", ",")


@dataclass(frozen=True)
class Page:
    path: str
    """Output path under site/, e.g. ``articles/x/index.html``."""
    template: str
    context: dict[str, Any]
    lastmod: date | None = None
    """When the page last changed in substance, for the sitemap; None keeps it out of the sitemap."""
    derived: Callable[[], dict[str, Any]] | None = None
    """More context computed from ``context`` alone, only when the page is rendered (not part of its key)."""


@dataclass
class Rendered:
    """The output of a build: what was rendered, and the key of every file."""

    files: dict[str, Spooled] = field(default_factory=dict)
    """Files rendered by this build, waiting in the spool (constat/spool.py)."""
    keys: dict[str, str] = field(default_factory=dict)
    """Every output file's key: the hash of what it was made from. Same key, same bytes."""
    kept: set[str] = field(default_factory=set)
    """Files not rendered because the previous build rendered them from the same key."""
    words: Counter[str] | None = None
    """With render_site's ``words``: for each word, how many of the pages rendered whose indexed part
    is new have it (None: not counted)."""


def render_site(dossier: Dossier, templates: Path, spool: Spool, previous: dict[str, str] | None = None,
                *, words: Mapping[str, str] | None = None, spill: Path | None = None,
                open_data_aside: bool = False) -> Rendered:
    """Every file of the site, into ``spool``: nothing is published until all of it rendered.

    ``previous`` holds the keys of files the previous build wrote and that are still intact in the
    output folder: a file whose key is unchanged is not rendered again (it is in ``kept``).
    ``words``: the search index needs the site's vocabulary (it comes in parts): the hash of each
    page's indexed part as the vocabulary last counted it (search.indexed_part; path → hash). The
    words of each page the search covers whose indexed part is not that one are counted as it is
    rendered, on every core (``Rendered.words``); the pages' words themselves are not kept.
    ``spill``: the output folder of a build whose process ends with it (pipeline.build's ``lean``):
    the cards the render workers make go to the cache's table through its files (_render_pages).
    ``open_data_aside``: the build is an edit of a few claims or articles (pipeline's ``few``),
    which renders a few pages: the open data, made of every claim, is made meanwhile by a forked
    process (its 27 MB at 10,000 claims: 0.1 s of a claim edit).
    """
    previous = previous or {}
    env, used, cards = _environment(dossier, templates)
    memo = current()
    # The cards of today's claims stay in the memo, for the lists they are on; read when a list
    # needs them (the cache keeps their values in its file).
    memo.touch("cards", [(cards, claim.digest) for claim in dossier.claims])
    site_data = f"{dossier.site!r} {dossier.statuses!r}"
    bases: dict[str, str] = {}

    def bases_key(template: str) -> str:
        if template not in bases:
            bases[template] = digest(f"{used.digest(template)} {site_data}")
        return bases[template]

    def page_key(page: Page) -> str:
        """What a page is made of: the templates it uses, the site, the scale, its path and context."""
        head = f"{bases_key(page.template)}\n{page.path}\n{page.template}\n"
        return digest(head.encode() + fingerprint(page.context))

    out = Rendered()

    def needed(path: str, key: str) -> bool:
        """Record the file's key; whether it must be rendered (its key is not the previous one)."""
        if path in out.keys:
            raise AssertionError(f"two pages write {path}")  # the model makes paths unique
        out.keys[path] = key
        if previous.get(path) == key:
            out.kept.add(path)
            return False
        out.files[path] = _PENDING  # its place, so the files keep the pages' order
        return True

    def add(path: str, key: str, render: Callable[[], bytes]) -> None:
        if needed(path, key):
            out.files[path] = spool.put(path, render())

    def claim_key(claim: Claim) -> tuple[str, str, str, date | None]:
        page = claim_page(claim, dossier.site)
        return page.path, page_key(page), page.context["page"]["permalink"], page.lastmod

    whole = digest(f"{site_data} {dossier.digest}")  # the open data: no template
    records = dossier if any(previous.get(path) != whole for path in _OPEN_DATA) else None
    aside = None
    if records is not None and open_data_aside:
        aside = Aside(partial(_open_data, dossier, spool, [path for path in _OPEN_DATA if previous.get(path) != whole]))
        records = None  # made there, not by the render's shares
    try:
        sitemap = []
        todo = []
        for page in pages(dossier, claims_as_claims=True):
            if isinstance(page, Claim):
                # A claim's page is made of the claim alone (its digest; names are spelt one way across
                # claims, or the build stops), the site, the scale and its template: keyed once, from
                # the memo after, and made only when it must be rendered. 10,000 of them take 0.4 s.
                claim = page
                path, key, permalink, lastmod = memo.get("pages", (bases_key("claim.html"), claim.digest),
                                                         partial(claim_key, claim))
                if needed(path, key):
                    todo.append(claim_page(claim, dossier.site))
            else:
                path, permalink, lastmod = page.path, page.context["page"]["permalink"], page.lastmod
                if needed(page.path, page_key(page)):
                    todo.append(page)
            if lastmod is not None:
                sitemap.append((permalink, lastmod))
        spooled_pages, counts = _render_pages(env, todo, spool, words, spill, records)
        out.words = counts if words is not None else None
        for page, spooled in zip(todo, spooled_pages, strict=True):
            out.files[page.path] = spooled
        # The sitemap is keyed by its entries written out as text: pickled (page_key), its 12,000
        # addresses and dates took 60 ms of a claim edit at 10,000 claims, which seldom changes them.
        entries = "\n".join(f"{permalink} {lastmod}" for permalink, lastmod in sitemap)
        add("sitemap.xml", digest(f"{bases_key('sitemap.xml')}\nsitemap.xml\n{entries}"),
            partial(_render_bytes, env, Page("sitemap.xml", "sitemap.xml", {"entries": sitemap})))
        robots = Page("robots.txt", "robots.txt", {})
        add(robots.path, page_key(robots), partial(_render_bytes, env, robots))
        feed = Page("feed.xml", "feed.xml", {"dossier": dossier},
                    derived=lambda: {"entries": feed_entries(dossier)})
        add(feed.path, page_key(feed), partial(_render_bytes, env, feed))
        made = None
        for path, pieces in _OPEN_DATA.items():
            if needed(path, whole) and aside is None:
                made = rows(dossier) if made is None else made  # from the memo: the shares made them
                out.files[path] = spool.put_pieces(path, pieces(dossier, made))
        if aside is not None:
            files, new = aside.result()
            out.files.update(files)
            for made_key, row in new.items():
                memo.put("records", made_key, row)
            row_key = records_key(dossier)  # the others kept, as used there
            memo.touch("records", [(row_key, claim.digest) for claim in dossier.claims])
        static = templates / "static"
        for asset in sorted(static.rglob("*")) if static.is_dir() else []:
            if asset.is_file() and not asset.is_symlink() \
                    and not any(editors_own(part) for part in asset.relative_to(static).parts):
                data = asset.read_bytes()
                add("static/" + asset.relative_to(static).as_posix(), digest(data), partial(bytes, data))
    finally:
        if aside is not None:  # an answer not asked for (the render failed): its process stops
            aside.close()
    return out


def _open_data(dossier: Dossier, spool: Spool, paths: list[str]) -> tuple[dict[str, Spooled], dict[Any, Any]]:
    """The open data's files (``paths``) into the spool, and the memo's rows it did not have (made
    now: render_site journals them). Done in a forked process (forking.Aside), which reads the
    memo's rows, or here when it cannot fork."""
    new = new_rows(dossier, dossier.claims)
    key, memo = records_key(dossier), current()
    made = [new[(key, c.digest)] if (key, c.digest) in new else memo.peek("records", (key, c.digest))
            for c in dossier.claims]
    return {path: spool.put_pieces(path, _OPEN_DATA[path](dossier, made)) for path in paths}, new


_OPEN_DATA = {"donnees/affirmations.json": claims_json_pieces, "donnees/affirmations.csv": claims_csv_pieces}
"""The open data's files, each made of every claim's row (opendata.rows), in pieces."""


def _environment(dossier: Dossier, templates: Path) -> tuple[jinja2.Environment, TemplateDigests, str]:
    """The environment pages are rendered in, the templates' digests, and the key of the cards."""
    env = make_environment(templates, dossier)
    used = TemplateDigests(env)
    cards = digest(f"{used.digest('partials/claim-card.html')} {dossier.site!r}")
    env.globals["card"] = _cards(env, cards)
    return env, used, cards


def render_now(dossier: Dossier, templates: Path, pages: list[Page]) -> dict[str, bytes]:
    """Some pages, rendered as render_site renders them (the preview's first look at an edit)."""
    env, _, _ = _environment(dossier, templates)
    return {page.path: _render_bytes(env, page) for page in pages}


class TemplateDigests:
    """For each template, one hash of its source and of every template it uses, found in the sources.

    A page is keyed by the templates it is made of: editing claim.html re-renders the claim
    pages and nothing else. Uses are read from the parsed templates (extends, include, import)
    plus the template functions that render a partial (``_GLOBAL_TEMPLATES``). A template whose
    uses cannot be known (a name computed at render time, a syntax error, a missing file) is
    keyed by every template, so that an unknown can only cost a render, never a stale page.
    """

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env
        self._sources: dict[str, str | None] = {}
        self._digests: dict[str, str] = {}
        self._everything: str | None = None

    def _source(self, name: str) -> str | None:
        if name not in self._sources:
            try:
                assert self.env.loader is not None
                self._sources[name] = self.env.loader.get_source(self.env, name)[0]
            except jinja2.TemplateNotFound:
                self._sources[name] = None
        return self._sources[name]

    def _uses(self, name: str) -> set[str] | None:
        source = self._source(name)
        if source is None:
            return None
        return current().get("templates", ("uses", digest(source)), partial(self._parse_uses, source))

    def _parse_uses(self, source: str) -> set[str] | None:
        try:
            found = set(jinja2.meta.find_referenced_templates(self.env.parse(source)))
        except jinja2.TemplateSyntaxError:
            return None
        if None in found:
            return None
        names = {n for n in found if n is not None}
        names |= {partial for function, partial in _GLOBAL_TEMPLATES.items() if f"{function}(" in source}
        return names

    def everything(self) -> str:
        if self._everything is None:
            names = sorted(self.env.list_templates())
            self._everything = digest("\n".join(f"{n} {digest(self._source(n) or '')}" for n in names))
        return self._everything

    def digest(self, name: str) -> str:
        if name not in self._digests:
            seen: set[str] = set()
            todo = [name]
            while todo:
                current_name = todo.pop()
                if current_name in seen:
                    continue
                seen.add(current_name)
                uses = self._uses(current_name)
                if uses is None:
                    self._digests[name] = self.everything()
                    return self._digests[name]
                todo += uses
            self._digests[name] = digest("\n".join(f"{n} {digest(self._source(n) or '')}" for n in sorted(seen)))
        return self._digests[name]


_GLOBAL_TEMPLATES = {"card": "partials/claim-card.html", "passages": "partials/badge.html"}
"""Template functions (make_environment) that render a partial: a template calling one uses it."""


def fingerprint(value: Any) -> bytes:
    """Bytes that change whenever ``value`` changes, short for the big model objects.

    Claims, articles and the dossier stand for themselves by their digest (a hash of the files
    they come from), a verdict of the scale by its key and the site by its name: a page's key
    covers the whole scale and site already (render_site's ``bases_key``), and a list of a person
    carries a tally of the verdicts, written out in full 1,100 times at 10,000 claims, their
    descriptions with them. Everything else a page context holds is small and written out in full, by
    pickle without its memo (so the bytes depend on the values only, never on which objects are
    shared). A type it does not know is an error, so that a new kind of context is a decision,
    not a stale page.
    """
    out = _FINGERPRINTER.out
    out.seek(0)
    out.truncate()
    _FINGERPRINTER.dump(value)
    return out.getvalue()


class _Fingerprinter(pickle.Pickler):
    def __init__(self) -> None:
        self.out = io.BytesIO()
        super().__init__(self.out, protocol=5)
        self.fast = True  # no memo: equal values give equal bytes

    def persistent_id(self, obj: Any) -> str | None:
        kind = type(obj)
        if kind is Claim or kind is Article or kind is Dossier:
            return f"{kind.__name__}:{obj.digest}"
        if kind is Status:  # only in a page key, which covers the scale whole
            return f"Status:{obj.key}"
        if kind is Site:
            return "Site"
        if kind in _PLAIN or (kind is type and obj in _PLAIN):  # a class, written by its name
            return None
        raise TypeError(f"page context holds a {kind.__name__}: teach render.fingerprint how to key it")


_SMALL = (Status, Speaker, Tag, Correction, Site)
"""Model objects that are small and hold no claim or article: written out in full."""
_PLAIN = frozenset({str, Markup, bytes, int, float, bool, type(None), date, tuple, list, dict, *_SMALL})
_FINGERPRINTER = _Fingerprinter()


PARALLEL_FROM = 400
"""Pages to render from which the work is shared between processes (one per core)."""
_JOB: tuple[jinja2.Environment, list[Page], Spool, Mapping[str, str] | None, Path | None, int,
           Dossier | None] | None = None
"""What forked workers render (render_site's arguments, and the pid of the process that forked
them): set just before the fork, inherited, never sent."""


def _render_pages(env: jinja2.Environment, todo: list[Page], spool: Spool, words: Mapping[str, str] | None,
                  spill: Path | None, records: Dossier | None = None) -> tuple[list[Spooled], Counter[str]]:
    """The pages, in order, rendered into the spool; on every core when there are many and forking is safe.

    Workers are forked (they inherit the model and the compiled templates); they write the pages
    themselves and send back only what the build keeps of them (hashes, new memo entries); this
    process renders a share too (forking.shared). Never forked from a process running other
    threads (the preview server), which a fork would copy mid-work.

    With ``spill`` (render_site's), each worker writes the cards it made into a part of the
    cache's table (cache.write_part) rather than send them back, and this process gathers the
    parts into the table, whose values it then reads from the file (cache.gather_parts). Sent
    back, they were unpickled here and held to the end: 12 MiB of the peak at 10,000 claims.

    ``records``: the dossier whose open data (opendata.rows) is to be made: when the pages are
    shared, each share also makes the rows of its share of the claims (1.7 s of a clean build at
    10,000 claims on a slow machine, made here after the pages before), which come into the memo
    when the workers are done: with ``spill``, through parts of the cache's table, as the cards.
    """
    global _JOB
    memo = current()
    counts: Counter[str] = Counter()
    if len(todo) < PARALLEL_FROM or not can_fork():
        return [_spool_page(env, page, spool, words, counts) for page in todo], counts
    for name in env.list_templates():  # compiled once, before the fork
        # An error is reported by the page that uses the template, as when rendering here; a
        # template no page uses is no problem.
        with suppress(jinja2.TemplateError, UnicodeDecodeError):
            env.get_template(name)
    if spill is not None:
        clear_parts(spill, "cards")
        clear_parts(spill, "records")
    _JOB = (env, todo, spool, words, spill, os.getpid(), records)
    # Small jobs (some 190 pages at 10,000 claims, 0.25 s): the last one a process takes ends
    # the stage, the other core idle meanwhile (forking.shared).
    chunks = min(len(todo), cores() * 32, MOST_JOBS)
    try:
        parts = shared(_render_share, [(n, chunks) for n in range(chunks)])
    finally:
        _JOB = None
    spooled: list[Spooled] = [_PENDING] * len(todo)
    for n, (done, new_cards, new_records, share_counts) in enumerate(parts):
        spooled[n::chunks] = done
        # What the workers worked out, journaled as if worked out here, so that the memo saves
        # it. (Cards once went into the used table only, saved only if this process had read
        # the table: a build whose workers rendered every card saved none.)
        for key, value in new_cards.items():
            memo.put("cards", key, value)
        for key, value in new_records.items():
            memo.put("records", key, value)
        counts.update(share_counts)
    if spill is not None:  # the cards this process made, those it kept, and the workers' parts
        gather_parts(spill, "cards", chunks, memo, memo.kept("cards"))
        if records is not None:
            take_parts(spill, "records", chunks, memo)
    return spooled, counts


def _render_share(share: tuple[int, int]) -> tuple[list[Spooled], dict[Any, Any], dict[Any, Any], Counter[str]]:
    """One share of the pages, the memo entries made for them (cards; not those made for earlier
    shares in the same process: sent once, they are not unpickled again in the main process;
    none from a worker that spills them), the open data's rows of its share of the claims (with
    _render_pages's ``records``; none from the main process, whose rows are in its memo already),
    and the count of the words of its pages (render_site's ``words``)."""
    assert _JOB is not None
    env, todo, spool, words, spill, parent, records = _JOB
    n, chunks = share
    memo = current()
    new_cards, known_cards = memo.journal["cards"], set(memo.journal["cards"])
    counts: Counter[str] = Counter()
    done = [_spool_page(env, page, spool, words, counts) for page in todo[n::chunks]]
    made = {k: v for k, v in new_cards.items() if k not in known_cards}
    here = os.getpid() == parent
    if spill is not None and not here:  # this process's own stay in its memo
        if made:
            write_part(spill, "cards", n, made)
        made = {}
    # The open data's rows of the share's claims: with ``spill``, into a part of the cache's table,
    # which _render_pages reads once the workers are gone (held meanwhile, in this process and a
    # worker, they were 27 MiB of a clean build's peak at 10,000 claims); else a worker's are sent
    # back and this process's go to its memo.
    rows_made = new_rows(records, records.claims[n::chunks]) if records is not None else {}
    if rows_made and spill is not None:
        write_part(spill, "records", n, rows_made)
        rows_made = {}
    elif here:
        memo.add("records", rows_made)
        rows_made = {}
    return done, made, rows_made, counts


def _spool_page(env: jinja2.Environment, page: Page, spool: Spool, words: Mapping[str, str] | None,
                counts: Counter[str]) -> Spooled:
    """Render a page into the spool; with ``words`` (render_site's), count the words of a page the
    search covers whose indexed part is not the one ``words`` has."""
    data = _render_bytes(env, page)
    part = indexed_part(data) if words is not None and is_indexed(page.path, data) else None
    spooled = spool.put(page.path, data, part)
    if part is not None and words is not None and spooled.indexed != words.get(page.path):
        counts.update(page_words(part))
    return spooled


_PENDING = Spooled("", "", None)


def _render_bytes(env: jinja2.Environment, page: Page) -> bytes:
    return _render(env, page).encode("utf-8")


def _render(env: jinja2.Environment, page: Page) -> str:
    try:
        context = {**page.context, **page.derived()} if page.derived else page.context
        return env.get_template(page.template).render(context)
    except ChangedDuringBuild as exc:
        raise TemplateProblem(exc.problem) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(Problem(f"templates/{exc.name or page.template}", exc.lineno or 1, 1,
                                      "template", f"template syntax error: {exc.message}")) from None
    except jinja2.TemplateError as exc:
        name, line = _template_frame(page.template)
        raise TemplateProblem(Problem(f"templates/{name}", line, 1, "template",
                                      f"rendering {page.path} failed: {exc}")) from None


def _template_frame(default: str) -> tuple[str, int]:
    """The innermost template line of the exception being handled (Jinja rewrites tracebacks so)."""
    tb = sys.exc_info()[2]
    found = (default, 1)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".html", ".xml", ".txt", ".svg")):
            found = (Path(filename).name if "/templates/" not in filename
                     else filename.split("/templates/", 1)[1], tb.tb_lineno)
        tb = tb.tb_next
    return found


def _page(path: str, template: str, title: str, permalink: str, crumbs: list[tuple[str, str]],
          description: str, lastmod: date | None, kind: str = "website", **context: Any) -> Page:
    return Page(path, template, {"page": {"title": title, "permalink": permalink, "crumbs": crumbs,
                                          "description": description, "kind": kind}, **context}, lastmod)


def index_path(permalink: str) -> str:
    """The file under site/ that a page's permalink (a folder, e.g. ``/articles/x/``) serves."""
    return permalink.lstrip("/") + "index.html"


def pages(dossier: Dossier, *, claims_as_claims: bool = False) -> Iterator[Page | Claim]:
    """Every HTML page of the site; the order is irrelevant to the output, but kept stable.

    ``claims_as_claims``: each claim's page comes as the claim, whose page claim_page makes."""
    site = dossier.site
    newest = max((c.updated_on for c in dossier.claims), default=None)
    home = ("Accueil", "/")
    yield _page("index.html", "home.html", site.title, "/", [], site.description, newest, dossier=dossier,
                articles=_with_counts(dossier, dossier.articles[-HOME_ARTICLES:]))
    yield _page("404.html", "404.html", "Page introuvable", "/404.html", [home],
                "Cette page n'existe pas ou a changé d'adresse.", None)
    yield _page(index_path("/methodologie/"), "methodology.html", "Méthodologie", "/methodologie/", [home],
                "Comment nous choisissons et évaluons les affirmations, et ce que signifie chaque verdict.", newest,
                dossier=dossier)
    corrections = sorted(((c, n, fix) for c in dossier.claims for n, fix in enumerate(c.corrections, 1)),
                         key=lambda item: (-item[2].date.toordinal(), item[0].permalink, item[1]))
    yield _page(index_path("/corrections/"), "corrections.html", "Corrections", "/corrections/", [home],
                "Notre politique de correction et la liste des corrections publiées.", newest,
                corrections=corrections)
    yield _page(index_path("/recherche/"), "search.html", "Rechercher", "/recherche/", [home],
                "Rechercher dans les affirmations vérifiées et les articles.", newest)
    yield _page(index_path("/donnees/"), "data.html", "Données ouvertes", "/donnees/", [home],
                "Toutes les affirmations vérifiées en JSON et en CSV, avec la description des colonnes.", newest,
                columns=CSV_COLUMNS)
    yield from _paged("articles.html", "Les articles", "/articles/", [home],
                      f"Les {len(dossier.articles)} articles d'où viennent les affirmations vérifiées.",
                      _with_counts(dossier, dossier.articles), newest, listed_as="articles")
    for article in dossier.articles:
        yield article_page(article, dossier.claims_by_article.get(article.slug, ()))
    for page in _paged("claims.html", "Toutes les affirmations", "/affirmations/", [home],
                       f"Les {len(dossier.claims)} affirmations vérifiées, article par article.", dossier.claims):
        page.context["groups"] = _by_article(page.context.pop("claims"))
        yield page
    for claim in dossier.claims:
        yield claim if claims_as_claims else claim_page(claim, site)
    verdicts = ("Verdicts", "/verdicts/")
    yield _page(index_path("/verdicts/"), "verdicts.html", "Les verdicts", "/verdicts/", [home],
                "Les affirmations classées par verdict.", newest, dossier=dossier)
    for status in dossier.statuses:
        listed = dossier.claims_by_status.get(status.key, ())
        yield from _paged("listing.html", f"Verdict : {status.label}", status.permalink, [home, verdicts],
                          f"{_claims(listed)} {plural(len(listed), 'évaluée')} « {status.label} ».", listed,
                          newest=newest, status=status, speaker=None, heading=status.label)
    people = ("Personnes", "/personnes/")
    yield _page(index_path("/personnes/"), "speakers.html", "Les personnes", "/personnes/", [home],
                "Les auteurs des affirmations vérifiées.", newest, dossier=dossier)
    for speaker in dossier.speakers:
        listed = dossier.claims_by_speaker[speaker.slug]
        yield from _paged("listing.html", speaker.name, speaker.permalink, [home, people],
                          f"{_claims(listed)} {de(speaker.name)} {plural(len(listed), 'vérifiée')}.", listed,
                          status=None, speaker=speaker, heading=speaker.name, tally=_tally(dossier, listed))
    themes = ("Thèmes", "/themes/")
    yield _page(index_path("/themes/"), "tags.html", "Les thèmes", "/themes/", [home],
                "Les affirmations vérifiées, par thème.", newest, dossier=dossier)
    for tag in dossier.tags:
        listed = dossier.claims_by_tag[tag.slug]
        yield from _paged("listing.html", f"Thème : {tag.label}", tag.permalink, [home, themes],
                          f"{_claims(listed)} {plural(len(listed), 'vérifiée')} sur le thème « {tag.label} ».", listed,
                          status=None, speaker=None, heading=tag.label)


LISTED_PER_PAGE = 40
"""Items per page of a list (claims: all, of a verdict, a person, a theme; articles): some 35 KB of
cards, so that a list of thousands stays a page a phone loads at once, and an edit re-renders one
page of it."""
PAGER_REACH = 2
"""Pages linked on either side of the current one; the first and the last are always linked."""


def _paged(template: str, title: str, permalink: str, crumbs: list[tuple[str, str]], description: str,
           items: tuple[Any, ...], newest: date | None = None, *, listed_as: str = "claims",
           **context: Any) -> Iterator[Page]:
    """The pages of one list (of claims, or of what ``listed_as`` names): ``permalink`` first, then
    ``permalink``page/2/ and on, LISTED_PER_PAGE items each."""
    slices = [items[i:i + LISTED_PER_PAGE] for i in range(0, len(items), LISTED_PER_PAGE)] or [()]
    total = len(slices)

    def link(n: int) -> str:
        return permalink if n == 1 else f"{permalink}page/{n}/"

    for n, listed in enumerate(slices, 1):
        pager = None
        if total > 1:
            shown = sorted({1, total, *range(max(1, n - PAGER_REACH), min(total, n + PAGER_REACH) + 1)})
            pager = {"current": n, "total": total, "previous": link(n - 1) if n > 1 else None,
                     "next": link(n + 1) if n < total else None, "pages": [(k, link(k)) for k in shown]}
        here = title if n == 1 else f"{title}, page {n} sur {total}"
        trail = crumbs if n == 1 else [*crumbs, (title, permalink)]
        changed = _newest(listed) if listed_as == "claims" else None
        page = _page(index_path(link(n)), template, here, link(n), trail, description, changed or newest,
                     pager=pager, **context)
        page.context[listed_as] = listed
        yield page


HOME_ARTICLES = 10
"""The home page lists the newest articles of the dossier, up to this many; /articles/ lists them all."""


def _with_counts(dossier: Dossier, articles: tuple[Article, ...]) -> tuple[tuple[Article, int], ...]:
    """Articles, each with the number of its claims (what the lists of articles show)."""
    return tuple((a, len(dossier.claims_by_article.get(a.slug, ()))) for a in articles)


def _by_article(claims: tuple[Claim, ...]) -> list[tuple[Article, tuple[Claim, ...]]]:
    """Consecutive claims of the same article, grouped (claims come by article, in reading order)."""
    groups: list[tuple[Article, list[Claim]]] = []
    for claim in claims:
        if not groups or groups[-1][0] is not claim.article:
            groups.append((claim.article, []))
        groups[-1][1].append(claim)
    return [(article, tuple(listed)) for article, listed in groups]


def article_page(article: Article, claims: tuple[Claim, ...]) -> Page:
    """An article's own page, with its claims (in reading order)."""
    changed = max((c.updated_on for c in claims), default=article.published)
    return _page(index_path(article.permalink), "article.html", article.title, article.permalink,
                 [("Accueil", "/"), ("Articles", "/articles/")], article.summary, changed, "article",
                 article=article, claims=claims)


def claim_page(claim: Claim, site: Site) -> Page:
    """A claim's own page."""
    title = f"{claim.speaker.name} : « {_clip(claim.quote.strip(_QUOTE_MARKS))} »"
    crumbs = [("Accueil", "/"), ("Affirmations", "/affirmations/"), (claim.article.title, claim.article.permalink)]
    page = _page(index_path(claim.permalink), "claim.html", title, claim.permalink, crumbs,
                 f"{claim.status.label} : {claim.summary}", claim.updated_on, "article", claim=claim)
    return replace(page, derived=partial(_claim_review_json, claim, site))


def _claims(claims: tuple[Claim, ...]) -> str:
    """« 9 affirmations »."""
    return count_of(len(claims), "affirmation")


def _newest(claims: tuple[Claim, ...]) -> date | None:
    return max((c.updated_on for c in claims), default=None)


def _tally(dossier: Dossier, claims: tuple[Claim, ...]) -> list[tuple[Status, int]]:
    """How many of ``claims`` got each verdict, in the scale's order, verdicts with none left out."""
    counts = Counter(c.status.key for c in claims)
    return [(s, counts[s.key]) for s in dossier.statuses if counts[s.key]]


def _passages(env: jinja2.Environment, site: Site) -> Any:
    """The template function that shows an article's passages with its claims' quotes marked."""

    def passages(article: Article, claims: tuple[Claim, ...]) -> Markup:
        badge = env.get_template("partials/badge.html")
        return Markup(highlight_quotes(article.body_html, [
            Highlight(c.quote, site.url(c.permalink), badge.render(claim=c).strip()) for c in claims]))

    return passages


def _cards(env: jinja2.Environment, base: str) -> Any:
    """The template function that shows a claim's card: rendered once per claim and template set.

    A card shows its claim alone (partials/claim-card.html sees ``claim`` and the site), so the
    listing pages that show thousands of them, and the next builds, reuse it.
    """
    def card(claim: Claim) -> Markup:
        def render() -> str:
            text = env.get_template("partials/claim-card.html").render(claim=claim)
            return text[:-1] if text.endswith("\n") else text
        return Markup(current().get("cards", (base, claim.digest), render))

    return card


def _claim_review_json(claim: Claim, site: Site) -> dict[str, Any]:
    return {"claim_review": script_json(claim_review(claim, site)) if has_claim_review(claim) else None}


_QUOTE_MARKS = ' «»“”"'


def _clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
