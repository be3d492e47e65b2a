"""The editorial diff against real git repositories: each kind of change is reported, and only what changed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from constat.diff import ClaimChange, EditorialDiff, editorial_diff, format_markdown, format_text
from tests.helpers import MINI, copy_project

# The tests commit: they need an identity, and must not depend on the machine's git configuration.
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
CLAIMS = Path("claims")
HAUSSE = CLAIMS / "budget-regional" / "budget-hausse-12.yaml"
DEFICIT = CLAIMS / "budget-regional" / "deficit-moitie.yaml"
ECOLE = CLAIMS / "conseil-municipal" / "ecole-ouverte-1998.yaml"
HABITANTS = CLAIMS / "conseil-municipal" / "habitants-8000.yaml"
PONT = CLAIMS / "conseil-municipal" / "pont-travaux.yaml"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=GIT_ENV, check=True, capture_output=True)


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The mini fixture committed once in a fresh repository."""
    root = copy_project(MINI, tmp_path / "repo")
    git(root, "init", "-q")
    commit_all(root, "mini")
    return root


def edit(root: Path, path: Path, old: str, new: str) -> None:
    text = (root / path).read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}: the fixture changed"
    (root / path).write_text(text.replace(old, new, 1), encoding="utf-8")


def changed(d: EditorialDiff) -> dict[str, ClaimChange]:
    return {f"{c.article}/{c.slug}": c for c in d.claims_changed}


def test_an_unchanged_tree_has_nothing_to_report(repo: Path) -> None:
    d = editorial_diff(repo, "HEAD")
    assert d.empty
    assert "Aucune modification des affirmations ni des articles." in format_markdown(d)


def test_a_changed_status_shows_both_labels_from_statuses_yaml(repo: Path) -> None:
    edit(repo, DEFICIT, "status: imprecis", "status: faux")
    d = editorial_diff(repo, "HEAD")
    assert list(changed(d)) == ["budget-regional/deficit-moitie"]
    change = changed(d)["budget-regional/deficit-moitie"]
    assert (change.verdict, change.fields, change.others) == (("Imprécis", "Faux"), (), ())
    assert "- Verdict : Imprécis → Faux" in format_markdown(d).splitlines()
    assert (d.claims_added, d.claims_removed, d.articles_changed, d.unreadable) == ((), (), (), ())


def test_added_and_removed_claims_are_listed_with_their_quote_and_verdict(repo: Path) -> None:
    (repo / PONT).unlink()
    added = repo / CLAIMS / "budget-regional" / "deficit-2020.yaml"  # never added to git: the working tree counts
    shutil.copy(repo / DEFICIT, added)
    edit(repo, added.relative_to(repo), "quote: Le déficit a baissé de moitié", "quote: depuis 2020")
    d = editorial_diff(repo, "HEAD")
    assert [(c.article, c.slug, c.quote, c.verdict) for c in d.claims_added] == \
        [("budget-regional", "deficit-2020", "depuis 2020", "Imprécis")]
    assert [(c.article, c.slug, c.quote, c.verdict) for c in d.claims_removed] == \
        [("conseil-municipal", "pont-travaux", "Les travaux du pont ont commencé, […] en mars", "En cours")]
    assert d.claims_changed == ()
    markdown = format_markdown(d)
    assert "## Affirmations ajoutées (1)\n\n### `budget-regional/deficit-2020` — Imprécis\n\n> depuis 2020\n" \
        in markdown
    assert ("## Affirmations retirées (1)\n\n### `conseil-municipal/pont-travaux` — En cours\n\n"
            "> Les travaux du pont ont commencé, […] en mars\n") in markdown


