"""Stage 3, model: immutable Site, Article, Claim, Source, Status and the indexes derived from them.

Built only from inputs that passed validation, so nothing here re-checks them. Every
permalink is computed here and nowhere else: templates read them, they never build URLs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from constat.french import slugify
from constat.load import ArticleFile, ChangedDuringBuild, ClaimFile, Inputs, load_article, load_yaml_file
from constat.markup import html_of, inline_markdown, markdown_to_html, quote_key, quote_position, verdict_key
from constat.memo import current, digest, text_key
from constat.problems import Problem


@dataclass(frozen=True)
class Site:
    title: str
    description: str
    base_url: str
    """Public address of the site, ending with /."""
    base_path: str
    """The path part of base_url (``/`` or ``/constat/``): every internal link starts with it."""
    language: str
    publisher_name: str
    publisher_url: str
    licence_name: str | None
    licence_url: str | None
    report_url: str | None
    """Where readers report an error: mailto: or an issue tracker."""
    dossier_title: str | None
    dossier_introduction_html: str | None
    search_part_pages: int | None = None
    """site.yaml's search.part_pages: pages per part of the search index (None: search.PART_PAGES)."""
    search_engine: str = "constat"
    """site.yaml's search.engine: ``constat``, Constat's own index (constat/lexicon.py), or ``pagefind``."""

    def url(self, permalink: str) -> str:
        """A site-absolute link for a permalink such as ``/articles/x/``."""
        return self.base_path + permalink.lstrip("/")

    def absolute_url(self, permalink: str) -> str:
        return self.base_url + permalink.lstrip("/")


@dataclass(frozen=True)
class Status:
    key: str
    label: str
    icon: str
    """Name of the badge's icon (templates/partials/icons.html)."""
    rating: int | None
    """ClaimReview ratingValue, 1 (false) to 5 (true); None for a label-only or unrated status."""
    claim_review: bool
    """Whether a claim with this status gets a ClaimReview (not for Opinion and En cours)."""
    colour: str
    description_html: str
    order: int
    """Place in statuses.yaml: the order of every list of verdicts."""

    @property
    def permalink(self) -> str:
        return f"/verdicts/{self.key}/"


class Source(NamedTuple):
    """A named tuple: 30,000 of them at 10,000 claims, made in 7 ms against 20 as a frozen dataclass."""

    title: str
    url: str
    publisher: str
    published: date | None
    archive_url: str | None
    excerpt: str | None


@dataclass(frozen=True)
class Figures:
    """A number claim: what was said beside what the evidence says."""

    stated: float
    measured: float | None
    unit: str
    as_of: date | None


@dataclass(frozen=True)
class Correction:
    date: date
    text_html: str


@dataclass(frozen=True)
class Speaker:
    name: str
    slug: str

    @property
    def permalink(self) -> str:
        return f"/personnes/{self.slug}/"


@dataclass(frozen=True)
class Tag:
    label: str
    slug: str

    @property
    def permalink(self) -> str:
        return f"/themes/{self.slug}/"


@dataclass(frozen=True)
class Article:
    slug: str
    path: str
    """The source file, for messages."""
    title: str
    publisher: str
    url: str | None
    archive_url: str | None
    published: date
    language: str
    authors: tuple[str, ...]
    summary: str
    body_key: str
    """The passages' converted Markdown's key in the memo (the hash of their Markdown)."""
    file_sha: str
    """The hash of the file's text as the build read it."""
    digest: str = ""
    """Hash of the article's path and file: a page showing the article changes only when it changes."""
    root: str = ""
    """The project folder (the passages' Markdown is read again from the file when the memo lacks their HTML)."""

    @property
    def body_html(self) -> str:
        """The passages, rendered and sanitized, without the quote highlights (render adds them):
        read from the memo (build_model put them there), converted again from the file if its
        entry was damaged."""
        return html_of(self.body_key, partial(read_again, self.root, self.path, self.file_sha, "body"))

    @property
    def permalink(self) -> str:
        return f"/articles/{self.slug}/"


