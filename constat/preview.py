"""The preview's first look at an edit: the page of each edited claim, before the whole build.

At 10,000 claims a build after an edit takes seconds (the model is rebuilt whole, every page key
is computed again). An editor who saves a claim file wants to see that claim's page: this
renders it alone, from the model of the last build with the edited claim put in, in a few
milliseconds, and the preview serves it from memory (never from site/) until the build that
follows has published the whole site, which then takes over. Only a change made of claim files
that pass their checks gets a first look; anything else (an article, a template, site.yaml, a
claim with a problem, a new or deleted file) waits for the build, which says what is wrong.

The first look can differ from the built page in one way only: pages elsewhere that the claim
page does not show are not updated yet. The claim page's context is the claim alone
(render.claim_page), so its bytes are those the build then writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from constat.french import slugify
from constat.load import ClaimFile, Inputs, load_yaml_file
from constat.model import Dossier, Speaker, Tag, claim_model
from constat.problems import Problem
from constat.render import claim_page, render_now
from constat.validate import check_alone, check_claim_against, rated_statuses


def first_look(root: Path, templates: Path, model: tuple[Inputs, Dossier], changed: Iterable[Path]) -> dict[str, bytes]:
    """The pages (output path → bytes) of the edited claims, or {} when the change needs the build."""
    inputs, dossier = model
    changed = sorted(set(changed))
    claims_folder = root / "claims"
    if not changed or inputs.statuses is None:
        return {}
    article_files = {a.slug: a for a in inputs.articles}
    articles = {a.slug: a for a in dossier.articles}
    known = {c.path for c in inputs.claims}
    by_key = {s.key: s for s in dossier.statuses}
    rated = rated_statuses(inputs.statuses)
    speakers = {s.slug: s for s in dossier.speakers}
    tags = {t.slug: t for t in dossier.tags}
    pages = []
    for path in changed:
        folder = path.parent
        if path.suffix != ".yaml" or folder.parent != claims_folder or not path.is_file() or path.is_symlink():
            return {}
        slug = folder.name
        if slug not in articles or slug not in article_files:
            return {}
        problems: list[Problem] = []
        doc = load_yaml_file(root, path, problems)
        if doc is None or problems or doc.path not in known:  # a new file: its page is not linked yet
            return {}
        claim_file = ClaimFile(slug, path.stem, doc.path, doc)
        if check_alone(claim_file) or check_claim_against(claim_file, rated, article_files[slug]) \
                or _respelled(doc.data, speakers, tags):
            return {}
        claim = claim_model(claim_file, articles[slug], article_files[slug].body, by_key, inputs.statuses.sha,
                            speakers, tags)
        pages.append(claim_page(claim, dossier.site))
    return render_now(dossier, templates, pages)


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
