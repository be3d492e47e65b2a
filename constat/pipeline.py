"""The build as five stages in order: load, validate, model, render, write."""

from __future__ import annotations

import gc
import os
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from constat.load import MAX_FILE_BYTES, editors_own
from constat.memo import Memo, current, digest
from constat.problems import Problem, Severity, sort_problems
from constat.search import Interrupt, remove_scratch
from constat.write import Checked, WriteReport, catch_up_aside, recover

if TYPE_CHECKING:
    from constat.cache import State
    from constat.load import Inputs
    from constat.model import Claim, Dossier
    from constat.render import Rendered
    from constat.spool import Spool, Spooled
    from constat.write import Entry

TOOL_ROOT = Path(__file__).resolve().parent.parent
"""The Constat checkout: its templates/ serve any project that has none of its own."""


@dataclass(frozen=True)
class Project:
    root: Path
    """The folder holding site.yaml, statuses.yaml, content/ and claims/."""
    out: Path
    """Where the site goes; replaced as a whole on success, untouched on failure."""

    @property
    def templates(self) -> Path:
        own = self.root / "templates"
        return own if own.is_dir() and not own.is_symlink() else TOOL_ROOT / "templates"

    @classmethod
    def at(cls, root: Path, out: Path | None = None) -> Project:
        root = root.resolve()
        return cls(root, (out or root / "site").resolve())


@dataclass
class Report:
    """What a build or a check found and did."""

    problems: list[Problem] = field(default_factory=list)
    pages: int = 0
    written: WriteReport | None = None
    strict: bool = False
    search_pending: bool = False
    """The pages changed but the search index was left as it was (``search_later``): build again to index."""
    model: tuple[Inputs, Dossier] | None = field(default=None, repr=False, compare=False)
    """What the pages were rendered from, when this build rendered them (the preview's first look
    at the next edit starts from it: constat/preview.py)."""

    @property
    def errors(self) -> int:
        return sum(p.severity is Severity.ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity is Severity.WARNING for p in self.problems)

    @property
    def failed(self) -> bool:
        return self.errors > 0 or (self.strict and self.warnings > 0)