@dataclass(frozen=True)
class Claim:
    slug: str
    path: str
    article: Article
    quote: str
    short_claim: str | None
    """The claim in under 75 characters, for ClaimReview; the quote serves when it is that short."""
    speaker: Speaker
    speaker_role: str
    speaker_url: str | None
    said_on: date
    context_html: str | None
    status: Status
    summary: str
    verdict_key: tuple[str, str]
    """The verdict's converted Markdown's key in the memo (markup.verdict_key: by the hash of the
    file's text). The model keeps no Markdown of verdicts or articles: 38 MiB at 10,000 claims,
    which a clean build held to its end (and its render worker copied in part)."""
    sources: tuple[Source, ...]
    figures: Figures | None
    appearances: tuple[str, ...]
    note: str | None
    published_on: date
    """First publication of the review: published_on, or reviewed_on when absent."""
    reviewed_on: date
    reviewed_by: str | None
    tags: tuple[Tag, ...]
    corrections: tuple[Correction, ...]
    position: int
    """Where the quote starts in its article's text: claims are listed in reading order."""
    permalink: str
    """/affirmations/<article>/<claim>/ (fields, not cached properties: sorting 10,000 claims by
    them took a lock on each first read, 20 ms of a claim edit)."""
    updated_on: date
    """The last time the page changed in substance: the review or the newest correction."""
    digest: str = ""
    """Hash of everything the claim is made of: its path and file, its article's, and the scale of verdicts."""

    @property
    def verdict_html(self) -> str:
        """The verdict rendered and sanitized: read from the memo (build_model put it there), or
        converted again from the file if its entry was damaged."""
        return html_of(self.verdict_key, partial(read_again, self.article.root, self.path, self.verdict_key[1],
                                                 "verdict"))

    @property
    def claim_reviewed(self) -> str:
        """ClaimReview's claimReviewed: the short form, or the quote itself."""
        return self.short_claim or " ".join(self.quote.split())


@dataclass(frozen=True)
class Dossier:
    """The whole site's content and its indexes, in the order pages list them."""

    site: Site
    statuses: tuple[Status, ...]
    articles: tuple[Article, ...]
    """Oldest first: the dossier reads as a chronology."""
    claims: tuple[Claim, ...]
    """By article, then in reading order."""
    speakers: tuple[Speaker, ...]
    tags: tuple[Tag, ...]
    claims_by_article: dict[str, tuple[Claim, ...]]
    claims_by_status: dict[str, tuple[Claim, ...]]
    claims_by_speaker: dict[str, tuple[Claim, ...]]
    claims_by_tag: dict[str, tuple[Claim, ...]]
    digest: str = ""
    """Hash of every input file: a page showing the whole dossier changes only when it changes."""

    @property
    def latest(self) -> tuple[Claim, ...]:
        """Most recently reviewed or corrected first."""
        return tuple(sorted(self.claims, key=lambda c: (-c.updated_on.toordinal(), c.permalink)))


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def build_model(inputs: Inputs) -> Dossier:
    """The model of a project whose inputs passed validation."""
    assert inputs.site is not None and inputs.statuses is not None
    site = _site(inputs.site.data)
    statuses = tuple(Status(s["key"], s["label"], s["icon"], s["rating"], s["claim_review"], s["colour"],
                            markdown_to_html(s["description"]), n)
                     for n, s in enumerate(inputs.statuses.data))
    by_key = {s.key: s for s in statuses}
    root = inputs.root
    articles = sorted((article_model(a, root) for a in inputs.articles), key=lambda a: (a.published, a.slug))
    by_slug = {a.slug: a for a in articles}
    files = {a.slug: a for a in inputs.articles}
    speakers: dict[str, Speaker] = {}
    tags: dict[str, Tag] = {}
    claims = [claim_model(f, by_slug[f.article_slug], files[f.article_slug], by_key, inputs.statuses.sha,
                          speakers, tags)
              for f in inputs.claims]
    order = {a.slug: n for n, a in enumerate(articles)}
    claims.sort(key=lambda c: (order[c.article.slug], c.position, c.slug))
    # Their converted Markdown is read when a page shows it; the memo keeps it for the pages not rendered.
    current().touch("html", [*(a.body_key for a in articles), *(c.verdict_key for c in claims)])
    # The articles' hashes served the checks and the quotes' positions; cached, they held every
    # article's Markdown to the end of the build (12 MiB at 10,000 claims).
    text_key.cache_clear()
    return Dossier(
        site=site, statuses=statuses, articles=tuple(articles), claims=tuple(claims),
        speakers=tuple(sorted(speakers.values(), key=lambda s: s.slug)),
        tags=tuple(sorted(tags.values(), key=lambda t: t.slug)),
        claims_by_article=_group(claims, lambda c: [c.article.slug]),
        claims_by_status=_group(claims, lambda c: [c.status.key]),
        claims_by_speaker=_group(claims, lambda c: [c.speaker.slug]),
        claims_by_tag=_group(claims, lambda c: [t.slug for t in c.tags]),
        digest=inputs_digest(inputs),
    )


