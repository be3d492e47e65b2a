"""Stage 2, validate: every problem in the loaded files, each file checked alone and against the others."""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from constat.claimreview import MAX_CLAIM_REVIEWED
from constat.french import SLUG, slugify
from constat.load import ArticleFile, ClaimFile, Document, Inputs, ValuePath
from constat.markup import folded_article_text, markdown_problems, quote_position
from constat.memo import current
from constat.problems import Problem, Severity, did_you_mean
from constat.quotes import explain_mismatch
from constat.schema import check_schema

_URL_KEYS = frozenset({"url", "archive_url", "speaker_url", "base_url"})
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


@dataclass(frozen=True)
class Status:
    """What the checks of a claim need to know of its status."""

    rated: bool
    """It has a rating: the verdict must rest on sources."""
    claim_review: bool
    """It is published as a ClaimReview: the claim needs a short form."""


def validate(inputs: Inputs) -> list[Problem]:
    """All problems: those met while loading, then each file's, then those between files.

    A file's own problems depend on its path and content only: they come from the memo when
    the file was checked before (constat/memo.py), so an edit re-checks the edited file alone.
    """
    problems = list(inputs.problems)
    if inputs.site is not None:
        site = inputs.site
        problems += _alone("site", site, lambda: [*check_schema(site, "site"), *_check_urls(site),
                                                  *_check_markdown(site, ("dossier", "introduction"))])
    rated = _check_statuses(inputs.statuses, problems)
    if inputs.statuses is not None and isinstance(inputs.statuses.data, list):
        for n, _ in enumerate(inputs.statuses.data):
            problems += _check_markdown(inputs.statuses, (n, "description"))
    articles = {a.slug: a for a in inputs.articles}
    unsafe: set[str] = set()
    for article in inputs.articles:
        found = check_alone(article)
        if any(p.code == "markdown-too-complex" for p in found):
            unsafe.add(article.slug)  # never converted: that is the point of the check
        problems += found
    for slug, path in inputs.claim_folders:
        if slug not in inputs.article_slugs:
            problems.append(Problem(path, 1, 1, "orphan-claims",
                                    f"no article content/{slug}.md for this folder of claims"
                                    + did_you_mean(slug, articles)))
    memo, scale = current(), inputs.statuses.sha if inputs.statuses is not None else None
    for claim in inputs.claims:
        source = articles.get(claim.article_slug) if claim.article_slug not in unsafe else None
        problems += check_alone(claim)
        # What it reads: the claim's file, its article's (the sha of the whole file) and the scale.
        problems += memo.get("checks", ("against", claim.doc.path, claim.doc.sha, scale,
                                        source.front.sha if source is not None else None),
                             partial(check_claim_against, claim, rated, source))
    problems += _check_shared_pages(inputs.claims)
    return problems


def check_alone(item: ClaimFile | ArticleFile) -> list[Problem]:
    """The problems of one claim or article file in itself (what prefill prepares on every core)."""
    if isinstance(item, ClaimFile):
        return _alone("claim", item.doc, partial(_check_claim_alone, item))
    return _alone("article", item.front, partial(_check_article, item))


def _alone(kind: str, doc: Document, check: Callable[[], list[Problem]]) -> list[Problem]:
    """The problems of one file in itself, computed once per content."""
    return current().get("checks", (kind, doc.path, doc.sha), check)


def rated_statuses(doc: Document) -> dict[str, Status] | None:
    """The scale of verdicts by key, as check_claim_against needs it (None when statuses.yaml is not sound)."""
    return _check_statuses(doc, [])


def _check_statuses(doc: Document | None, problems: list[Problem]) -> dict[str, Status] | None:
    """Check statuses.yaml; return the scale by key, or None when it cannot be trusted."""
    if doc is None:
        return None
    found = check_schema(doc, "statuses")
    problems += found
    if found or not isinstance(doc.data, list):
        return None
    scale: dict[str, Status] = {}
    for n, status in enumerate(doc.data):
        key = status["key"]
        if key in scale:
            problems.append(doc.problem((n, "key"), "duplicate-slug", f'status "{key}" is defined twice'))
        if status["rating"] is not None and not status["claim_review"]:
            problems.append(doc.problem((n, "claim_review"), "invalid-value",
                                        f'status "{key}" has a rating, so claim_review must be true'))
        scale[key] = Status(status["rating"] is not None, status["claim_review"])
    return scale


def _check_slug(path: str, slug: str, kind: str, ext: str) -> list[Problem]:
    if SLUG.match(slug):
        return []
    better = slugify(slug)
    fix = f": rename it {better}{ext}" if better else ""
    return [Problem(path, 1, 1, "bad-slug",
                    f'{kind} file name "{slug}" must be lowercase ASCII words joined by hyphens{fix}')]