def test_a_changed_quote_and_source_are_named_with_the_earlier_wording_and_urls(repo: Path) -> None:
    edit(repo, HAUSSE, "quote: Le budget augmente de 12 % cette année", "quote: Le budget augmente de 12 %")
    edit(repo, HAUSSE, "https://region.example/budget-2024", "https://region.example/budget-primitif-2024")
    edit(repo, HAUSSE, "measured: 4.5", "measured: 4.6")
    edit(repo, HAUSSE, "speaker: Paul Témoin", "short_claim: Le budget augmente de 12 %\nspeaker: Paul Témoin")
    change = changed(editorial_diff(repo, "HEAD"))["budget-regional/budget-hausse-12"]
    assert change.verdict is None
    assert change.fields == ("quote", "short_claim", "figures")
    assert change.sources_added == ("https://region.example/budget-primitif-2024",)
    assert change.sources_removed == ("https://region.example/budget-2024",)
    lines = format_markdown(editorial_diff(repo, "HEAD")).splitlines()
    assert "> Le budget augmente de 12 %" in lines
    assert "- Citation (quote) modifiée ; avant : « Le budget augmente de 12 % cette année »" in lines
    assert "- Affirmation résumée (short_claim) modifiée ; avant : (vide)" in lines
    assert "- Source ajoutée : https://region.example/budget-primitif-2024" in lines
    assert "- Source retirée : https://region.example/budget-2024" in lines
    assert "- Chiffres : avancé 12 %, établi 4,5 % (au 2024-04-15) → avancé 12 %, établi 4,6 % (au 2024-04-15)" in lines


def test_summary_explanation_an_edited_source_and_other_fields_are_named(repo: Path) -> None:
    edit(repo, DEFICIT, "summary: Le déficit a baissé d'un tiers", "summary: Le déficit a baissé d'environ un tiers")
    edit(repo, DEFICIT, "verdict: Le déficit passe", "verdict: Selon les comptes, le déficit passe")
    edit(repo, DEFICIT, "reviewed_on: 2024-05-03", "reviewed_on: 2024-05-10")
    edit(repo, DEFICIT, "title: Comptes administratifs 2020-2024", "title: Comptes administratifs 2020 à 2024")
    change = changed(editorial_diff(repo, "HEAD"))["budget-regional/deficit-moitie"]
    assert (change.fields, change.others) == (("summary", "verdict"), ("reviewed_on",))
    assert (change.sources_added, change.sources_removed) == ((), ())
    assert change.sources_edited == ("https://region.example/comptes",)
    lines = format_markdown(editorial_diff(repo, "HEAD")).splitlines()
    assert "- Verdict en une phrase (summary) modifié ; avant : « Le déficit a baissé d'un tiers, pas de moitié. »" \
        in lines
    assert "- Explication (verdict) modifiée" in lines
    assert "- Source modifiée (titre, éditeur, date ou extrait) : https://region.example/comptes" in lines
    assert "- Autres champs modifiés : reviewed_on" in lines


def test_only_new_corrections_are_listed(repo: Path) -> None:
    correction = "  - date: 2024-03-25\n    text: Précision sur la délibération.\n"
    edit(repo, ECOLE, "tags: [Écoles]", correction + "tags: [Écoles]")
    change = changed(editorial_diff(repo, "HEAD"))["conseil-municipal/ecole-ouverte-1998"]
    assert change.new_corrections == (("2024-03-25", "Précision sur la délibération."),)
    assert (change.fields, change.sources_added, change.others) == ((), (), ())
    assert "- Nouvelle correction du 2024-03-25 : Précision sur la délibération." in \
        format_markdown(editorial_diff(repo, "HEAD")).splitlines()


def test_a_file_that_no_longer_loads_is_unreadable_not_removed(repo: Path) -> None:
    edit(repo, HABITANTS, "summary: Le recensement", 'summary: "Le recensement')
    d = editorial_diff(repo, "HEAD")
    assert (d.claims_removed, d.claims_changed) == ((), ())
    assert [(u.side, u.path, u.line) for u in d.unreadable] == \
        [("la version de travail", "claims/conseil-municipal/habitants-8000.yaml", 19)]
    assert "a quotation mark is not closed" in d.unreadable[0].message
    assert "## Fichiers illisibles (1)" in format_markdown(d)