@contextmanager
def no_cycle_collector() -> Iterator[None]:
    """Python's cycle collector paused for one build, then back as it was.

    A build makes millions of objects that live until it ends (the memo's tables, the model) and
    no garbage cycles to speak of; the collector, run every few hundred new objects, went through
    all of them again and again: 14 % of a claim edit at 10,000 claims (2.17 s → 1.87 s, the same
    peak memory). Forked workers inherit the pause, and they no longer copy the pages the collector
    would write to. The preview server collects again between builds."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def check(project: Project, *, strict: bool = False) -> Report:
    """Load and validate only: nothing is rendered or written (the build cache is read, never written)."""
    with no_cycle_collector(), _forgetting_checked():
        return _check(project, strict)


def _check(project: Project, strict: bool) -> Report:
    from constat import cache
    from constat.load import load_project, remember_contents
    from constat.memo import use
    from constat.validate import validate

    memo = use(_memo_for(project.out) or cache.read_memo(project.out))
    contents: dict[str, bytes] = {}
    _, seen, _ = quick_inputs(project, contents)  # every input read once (the load would read them anyway)
    # The files' hashes: a file the build cache knows is not parsed again (load.load_yaml_file).
    remember_contents(contents, {path: mark[4] for path, mark in seen.items()})
    _prefill_if_cold(project, contents, memo, convert=False)
    try:
        return Report(sort_problems(validate(load_project(project.root))), strict=strict)
    finally:
        remember_contents({})


_IN_PROCESS: dict[Path, Memo] = {}
"""The memo of the last build of each output folder in this process (the preview server's rebuilds)."""


def _memo_for(out: Path) -> Memo | None:
    memo = _IN_PROCESS.get(out)
    return memo.carry_over() if memo else None


def build(project: Project, *, strict: bool = False, save_memo: bool = True, search_later: bool = False,
          fresh: bool = False, model: bool = False, interrupt: Interrupt | None = None,
          lean: bool = False) -> Report:
    """Check, then (only if the inputs are sound) render the site and publish it.

    Incremental: what the previous build did is in the cache beside the output folder
    (constat/cache.py). Inputs exactly as last time and an intact site: nothing to do. Otherwise
    the model is rebuilt whole in memory from the cached work, pages whose key changed are
    rendered, and only files whose bytes changed are written. The result is byte for byte the
    result of a build without cache (tests/test_incremental.py).

    The preview server passes ``search_later``: when the indexed pages changed, the previous
    search index is kept for now (Pagefind takes seconds on a large site) and the report says
    ``search_pending``; the next build, with nothing else to do, brings the index up to date.
    ``save_memo=False`` keeps the memo in this process only (the preview's rebuilds).
    ``fresh`` ignores the cache (the memo, the keys and the manifests): everything is done again
    and every existing file is read to be compared, as if there had never been a build before.
    ``model``: when there is nothing to do, still load and model the inputs, for ``report.model``
    (the preview starts on a site already built, and its first look at an edit needs the model).
    ``interrupt``: set while the search index is being built, it stops Pagefind and the build
    raises search.Interrupted, having published nothing (the preview's idle re-index, when a save
    comes in: the save is built first).
    ``lean``: the process ends with the build (build.py): once the model is built and checked,
    the loaded inputs and the memo's parsed YAML and per-file problems are let go of before
    rendering (the memo saves those tables then, rather than at the end), and ``report.model``
    stays None. At 10,000 claims a clean build peaks at 545-550 MiB instead of 606.
    """
    from constat import cache

    _refuse_unsafe_output(project)
    # one build at a time per output folder
    with cache.locked(project.out), no_cycle_collector(), _forgetting_checked():
        return _build(project, strict, save_memo, search_later, fresh, model, interrupt, lean)


@contextmanager
def _forgetting_checked() -> Iterator[None]:
    """The conversions validate made and the build did not use are let go at its end (in the
    preview's builder, they would pile up edit after edit: ``markup.forget_checked``)."""
    try:
        yield
    finally:
        if markup := sys.modules.get("constat.markup"):  # not imported by a build with nothing to do
            markup.forget_checked()


def _build(project: Project, strict: bool, save_memo: bool, search_later: bool, fresh: bool,
           want_model: bool, interrupt: Interrupt | None, lean: bool) -> Report:
    from constat import cache

    out = project.out
    recover(out)
    remove_scratch(out)
    state = cache.State() if fresh else cache.read_state(out)
    contents: dict[str, bytes] = {}
    inputs_hash, seen, seen_at = quick_inputs(project, contents, state.seen, state.seen_at)
    # Inputs changed: site/ and its back buffer are checked in a forked process meanwhile.
    inputs_changed = state.inputs != inputs_hash
    changed = _changed(seen, state.seen) if inputs_changed else []
    ours_only = inputs_changed and _claims_or_articles_only(project, changed)
    checked = Checked(out, state.site, state.back, aside=inputs_changed, catch_up=ours_only)
    nothing_to_do = state.inputs == inputs_hash and checked.site_verified[1]
    if nothing_to_do and _settled_since(seen, state.seen_at, seen_at):
        # Files read again only because they had changed just before the last build (a clone or
        # a copy made seconds before it): recorded now, the next build trusts them unread. Without
        # this, every build with nothing to do read them all again (0.9 s instead of 0.4 at
        # 10,000 claims, on a project copied and built at once).
        state.seen, state.seen_at = seen, seen_at
        cache.write(out, "state", state)
    if nothing_to_do and not want_model:
        return Report(list(state.problems), state.pages, WriteReport(0, len(checked.site_verified[0]), 0), strict)

    from constat.load import ChangedDuringBuild, load_project, remember_contents
    from constat.memo import use
    from constat.validate import validate

    few = ours_only and len(changed) <= FEW_CHANGED

    memo = use(Memo() if fresh else _memo_for(out) or cache.read_memo(out))
    remember_contents(contents, {path: mark[4] for path, mark in seen.items()})
    _prefill_if_cold(project, contents, memo, lean=lean and save_memo)
    try:
        inputs = load_project(project.root)
    finally:
        remember_contents({})
        contents.clear()  # the files' bytes: 56 MB at 10,000 claims, held to the end of a clean build before
    try:
        if nothing_to_do:  # site/ is what these inputs give (the last build checked them): only the model is wanted
            from constat.model import build_model
            report = Report(list(state.problems), state.pages, WriteReport(0, len(checked.site_verified[0]), 0),
                            strict, model=(inputs, build_model(inputs)))
        else:
            _stop_if(interrupt)
            report = Report(sort_problems(validate(inputs)), strict=strict)
            if not report.failed:
                held = [inputs]
                del inputs  # held only by the list, which _render_and_publish empties when it can (lean)
                _render_and_publish(project, held, report, state, checked, search_later, interrupt,
                                    lean=lean and save_memo, few=few)
    except ChangedDuringBuild as exc:  # a claim or article read from its file after all (load), edited meanwhile
        nothing_to_do, report = False, Report([exc.problem], strict=strict)
    if nothing_to_do or report.written is None:
        memo.keep_previous()  # nothing rendered: the converted Markdown and cards still serve
    if report.written is None and not nothing_to_do:
        back_changed, back = checked.back_after()  # the back buffer as Checked left it
        if back_changed:
            state.back = back
            cache.write(out, "state", state)
    memo.end_build()
    _IN_PROCESS.clear()  # one output folder at a time is remembered
    _IN_PROCESS[out] = memo
    if report.written is not None and not nothing_to_do:
        # Inputs recorded only once the index is up to date: the next build then has nothing to do.
        state.inputs = "" if report.search_pending else inputs_hash
        state.seen, state.seen_at = seen, seen_at
        state.problems, state.pages = list(report.problems), report.pages
        cache.write(out, "state", state)
    if save_memo:
        cache.save_memo(out, memo)
    if report.written is not None and not nothing_to_do:
        catch_up_aside(out, state.site, state.back)  # last: the program's work slows down writing
    return report


def _settled_since(seen: Seen, before: int, now: int) -> bool:
    """Whether a file that a build started at ``before`` had to read again (changed within
    _RACY_NS of it) would be trusted unread by the build after one recorded at ``now``."""
    return any(before - _RACY_NS <= mark[2] < now - _RACY_NS for mark in seen.values())


def _claims_or_articles_only(project: Project, changed: list[str]) -> bool:
    """Whether every input file that changed since the last build (``_changed``) is a claim or an
    article: then the build changes a few pages, not most of them (a template, site.yaml)."""
    ours = (f"{project.root}/claims/", f"{project.root}/content/")
    return all(path.startswith(ours) for path in changed)


def _changed(seen: Seen, before: Seen) -> list[str]:
    """The input files added, removed or changed (by their hash) since the last build."""
    return [path for path in seen.keys() | before.keys()
            if path not in seen or path not in before or seen[path][4] != before[path][4]]


FEW_CHANGED = 50
"""Claims and articles changed from the last build (and nothing else) up to which a build is an
edit: it renders a few pages, and makes the open data beside them (render_site's ``open_data_aside``)."""


def _prefill_if_cold(project: Project, contents: dict[str, bytes], memo: Memo, *, lean: bool = False,
                     convert: bool = True) -> None:
    """When the memo knows few of the files read (a fresh clone, CI, a cache of another version),
    parse and check them on every core first (constat/prefill.py): the stages then find the work done.
    ``lean`` (build's): the converted Markdown goes to the cache as it is made, not into this process.
    ``convert=False`` (check's): the Markdown is not converted for pages that are not rendered."""
    if len(memo.previous["front"]) < len(contents) // 2:  # (it has every claim file's hash)
        # Read (nothing, or another version's), so that the claims' parsed data is saved as the
        # table, not the journal: a claim's parse does not look in it (load.parse_yaml).
        memo.previous["yaml"]
        from constat.prefill import prefill

        prefill(project.root, sorted(contents), memo, spill=project.out if lean else None, convert=convert)


def _stop_if(interrupt: Interrupt | None) -> None:
    """Between stages, the preview's idle re-index gives way to a save (see build's ``interrupt``)."""
    if interrupt is not None and interrupt.is_set():
        from constat.search import Interrupted

        raise Interrupted


def _vocabulary(indexed: dict[str, str], page: Callable[[str], bytes], before: Callable[[str], bytes],
                counted: dict[str, str], counts: dict[str, int], rendered: Rendered) -> dict[str, int]:
    """Every word of the indexed pages (path → hash of the indexed part), with the number of pages
    that have it (the vocabulary of a search in parts: constat/search.py).

    ``counts`` is the last build's, for the pages ``counted``; the render counted the words of the
    pages whose indexed part is new (``rendered.words``); the pages' words are kept nowhere (they
    were 33 MiB of a clean build's peak at 10,000 claims, and a table in the cache). When few
    pages changed or went (a claim edit: two), their words as the last build published them are
    read from site/ (``before``) and taken off, and the render's count added; else, or if such a
    page is not that version any more, or ``counts`` does not hold its words, counted again: the
    render's count plus the words of every page whose indexed part did not change (``page``)."""
    # What the render counted, and of which pages (none when it was not asked to count).
    added: Mapping[str, int] = rendered.words or {}
    by_render = rendered.files if rendered.words is not None else {}
    if counted and counts and rendered.words is not None:
        changed = [rel for rel, sha in counted.items() if indexed.get(rel) != sha]
        if len(changed) <= len(indexed) // 2:
            counts = dict(counts)
            for rel in changed:
                words = _words_as_published(before, rel, counted[rel])
                if words is None or not _take_off(counts, words):
                    break
            else:
                for word, n in added.items():
                    counts[word] = counts.get(word, 0) + n
                return counts
    counts = dict(added)
    for rel, sha in indexed.items():
        if rel not in by_render or counted.get(rel) == sha:  # not counted by the render
            for word in _words_of(page, rel):
                counts[word] = counts.get(word, 0) + 1
    return counts


def _words_as_published(before: Callable[[str], bytes], rel: str, sha: str) -> list[str] | None:
    """The words of a page as the last build published it, if site/ still has that version."""
    from constat.search import indexed_part, page_words

    try:
        part = indexed_part(before(rel))
    except OSError:
        return None
    return page_words(part) if digest(part) == sha else None


def _take_off(counts: dict[str, int], words: list[str]) -> bool:
    """Count these words once less; False when one of them was not counted."""
    for word in words:
        left = counts.get(word, 0) - 1
        if left < 0:
            return False
        if left:
            counts[word] = left
        else:
            del counts[word]
    return True


def _words_of(page: Callable[[str], bytes], rel: str) -> list[str]:
    """The words of a page as this build has it."""
    from constat.search import indexed_part, page_words

    return page_words(indexed_part(page(rel)))


def _check_claim_review(claim: Claim, dossier: Dossier) -> list[Problem]:
    from constat.claimreview import check_claim_review, claim_review

    return check_claim_review(claim_review(claim, dossier.site), claim, dossier)


def _render_and_publish(project: Project, held: list[Inputs], report: Report, state: State,
                        checked: Checked, search_later: bool,
                        interrupt: Interrupt | None, *, lean: bool, few: bool = False) -> None:
    """``held``: the inputs, which it takes out of the list; ``lean``: it lets go of them, and of
    the memo's tables only they needed, once the model is built and checked (build's ``lean``);
    ``few``: a few claims or articles changed, nothing else (render_site's ``open_data_aside``)."""
    # Imported here: `check`, which editors run on every save, needs none of the render side.
    from constat import cache
    from constat.claimreview import has_claim_review
    from constat.model import build_model
    from constat.spool import Spool

    _stop_if(interrupt)
    inputs = held.pop()
    dossier = build_model(inputs)
    memo, site_key = current(), digest(repr(dossier.site))
    for claim in dossier.claims:  # what it checks is the claim's (its digest), the scale's (in it too) and the site's
        if has_claim_review(claim):
            report.problems += memo.get("checks", ("claim-review", site_key, claim.digest),
                                        partial(_check_claim_review, claim, dossier))
    if report.failed:
        return
    model = None if lean else (inputs, dossier)  # for report.model
    del inputs
    if lean:
        cache.save_early(project.out, memo, ("front", "yaml", "checks", "folded", "quote", "claims"), reread=("html",))
    spool = Spool(project.out, tree=not project.out.is_dir())  # a first build: the spool becomes the site
    try:
        _render_and_publish_spooled(project, dossier, report, state, checked, search_later, interrupt, spool,
                                    spill=project.out if lean else None, few=few)
    finally:
        spool.clear()
    if report.written is not None:
        report.model = model


def _render_and_publish_spooled(project: Project, dossier: Dossier, report: Report, state: State,
                                checked: Checked, search_later: bool,
                                interrupt: Interrupt | None, spool: Spool, *, spill: Path | None,
                                few: bool = False) -> None:
    from constat.render import TemplateProblem, render_site
    from constat.search import index_parts, part_count, part_key, parts_file, split
    from constat.write import publish_site

    verified = checked.site_verified
    trusted, _ = verified
    part_pages = dossier.site.search_part_pages
    own = dossier.site.search_engine == "constat"
    in_parts = not own and part_count(len(dossier.claims) + len(dossier.articles), part_pages) > 1
    # The words of the pages whose indexed part changed since the vocabulary was counted (every
    # page when it was not): see _vocabulary.
    counted = state.indexed if state.vocabulary else {}
    try:
        rendered = render_site(dossier, project.templates, spool,
                               {rel: key for rel, key in state.keys.items() if rel in trusted},
                               words=counted if in_parts else None, spill=spill, open_data_aside=few)
    except TemplateProblem as exc:
        report.problems.append(exc.problem)
        return
    _stop_if(interrupt)
    report.pages = sum(name.endswith(".html") for name in rendered.keys)
    keep = {rel: trusted[rel].sha for rel in rendered.kept}
    # Last: the index reads the rendered pages. It lands in site/ with them, in the same swap.
    indexed = {rel: spooled.indexed for rel, spooled in rendered.files.items() if spooled.indexed is not None}
    indexed.update((rel, state.indexed[rel]) for rel in keep if rel in state.indexed)

    def page(rel: str) -> bytes:
        return rendered.files[rel].read() if rel in rendered.files else (project.out / rel).read_bytes()

    def source(rel: str) -> str:
        return rendered.files[rel].path if rel in rendered.files else f"{project.out}/{rel}"

    def before(rel: str) -> bytes:
        return (project.out / rel).read_bytes()

    files: dict[str, bytes | Spooled] = dict(rendered.files)
    counts: dict[str, int] = {}
    if own:
        keys, search_files, search_hidden = _own_index(indexed, state, trusted, page, before, search_later, report,
                                                       files, keep, interrupt, spool)
    else:
        parts = split(indexed, part_pages)
        counts = _vocabulary(indexed, page, before, counted, state.vocabulary, rendered) if len(parts) > 1 else {}
        vocabulary = sorted(counts) if len(parts) > 1 else None
        vocabulary_key = digest("\n".join(vocabulary)) if vocabulary is not None else ""
        keys = {folder: part_key(folder, pages, vocabulary_key) for folder, pages in parts.items()}

        def intact(folder: str) -> bool:  # a part always has files: none recorded is no part
            return bool(state.search_files.get(folder)) and all(rel in trusted for rel in state.search_files[folder])

        stale = [folder for folder in parts if not (intact(folder) and state.search.get(folder) == keys[folder])]
        if stale and search_later and state.search_files and all(map(intact, state.search_files)):
            keys, report.search_pending = state.search, True  # the whole previous index, for now
        elif stale:
            built, hidden = index_parts({folder: {rel: source(rel) for rel in parts[folder]} for folder in stale},
                                        dossier.site, vocabulary, interrupt, out=project.out)
            for folder, index in built.items():
                files.update(index)
                state.search_files[folder], state.search_hidden[folder] = sorted(index), hidden
        keep.update((rel, trusted[rel].sha) for folder in keys if folder not in stale or report.search_pending
                    for rel in state.search_files.get(folder, []))
        files.update(parts_file(list(keys), sorted({i for f in keys for i in state.search_hidden.get(f, [])})))
        search_files = {folder: state.search_files.get(folder, []) for folder in keys}
        search_hidden = {folder: state.search_hidden.get(folder, []) for folder in keys}
    back_verified = checked.back_verified  # first: it may find the manifest of a back buffer made aside
    written = publish_site(files, project.out, keep=keep, site=state.site, back=checked.back, verified=verified,
                           back_verified=back_verified, spool=spool)
    report.written = written.report
    state.keys = {rel: key for rel, key in rendered.keys.items()}
    state.site, state.back = written.site, written.back
    state.indexed, state.search, state.search_files, state.search_hidden = indexed, keys, search_files, search_hidden
    state.vocabulary = counts


def _own_index(indexed: dict[str, str], state: State, trusted: Mapping[str, Entry],
               page: Callable[[str], bytes], before: Callable[[str], bytes], search_later: bool,
               report: Report, files: dict[str, bytes | Spooled], keep: dict[str, str],
               interrupt: Interrupt | None, spool: Spool,
               ) -> tuple[dict[str, str], dict[str, list[str]], dict[str, list[str]]]:
    """Constat's own search index (constat/lexicon.py) of the ``indexed`` pages: the files it
    writes go into ``files``, those of the published index it keeps into ``keep``. Returns the
    state's search, search_files and search_hidden.

    Kept as published when its pages did not change; updated in place when at most half of them
    changed, came or went, each changed page as published being the version the index has (the
    hash of its indexed part, as for the vocabulary); built whole otherwise, or when the
    published index does not hold what it should (lexicon.update)."""
    from constat import lexicon
    from constat.search import part_key

    folder, made_by = lexicon.FOLDER, f"constat-{lexicon.VERSION}"
    key = part_key(folder, indexed, made_by)
    published = state.search_files.get(folder) or []
    intact = bool(published) and all(rel in trusted for rel in published)
    listed: list[str] | None = None
    if intact and state.search.get(folder) == key:
        listed = published
    elif intact and state.search.get(folder) == part_key(folder, state.indexed, made_by):
        changed = [rel for rel, sha in indexed.items() if state.indexed.get(rel) != sha]
        gone = len(state.indexed.keys() - indexed.keys())
        few = len(changed) + gone <= len(indexed) // 2
        pages = _as_indexed(changed, state.indexed, before, page) if few else None
        done = lexicon.update(indexed, pages, before, published, state.indexed) if pages is not None else None
        if done is not None:
            files.update(done[0])
            listed = done[1]
    if listed is None and intact and search_later:
        listed, key, report.search_pending = published, state.search[folder], True  # the previous index, for now
    if listed is None:
        made = lexicon.full(indexed, page, interrupt, spool.put)
        files.update(made)
        listed = sorted(made)
    keep.update((rel, trusted[rel].sha) for rel in listed if rel not in files)
    return {folder: key}, {folder: listed}, {}


def _as_indexed(changed: list[str], indexed: dict[str, str], before: Callable[[str], bytes],
                page: Callable[[str], bytes]) -> dict[str, tuple[bytes | None, bytes]] | None:
    """Each changed page as published (None for a page added) and as it is now; None when one is
    not there as published in the version the index has (the hash of its indexed part)."""
    from constat.search import indexed_part

    pages: dict[str, tuple[bytes | None, bytes]] = {}
    for rel in changed:
        if rel not in indexed:
            pages[rel] = (None, page(rel))
            continue
        try:
            old = before(rel)
        except OSError:
            return None
        if digest(indexed_part(old)) != indexed[rel]:
            return None
        pages[rel] = (old, page(rel))
    return pages


Seen = dict[str, tuple[int, int, int, int, str]]
"""Input file (absolute path) → (size, mtime, ctime, inode, hash of its bytes) when last hashed."""

_RACY_NS = 2_000_000_000
"""Files changed this close before a build started are hashed again by the next one (see quick_inputs)."""


def quick_inputs(project: Project, contents: dict[str, bytes] | None = None,
                 seen: Seen | None = None, since: int = 0) -> tuple[str, Seen, int]:
    """One hash of every file the build reads (inputs and templates), by content, with its path.

    Cheap next to a build (nothing is parsed): when it equals the last build's and the site is
    intact, the build has nothing to do. Returns the hash, and the ``seen`` and ``since`` to pass
    next time.

    A file is read and hashed unless ``seen`` (the previous build's record, made at ``since``)
    has its size, mtime, ctime and inode unchanged, as git's index does. The ctime cannot be set
    by hand (an edit with its mtime put back still changes it); a file whose ctime was within
    _RACY_NS of ``since`` could have changed again within one clock tick, so it is read again.
    Files read go into ``contents``, so that the load stage does not read them twice.
    """
    import time

    parts: list[str] = []
    now: Seen = {}
    walk = _Walk(parts, contents, seen or {}, since - _RACY_NS, now)
    root = str(project.root)
    started = time.time_ns()
    for top in ("site.yaml", "statuses.yaml", "content", "claims"):
        walk.tree(f"{root}/{top}", top, keep=True)
    walk.tree(str(project.templates), "templates", keep=False)
    return digest("\n".join(parts)), now, started


@dataclass
class _Walk:
    parts: list[str]
    contents: dict[str, bytes] | None
    seen: Seen
    trusted_before: int
    now: Seen

    def tree(self, path: str, rel: str, *, keep: bool) -> None:
        try:
            st = os.lstat(path)
        except OSError as exc:
            self.parts.append(f"{rel} {exc.errno}")
            return
        if stat.S_ISLNK(st.st_mode):
            self.parts.append(f"{rel} -> {os.readlink(path)}")
        elif stat.S_ISDIR(st.st_mode):
            self.parts.append(f"{rel}/")
            try:
                names = sorted(os.listdir(path))
            except OSError as exc:
                self.parts.append(f"{rel} {exc.errno}")
                return
            for name in names:
                if not editors_own(name):  # a swap file or a backup, which no stage reads
                    self.tree(f"{path}/{name}", f"{rel}/{name}", keep=keep)
        else:
            mark = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            known = self.seen.get(path)
            if known is not None and known[:4] == mark and st.st_ctime_ns < self.trusted_before:
                self.parts.append(f"{rel} {known[4]}")
                self.now[path] = known
                return
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                self.parts.append(f"{rel} {exc.errno}")
                return
            sha = digest(data)
            self.parts.append(f"{rel} {sha}")
            if stat.S_ISREG(st.st_mode):
                self.now[path] = (*mark, sha)
            if keep and self.contents is not None and len(data) <= MAX_FILE_BYTES:
                self.contents[path] = data


def _refuse_unsafe_output(project: Project) -> None:
    # The output folder is replaced whole: it must never be the project or hold it.
    if project.out == project.root or project.root.is_relative_to(project.out):
        raise ValueError(f"the output folder {project.out} holds the project: choose another one")
    for name in ("content", "claims", "templates", "schema", "constat"):
        if project.out == project.root / name:
            raise ValueError(f"the output folder {project.out} is an input folder: choose another one")