def article_model(a: ArticleFile, root: Path | None) -> Article:
    """One article of a valid project (read from ``root``)."""
    key = a.body_key
    if not current().has("html", key):  # (its body is read only then: load.ArticleFile)
        markdown_to_html(a.body, key)
    return _article(a.slug, a.path, a.front.data, key, a.front.sha, digest(f"{a.path} {a.front.sha}"),
                    "" if root is None else str(root))


def read_again(root: str, path: str, sha: str, part: str) -> str:
    """The Markdown of an article's passages (``part`` "body") or of a claim's verdict, read again
    from its file: only when the memo's entry for its HTML was damaged after build_model saw it.
    The file must still be the one the build read (``sha``), or the page would mix two versions."""
    problems: list[Problem] = []
    if root:
        if part == "body":
            article = load_article(Path(root), Path(root, path), problems)
            if article is not None and article.front.sha == sha:
                return article.body
        else:
            doc = load_yaml_file(Path(root), Path(root, path), problems)
            if doc is not None and doc.sha == sha and isinstance(doc.data, dict) \
                    and isinstance(doc.data.get("verdict"), str):
                return str(doc.data["verdict"])
    raise ChangedDuringBuild.at(path)


def claim_model(f: ClaimFile, article: Article, source: ArticleFile, by_key: dict[str, Status], statuses_sha: str,
                speakers: dict[str, Speaker], tags: dict[str, Tag]) -> Claim:
    """One claim of a valid project, given its article (the model's, and its file, whose body is
    read only to make a claim the memo does not have), the scale of verdicts and the speakers and
    tags met so far (shared, so that each is one object)."""
    sha = digest(f"{f.path} {f.doc.sha} {article.digest} {statuses_sha}")
    memo = current()
    values, speaker, status, named, inline = memo.get("claims", sha, partial(_claim_record, f, article, source, sha))
    key = verdict_key(f.doc.sha)
    if not memo.has("html", key):
        markdown_to_html(f.doc.data["verdict"], key)
    if inline:  # the HTML of its context and corrections, which the claim has: kept for when it changes
        memo.touch("html", inline)
    memo.touch("quote", [quote_key(article.body_key, values[_QUOTE])])  # kept too: a new scale remakes every claim
    state = dict(zip(_CLAIM_FIELDS, values, strict=True))
    state["article"], state["speaker"], state["status"] = article, _named(speakers, speaker, Speaker), by_key[status]
    state["tags"] = tuple(_named(tags, t, Tag) for t in named)
    claim: Claim = object.__new__(Claim)
    claim.__dict__.update(state)  # as pickle makes one: __init__ took 0.1 s for 10,000 claims
    return claim


_CLAIM_FIELDS = tuple(f.name for f in fields(Claim))
_QUOTE = _CLAIM_FIELDS.index("quote")
_REFERENCES = frozenset({"article", "speaker", "status", "tags"})
"""Claim's fields that hold objects the model shares between claims: not in the memo's record."""


def _claim_record(f: ClaimFile, article: Article, source: ArticleFile, sha: str
                  ) -> tuple[tuple[Any, ...], str, str, tuple[str, ...], tuple[str, ...]]:
    """What the memo keeps of a claim (keyed by its digest, ``sha``): its own fields' values (None
    for the shared objects), the person, verdict and themes it names, as written, and the keys of
    the HTML of its context and corrections in the memo. An unchanged claim's model is made of
    it, without reading the claim's data (a claim edit at 10,000 claims read 29 MB of it) or
    looking for its quote again."""
    data = f.doc.data
    position = quote_position(source.body, data["quote"])
    claim = _claim(f.slug, f.path, article, data, None, None, (), position or 0, sha, f.doc.sha)  # type: ignore[arg-type]
    values = tuple(None if name in _REFERENCES else getattr(claim, name) for name in _CLAIM_FIELDS)
    inline = [data["context"]] if data.get("context") else []
    inline += [c["text"] for c in data.get("corrections", [])]
    return values, data["speaker"], data["status"], tuple(data.get("tags", [])), tuple(map(digest, inline))