def test_a_file_broken_at_the_ref_is_not_reported_as_added(repo: Path) -> None:
    edit(repo, HABITANTS, "summary: Le recensement", 'summary: "Le recensement')
    commit_all(repo, "broken")
    edit(repo, HABITANTS, 'summary: "Le recensement', "summary: Le recensement")
    d = editorial_diff(repo, "HEAD")
    assert d.claims_added == ()
    assert [(u.side, u.path) for u in d.unreadable] == [("`HEAD`", "claims/conseil-municipal/habitants-8000.yaml")]


def test_article_title_url_date_and_passages(repo: Path) -> None:
    article = Path("content/budget-regional.md")
    edit(repo, article, "title: Le budget régional en hausse", "title: Le budget régional augmente")
    edit(repo, article, "published: 2024-05-02", "published: 2024-05-03")
    edit(repo, article, "depuis 2020.", "depuis 2020, a-t-il ajouté.")
    shutil.copy(repo / article, repo / "content" / "budget-2025.md")
    d = editorial_diff(repo, "HEAD")
    assert [(a.slug, a.fields) for a in d.articles_changed] == [("budget-regional", ("title", "published", "passages"))]
    assert [(a.slug, a.title) for a in d.articles_added] == [("budget-2025", "Le budget régional augmente")]
    assert "  - Modifié : titre, date, passages cités" in format_markdown(d).splitlines()


def test_the_ref_is_read_from_git_not_from_the_working_tree(repo: Path) -> None:
    edit(repo, DEFICIT, "status: imprecis", "status: faux")
    commit_all(repo, "faux")
    assert editorial_diff(repo, "HEAD").empty
    assert changed(editorial_diff(repo, "HEAD~1"))["budget-regional/deficit-moitie"].verdict == ("Imprécis", "Faux")


def test_a_project_in_a_sub_folder_of_the_repository(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "repo" / "verif")
    git(root.parent, "init", "-q")
    commit_all(root.parent, "mini")
    (root / PONT).unlink()
    assert [c.slug for c in editorial_diff(root, "HEAD").claims_removed] == ["pont-travaux"]


def test_the_full_report_in_markdown_and_text(repo: Path) -> None:
    edit(repo, DEFICIT, "status: imprecis", "status: faux")
    (repo / PONT).unlink()
    d = editorial_diff(repo, "HEAD")
    assert format_markdown(d) == """\
# Modifications éditoriales depuis `HEAD`

Affirmations : 0 ajoutée(s), 1 retirée(s), 1 modifiée(s), dont 1 changement(s) de verdict. \
Articles : 0 ajouté(s), 0 retiré(s), 0 modifié(s).

## Affirmations retirées (1)

### `conseil-municipal/pont-travaux` — En cours

> Les travaux du pont ont commencé, […] en mars

## Affirmations modifiées (1)

### `budget-regional/deficit-moitie`

> Le déficit a baissé de moitié

- Verdict : Imprécis → Faux
"""
    assert format_text(d) == """\
Modifications éditoriales depuis HEAD
=====================================

Affirmations : 0 ajoutée(s), 1 retirée(s), 1 modifiée(s), dont 1 changement(s) de verdict. \
Articles : 0 ajouté(s), 0 retiré(s), 0 modifié(s).

Affirmations retirées (1)
-------------------------
* conseil-municipal/pont-travaux — En cours
  « Les travaux du pont ont commencé, […] en mars »

Affirmations modifiées (1)
--------------------------
* budget-regional/deficit-moitie
  « Le déficit a baissé de moitié »
  - Verdict : Imprécis → Faux
"""


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~5", "-h", ""])
def test_an_unknown_ref_is_a_value_error(repo: Path, ref: str) -> None:
    with pytest.raises(ValueError, match="git revision"):
        editorial_diff(repo, ref)


def test_outside_a_repository_is_a_value_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # even when the temporary folder is in a repository
    root = copy_project(MINI, tmp_path / "not-a-repo")
    with pytest.raises(ValueError, match="not a git repository"):
        editorial_diff(root, "HEAD")
