"""The preview's first look at an edit: the pages of the edited claims and articles, before the whole build.

At 10,000 claims a build after an edit takes seconds (the model is rebuilt whole, every page key
is computed again). An editor who saves a claim or an article wants to see its page: this
renders the pages the edit changes most, from the model of the last build with the edited files
put in, in a few milliseconds, and the preview serves them from memory (never from site/) until
the build that follows has published the whole site, which then takes over:

- a claim saved: its page and its article's page (which marks its quote and shows its card);
- an article saved: its page and the pages of all its claims (which show its title and date);
- a template saved: the pages open in the browser (the preview's reload script says which),
  rendered with the templates as saved, as Hugo's fast render mode does.

Only a change made of claim and article files that were there before and pass their checks, or
of page templates that render, gets a first look; anything else (site.yaml, a stylesheet, a file
with an error, a new or deleted file) waits for the build, which says what is wrong.

The first look can differ from the built pages in one way only: pages elsewhere that these pages
do not show are not updated yet (the lists, the home page). A claim's page is made of the claim
alone (render.claim_page), an article's of the article and its claims (render.article_page), any
page of the model and the templates alone, so their bytes are those the build then writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from constat.french import slugify
from constat.load import ArticleFile, ClaimFile, Inputs, load_article, load_yaml_file
from constat.model import Claim, Dossier, Speaker, Tag, article_model, claim_model
from constat.problems import Problem, Severity
from constat.render import Page, TemplateProblem, article_page, claim_page, index_path, render_now
from constat.render import pages as render_pages
from constat.validate import check_alone, check_claim_against, rated_statuses


def first_look(root: Path, templates: Path, model: tuple[Inputs, Dossier], changed: Iterable[Path],
               viewed: Iterable[str] = ()) -> dict[str, bytes]:
    """The pages (output path → bytes) the edited files change most, or {} when the change needs
    the build. ``viewed``: the pages open in the browser (output paths), for a template edit."""
    inputs, dossier = model
    changed = sorted(set(changed))
    if not changed or inputs.statuses is None:
        return {}
    if all(path.is_relative_to(templates) for path in changed):
        return _with_templates(dossier, templates, changed, set(viewed))
    rated = rated_statuses(inputs.statuses)
    article_files = {a.slug: a for a in inputs.articles}
    known = {c.path for c in inputs.claims}
    edited_articles: dict[str, ArticleFile] = {}
    edited_claims: dict[str, ClaimFile] = {}
    for path in changed:
        if not path.is_file() or path.is_symlink():
            return {}
        problems: list[Problem] = []
        if path.suffix == ".md" and path.parent == root / "content":
            article = load_article(root, path, problems)
            if article is None or problems or article.slug not in article_files or check_alone(article):
                return {}
            edited_articles[article.slug] = article
        elif path.suffix == ".yaml" and path.parent.parent == root / "claims":
            claim = _edited_claim(root, path, article_files, known, problems)
            if claim is None:
                return {}
            edited_claims[claim.path] = claim
        else:
            return {}
    files = {**article_files, **edited_articles}
    speakers = {s.slug: s for s in dossier.speakers}
    tags = {t.slug: t for t in dossier.tags}
    for claim in edited_claims.values():  # checked against its article as edited, when it is
        if check_alone(claim) or check_claim_against(claim, rated, files[claim.article_slug]) \
                or _respelled(claim.doc.data, speakers, tags):
            return {}
    touched = edited_articles.keys() | {c.article_slug for c in edited_claims.values()}
    for claim in inputs.claims:  # an edited article must still hold its other claims' quotes
        if claim.article_slug in edited_articles and claim.path not in edited_claims and any(
                p.severity is Severity.ERROR for p in check_claim_against(claim, rated, files[claim.article_slug])):
            return {}
    articles = {a.slug: a for a in dossier.articles}
    articles.update((slug, article_model(a, root)) for slug, a in edited_articles.items())
    by_key = {s.key: s for s in dossier.statuses}
    remodelled: dict[str, list[Claim]] = {slug: [] for slug in touched}
    for claim_file in inputs.claims:
        if claim_file.article_slug in touched:
            claim_file = edited_claims.get(claim_file.path, claim_file)
            remodelled[claim_file.article_slug].append(claim_model(
                claim_file, articles[claim_file.article_slug], files[claim_file.article_slug], by_key,
                inputs.statuses.sha, speakers, tags))
    pages: list[Page] = []
    for slug in sorted(touched):
        claims = sorted(remodelled[slug], key=lambda c: (c.position, c.slug))
        pages.append(article_page(articles[slug], tuple(claims)))
        pages += [claim_page(c, dossier.site) for c in claims if slug in edited_articles or c.path in edited_claims]
    return render_now(dossier, templates, pages)


def _with_templates(dossier: Dossier, templates: Path, changed: list[Path], viewed: set[str]) -> dict[str, bytes]:
    """The pages open in the browser, with the templates as saved (none when a stylesheet or
    another file the pages do not render through changed: the build copies those)."""
    if not viewed or any(path.suffix != ".html" or path.is_relative_to(templates / "static") for path in changed):
        return {}
    pages: list[Page] = []
    for page in render_pages(dossier, claims_as_claims=True):
        if isinstance(page, Claim):
            if index_path(page.permalink) in viewed:
                pages.append(claim_page(page, dossier.site))
        elif page.path in viewed:
            pages.append(page)
    try:
        return render_now(dossier, templates, pages) if pages else {}
    except TemplateProblem:  # the build says where
        return {}


def _edited_claim(root: Path, path: Path, articles: dict[str, ArticleFile], known: set[str],
                  problems: list[Problem]) -> ClaimFile | None:
    """A claim file of a known article that was there at the last build (``known``) and that
    parses, or None (a new file: its page is not linked yet)."""
    slug = path.parent.name
    if slug not in articles:
        return None
    doc = load_yaml_file(root, path, problems)
    if doc is None or problems or doc.path not in known:
        return None
    return ClaimFile(slug, path.stem, doc.path, doc)


def _respelled(data: dict[str, Any], speakers: dict[str, Speaker], tags: dict[str, Tag]) -> bool:
    """Whether the claim names a person or theme that exists under another spelling (or none): an
    error the build reports across files (validate's shared pages), never shown as a first look."""
    named = [(data["speaker"], {s: p.name for s, p in speakers.items()}),
             *((tag, {s: t.label for s, t in tags.items()}) for tag in data.get("tags", []))]
    for name, known in named:
        slug = slugify(name)
        if not slug or known.get(slug, name) != name:
            return True
    return False