def _check_article(article: ArticleFile) -> list[Problem]:
    problems = _check_slug(article.path, article.slug, "article", ".md")
    if article.slug == "page":  # /affirmations/page/2/ is the second page of the list of claims
        problems.append(Problem(article.path, 1, 1, "reserved-slug",
                                'the file name "page" is taken by the pages of the list of claims '
                                "(/affirmations/page/2/): rename the article, e.g. page-accueil.md"))
    problems += check_schema(article.front, "article")
    problems += _check_urls(article.front)
    _date(article.front, ("published",), problems)
    problems += [Problem(article.path, article.body_line + line, 1, code, message)
                 for line, code, message in markdown_problems(article.body)]
    return problems


def _check_markdown(doc: Document, where: ValuePath) -> list[Problem]:
    """Links, images, HTML and hazards in a Markdown field, each at its line."""
    text = _get(doc.data, where)
    if not isinstance(text, str):
        return []
    problems = []
    for line, code, message in markdown_problems(text):
        pos = doc.line_in(where, line)
        problems.append(Problem(doc.path, pos.line, pos.column, code, message))
    return problems


def _check_claim_alone(claim: ClaimFile) -> list[Problem]:
    """What is wrong with a claim file whatever the other files say."""
    doc = claim.doc
    problems = _check_slug(claim.path, claim.slug, "claim", ".yaml")
    problems += check_schema(doc, "claim") + _check_urls(doc)
    problems += _check_claim_dates(doc)
    problems += _check_markdown(doc, ("verdict",)) + _check_markdown(doc, ("context",))
    for n, _ in enumerate(_list(doc, ("corrections",))):
        problems += _check_markdown(doc, ("corrections", n, "text"))
    return problems


def check_claim_against(claim: ClaimFile, rated: dict[str, Status] | None,
                         article: ArticleFile | None) -> list[Problem]:
    """What is wrong with a claim given the scale of verdicts and its article."""
    doc = claim.doc
    problems: list[Problem] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    status = data.get("status")
    if rated is not None and isinstance(status, str) and status not in rated:
        problems.append(doc.problem(("status",), "unknown-status", f'unknown status "{status}"'
                                    + (did_you_mean(status, rated) or f": use one of {', '.join(rated)}")))
    elif rated and isinstance(status, str):
        if rated[status].rated and not data.get("sources"):
            problems.append(doc.problem(("status",), "no-source",
                                        f'the verdict "{status}" rests on no source: add at least one under sources',
                                        severity=Severity.WARNING))
        quote_text = " ".join(str(data.get("quote", "")).split())
        if rated[status].claim_review and not data.get("short_claim") and len(quote_text) >= MAX_CLAIM_REVIEWED:
            problems.append(doc.problem(("quote",), "short-claim-missing",
                                        f"the quote has {len(quote_text)} characters: add short_claim, the claim "
                                        f"in under {MAX_CLAIM_REVIEWED} characters, for search engines"))
    quote = data.get("quote")
    if (article is not None and isinstance(quote, str) and quote.strip()
            and quote_position(article.body, quote) is None):
        problems.append(doc.problem(("quote",), "quote-not-found",
                                    f"quote not found in {article.path}: "
                                    + explain_mismatch(folded_article_text(article.body), quote)))
    said = _parse_date(data.get("said_on"))
    if article is not None and said and isinstance(article.front.data, dict):
        article_day = _parse_date(article.front.data.get("published"))
        if article_day and said > article_day:
            problems.append(doc.problem(("said_on",), "date-order",
                                        f"said_on {said} is after the article's publication ({article_day}, "
                                        f"{article.path}): check both dates", severity=Severity.WARNING))
    return problems


