"""The preview's first look at an edit (constat/preview.py): the pages the edit changes most (or,
for a template, the pages open in the browser), rendered alone from the last build's model, are
the bytes the build then writes; a change that needs the build (an error, a new file, site.yaml)
gets none."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from constat.load import Inputs
from constat.model import Dossier
from constat.pipeline import TOOL_ROOT, Project, build
from constat.preview import first_look
from tests.helpers import MINI, copy_project

ARTICLE = "content/budget-regional.md"
CLAIM = "claims/budget-regional/emplois-300.yaml"
ARTICLE_PAGE = "articles/budget-regional/index.html"
CLAIM_PAGES = [f"affirmations/budget-regional/{slug}/index.html"
               for slug in ("budget-hausse-12", "deficit-moitie", "emplois-300")]


def _built(root: Path) -> tuple[Inputs, Dossier]:
    report = build(Project.at(root), model=True)
    assert not report.failed and report.model is not None
    return report.model


def _edit(root: Path, rel: str, old: str, new: str) -> Path:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _look(root: Path, model: tuple[Inputs, Dossier], *changed: Path, viewed: Iterable[str] = ()) -> dict[str, bytes]:
    return first_look(root, Project.at(root).templates, model, changed, viewed)


def _as_built(root: Path, pages: dict[str, bytes]) -> None:
    assert not build(Project.at(root)).failed
    for rel, data in pages.items():
        assert (root / "site" / rel).read_bytes() == data, f"{rel}: the first look is not what the build wrote"


def test_an_edited_article_shows_its_page_and_its_claims_pages_as_the_build_writes_them(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    model = _built(root)
    article = _edit(root, ARTICLE, "title: Le budget régional en hausse", "title: Le budget régional revu")
    article.write_text(article.read_text(encoding="utf-8").replace(
        "Paul Témoin, président", "Paul Témoin, réélu président"), encoding="utf-8")
    pages = _look(root, model, article)
    assert sorted(pages) == sorted([ARTICLE_PAGE, *CLAIM_PAGES])
    assert all("Le budget régional revu" in data.decode() for data in pages.values()), "every page shows the new title"
    assert "réélu président" in pages[ARTICLE_PAGE].decode()
    assert "réélu" not in (root / "site" / ARTICLE_PAGE).read_text(encoding="utf-8"), "site/ is the build's alone"
    _as_built(root, pages)


def test_an_edited_claim_shows_its_page_and_its_article_page_as_the_build_writes_them(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    model = _built(root)
    claim = _edit(root, CLAIM, "Aucun décompte public", "Aucun décompte officiel")
    pages = _look(root, model, claim)
    assert sorted(pages) == [CLAIM_PAGES[2], ARTICLE_PAGE]
    assert "Aucun décompte officiel" in pages[CLAIM_PAGES[2]].decode()
    _as_built(root, pages)


def test_an_article_and_one_of_its_claims_saved_together(tmp_path: Path) -> None:
    # The claim now quotes a sentence that only the edited article has: checked against it.
    root = copy_project(MINI, tmp_path / "p")
    model = _built(root)
    article = _edit(root, ARTICLE, "Nous avons créé 300 emplois", "Nous avons créé 310 emplois")
    claim = _edit(root, CLAIM, "Nous avons créé 300 emplois", "Nous avons créé 310 emplois")
    pages = _look(root, model, article, claim)
    assert sorted(pages) == sorted([ARTICLE_PAGE, *CLAIM_PAGES])
    assert "310 emplois" in pages[CLAIM_PAGES[2]].decode()
    _as_built(root, pages)


@pytest.mark.parametrize("rel, old, new", [
    (ARTICLE, "Le budget augmente de 12 % cette année.", "Le budget augmente."),  # a claim's quote is gone
    (ARTICLE, "published: 2024-05-02", "published: 2024-13-02"),  # the article's own error
    (ARTICLE, "---\n", ""),  # no front matter
    (CLAIM, "status: inverifiable", "status: fause"),
    (CLAIM, "quote: Nous avons créé 300 emplois", "quote: Nous avons créé 900 emplois"),  # not in the article
    ("site.yaml", "title:", "title: Autre"),
])
def test_a_change_the_build_must_check_gets_no_first_look(tmp_path: Path, rel: str, old: str, new: str) -> None:
    root = copy_project(MINI, tmp_path / "p")
    model = _built(root)
    assert _look(root, model, _edit(root, rel, old, new), viewed={CLAIM_PAGES[0], ARTICLE_PAGE}) == {}


def test_an_edited_template_shows_the_pages_open_in_the_browser_as_the_build_writes_them(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    shutil.copytree(TOOL_ROOT / "templates", root / "templates")
    model = _built(root)
    open_pages = {CLAIM_PAGES[0], ARTICLE_PAGE, "index.html", "nulle-part/index.html"}
    claim = _edit(root, "templates/claim.html", ">Notre vérification<", ">La vérification<")
    layout = _edit(root, "templates/base.html", "Aller au contenu", "Aller au texte")
    pages = _look(root, model, claim, layout, viewed=open_pages)
    assert sorted(pages) == sorted([CLAIM_PAGES[0], ARTICLE_PAGE, "index.html"]), "the open pages that exist"
    assert ">La vérification<" in pages[CLAIM_PAGES[0]].decode()
    assert all("Aller au texte" in data.decode() for data in pages.values())
    _as_built(root, pages)
    assert _look(root, model, claim) == {}, "no page open: nothing to show first"


@pytest.mark.parametrize("rel, old, new", [
    ("templates/claim.html", "{% endblock %}", "{% endblok %}"),  # does not compile: the build says where
    ("templates/static/style.css", "body", "body "),  # the build copies it: no page to render
])
def test_a_template_change_the_build_must_make_gets_no_first_look(tmp_path: Path, rel: str, old: str, new: str) -> None:
    root = copy_project(MINI, tmp_path / "p")
    shutil.copytree(TOOL_ROOT / "templates", root / "templates")
    model = _built(root)
    assert _look(root, model, _edit(root, rel, old, new), viewed={CLAIM_PAGES[0], ARTICLE_PAGE}) == {}


def test_a_new_article_or_claim_file_gets_no_first_look(tmp_path: Path) -> None:
    # Its page is linked from nowhere yet: the build makes it with the lists that link it.
    root = copy_project(MINI, tmp_path / "p")
    model = _built(root)
    article = root / "content/budget-regional-bis.md"
    article.write_text((root / ARTICLE).read_text(encoding="utf-8"), encoding="utf-8")
    claim = root / "claims/budget-regional/emplois-300-bis.yaml"
    claim.write_text((root / CLAIM).read_text(encoding="utf-8"), encoding="utf-8")
    assert _look(root, model, article) == {}
    assert _look(root, model, claim) == {}
    assert _look(root, model, root / ARTICLE, claim) == {}