N = TypeVar("N", "Speaker", "Tag")


def _named(known: dict[str, N], name: str, kind: Callable[[str, str], N]) -> N:
    """The speaker or tag of this name: the one met first under its slug, or a new one."""
    slug = slugify(name)
    found = known.get(slug)
    if found is None:
        found = known[slug] = kind(name, slug)
    return found


def inputs_digest(inputs: Inputs) -> str:
    """One hash of every input file, with its path."""
    assert inputs.site is not None and inputs.statuses is not None
    parts = [f"site {inputs.site.sha}", f"statuses {inputs.statuses.sha}"]
    parts += sorted(f"{a.path} {a.front.sha}" for a in inputs.articles)
    parts += sorted(f"{c.path} {c.doc.sha}" for c in inputs.claims)
    return digest("\n".join(parts))


def _group(claims: list[Claim], keys: Any) -> dict[str, tuple[Claim, ...]]:
    groups: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        for key in keys(claim):
            groups[key].append(claim)
    return {k: tuple(v) for k, v in sorted(groups.items())}


def _site(data: dict[str, Any]) -> Site:
    base_url = data["base_url"]
    path = "/" + base_url.split("://", 1)[1].partition("/")[2]
    licence = data.get("licence") or {}
    dossier = data.get("dossier") or {}
    return Site(
        title=data["title"], description=data["description"], base_url=base_url, base_path=path,
        language=data["language"], publisher_name=data["publisher"]["name"],
        publisher_url=data["publisher"]["url"], licence_name=licence.get("name"), licence_url=licence.get("url"),
        report_url=data.get("report_url"), dossier_title=dossier.get("title"),
        dossier_introduction_html=markdown_to_html(dossier["introduction"]) if dossier else None,
        search_part_pages=(data.get("search") or {}).get("part_pages"),
        search_engine=(data.get("search") or {}).get("engine", "constat"),
    )


def _article(slug: str, path: str, data: dict[str, Any], body_key: str, file_sha: str, sha: str,
             root: str) -> Article:
    return Article(
        slug=slug, path=path, title=data["title"], publisher=data["publisher"], url=data.get("url"),
        archive_url=data.get("archive_url"), published=date.fromisoformat(data["published"]),
        language=data["language"], authors=tuple(data.get("authors", [])), summary=data["summary"],
        body_key=body_key, file_sha=file_sha, digest=sha, root=root,
    )


def _claim(slug: str, path: str, article: Article, data: dict[str, Any], speaker: Speaker, status: Status,
           tags: tuple[Tag, ...], position: int, sha: str, doc_sha: str) -> Claim:
    figures = data.get("figures")
    reviewed = date.fromisoformat(data["reviewed_on"])
    corrections = tuple(Correction(date.fromisoformat(c["date"]), inline_markdown(c["text"]))
                        for c in data.get("corrections", []))
    return Claim(
        slug=slug, path=path, article=article, quote=data["quote"], short_claim=data.get("short_claim"),
        speaker=speaker,
        speaker_role=data["speaker_role"], speaker_url=data.get("speaker_url"),
        said_on=date.fromisoformat(data["said_on"]),
        context_html=inline_markdown(data["context"]) if data.get("context") else None,
        status=status, summary=data["summary"], verdict_key=verdict_key(doc_sha),
        sources=tuple(Source(s["title"], s["url"], s["publisher"], _day(s.get("published")),
                             s.get("archive_url"), s.get("excerpt")) for s in data.get("sources") or []),
        figures=Figures(figures["stated"], figures.get("measured"), figures["unit"], _day(figures.get("as_of")))
        if figures else None,
        appearances=tuple(data.get("appearances", [])), note=data.get("note"),
        published_on=_day(data.get("published_on")) or reviewed, reviewed_on=reviewed,
        reviewed_by=data.get("reviewed_by"), tags=tags,
        corrections=corrections,
        position=position, permalink=f"/affirmations/{article.slug}/{slug}/",
        updated_on=max([reviewed, *(c.date for c in corrections)]), digest=sha,
    )