def _check_claim_dates(doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    said = _date(doc, ("said_on",), problems)
    reviewed = _date(doc, ("reviewed_on",), problems)
    published = _date(doc, ("published_on",), problems)
    _date(doc, ("figures", "as_of"), problems)
    for n, _ in enumerate(_list(doc, ("sources",))):
        _date(doc, ("sources", n, "published"), problems)
    if said and reviewed and said > reviewed:
        problems.append(doc.problem(("said_on",), "date-order",
                                    f"said_on {said} is after reviewed_on {reviewed}: a claim is reviewed "
                                    "after it is said; check both dates"))
    if published and reviewed and published > reviewed:
        problems.append(doc.problem(("published_on",), "date-order",
                                    f"published_on {published} is after reviewed_on {reviewed}: "
                                    "reviewed_on is the latest review, so it cannot come first"))
    if said and published and said > published:
        problems.append(doc.problem(("said_on",), "date-order",
                                    f"said_on {said} is after published_on {published}"))
    previous: date | None = None
    for n, _ in enumerate(_list(doc, ("corrections",))):
        when = _date(doc, ("corrections", n, "date"), problems)
        if when and said and when < said:
            problems.append(doc.problem(("corrections", n, "date"), "date-order",
                                        f"correction dated {when}, before the claim was said ({said})"))
        if when and previous and when < previous:
            problems.append(doc.problem(("corrections", n, "date"), "date-order",
                                        f"corrections go oldest first, newest last: {when} comes after {previous}"))
        previous = when or previous
    return problems


def _list(doc: Document, where: ValuePath) -> list[Any]:
    value = _get(doc.data, where)
    return value if isinstance(value, list) else []


def _get(data: Any, where: ValuePath) -> Any:
    for part in where:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _date(doc: Document, where: ValuePath, problems: list[Problem]) -> date | None:
    """The date at ``where``; a problem if it is written YYYY-MM-DD but does not exist."""
    value = _get(doc.data, where)
    if not (isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-"
            and value.replace("-", "").isdigit()):
        return None  # absent, or a wrong form that the schema reports
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:])
    if not 1 <= month <= 12:
        reason = f"there is no month {month}"
    else:
        last = calendar.monthrange(year, month)[1] if year >= 1 else 31
        if 1 <= day <= last and year >= 1:
            return date(year, month, day)
        reason = f"{_MONTHS_EN[month - 1]} {year} has {last} days" if day > last else f"there is no day {day}"
    problems.append(doc.problem(where, "invalid-date", f"impossible date {value}: {reason}"))
    return None


def _check_urls(doc: Document) -> list[Problem]:
    """Addresses that the schema's pattern lets through but that lead nowhere (no host, spaces)."""
    problems = []
    for where, value in _walk(doc.data, ()):
        is_url = (where and where[-1] in _URL_KEYS) or (len(where) >= 2 and where[-2] == "appearances")
        if not (is_url and isinstance(value, str) and value.lower().startswith(("http://", "https://"))):
            continue
        try:
            host = urlsplit(value).hostname
        except ValueError:  # e.g. an unclosed [ that urlsplit reads as an IPv6 address
            host = None
        if not host or any(c.isspace() for c in value):
            problems.append(doc.problem(where, "bad-url", f'"{value}" is not a usable web address: '
                                        "it needs a host name and no spaces (encode a space as %20)"))
    return problems


def _walk(data: Any, where: ValuePath) -> Iterable[tuple[ValuePath, Any]]:
    yield where, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*where, key))
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from _walk(value, (*where, n))


def _names(claim: ClaimFile) -> tuple[tuple[str, str, str, ValuePath], ...]:
    """The person and the themes a claim names, as its file writes them: (section, name, its
    slug, where), from the memo as the file's own checks, so that the checks across files do not
    read every claim's data."""
    def named() -> tuple[tuple[str, str, str, ValuePath], ...]:
        data = claim.doc.data if isinstance(claim.doc.data, dict) else {}
        tags = data.get("tags")
        found: list[tuple[str, Any, ValuePath]] = [("personnes", data.get("speaker"), ("speaker",))]
        found += [("themes", tag, ("tags", n)) for n, tag in enumerate(tags if isinstance(tags, list) else [])]
        return tuple((section, name, slugify(name), where) for section, name, where in found
                     if isinstance(name, str) and name.strip())
    return current().get("checks", ("names", claim.doc.sha), named)


def _check_shared_pages(claims: Iterable[ClaimFile]) -> list[Problem]:
    """Names written two ways that would make one page, and two files for one claim."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str], ClaimFile] = {}
    spellings: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    places: dict[tuple[str, str, str], list[tuple[ClaimFile, ValuePath]]] = defaultdict(list)
    for claim in claims:
        key = (claim.article_slug, claim.slug)
        if key in seen:
            problems.append(Problem(claim.path, 1, 1, "duplicate-slug",
                                    f"{seen[key].path} is the same claim: keep one of the two files"))
        seen[key] = claim
        for section, name, slug, where in _names(claim):
            if not slug:
                problems.append(claim.doc.problem(where, "bad-slug",
                                                  f'"{name}" has no letter or digit to make an address from'))
                continue
            spellings[(section, slug)][name] += 1
            places[(section, slug, name)].append((claim, where))
    for (section, slug), names in sorted(spellings.items()):
        if len(names) < 2:
            continue
        usual = sorted(names, key=lambda n: (-names[n], n))[0]
        for name in sorted(names):
            if name == usual:
                continue
            for claim, where in places[(section, slug, name)]:
                problems.append(claim.doc.problem(where, "duplicate-slug",
                                                  f'"{name}" and "{usual}" would share the page /{section}/{slug}/: '
                                                  f'write it "{usual}" as the other claims do'))
    return problems
