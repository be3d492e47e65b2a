"""Stage 3: the model's permalinks, orders and indexes, on the mini fixture."""

from __future__ import annotations

from datetime import date

import pytest

from constat.load import load_project
from constat.model import Dossier, build_model
from constat.validate import validate
from tests.helpers import MINI


@pytest.fixture(scope="module")
def dossier() -> Dossier:
    inputs = load_project(MINI)
    assert validate(inputs) == []
    return build_model(inputs)


def test_permalinks_are_clean_folders_under_the_base_path(dossier: Dossier) -> None:
    claim = next(c for c in dossier.claims if c.slug == "piscine-1200-entrees")
    assert claim.permalink == "/affirmations/conseil-municipal/piscine-1200-entrees/"
    assert dossier.site.url(claim.permalink) == "/dossier/affirmations/conseil-municipal/piscine-1200-entrees/"
    assert dossier.site.absolute_url("/") == "https://verif.example/dossier/"
    assert claim.speaker.permalink == "/personnes/marie-exemple/"
    assert [t.permalink for t in claim.tags] == ["/themes/sport/", "/themes/equipements-publics/"]


def test_articles_come_oldest_first_and_claims_in_reading_order(dossier: Dossier) -> None:
    assert [a.slug for a in dossier.articles] == ["conseil-municipal", "budget-regional"]
    assert [c.slug for c in dossier.claims_by_article["conseil-municipal"]] == [
        "piscine-1200-entrees", "ecole-ouverte-1998", "pont-travaux", "bibliotheque-promesse", "habitants-8000"]


def test_latest_reviews_count_corrections_and_break_ties_by_address(dossier: Dossier) -> None:
    latest = dossier.latest
    assert [c.updated_on for c in latest] == sorted((c.updated_on for c in latest), reverse=True)
    school = next(c for c in dossier.claims if c.slug == "ecole-ouverte-1998")
    assert school.published_on == date(2024, 3, 18)
    assert school.updated_on == date(2024, 3, 20)


def test_indexes_group_claims_by_status_speaker_and_tag(dossier: Dossier) -> None:
    assert len(dossier.claims) == 8
    assert sum(len(v) for v in dossier.claims_by_status.values()) == 8
    assert {s.name for s in dossier.speakers} == {"Marie Exemple", "Paul Témoin", "La Gazette d’Exemple"}
    assert [c.slug for c in dossier.claims_by_tag["budget"]] == ["budget-hausse-12", "emplois-300", "deficit-moitie"]
    assert "trompeur" not in dossier.claims_by_status
    assert [s.key for s in dossier.statuses][:2] == ["vrai", "plutot-vrai"]


def test_a_page_key_depends_on_values_not_on_which_objects_are_shared(dossier: Dossier) -> None:
    # Page keys decide what is rendered again: equal contexts built from distinct objects must
    # key alike (or every build re-renders everything), and any change must change the key.
    from markupsafe import Markup

    from constat.render import fingerprint
    claim = dossier.claims[0]
    title = "Titre : « un »"
    shared = {"a": title, "b": title, "claim": claim, "when": date(2015, 11, 17)}
    distinct = {"a": "".join(["Titre : ", "« un »"]), "b": "".join(["Titre", " : « un »"]), "claim": claim,
                "when": date(2015, 11, 17)}
    assert fingerprint(shared) == fingerprint(distinct)
    assert fingerprint({**shared, "b": "Titre : « deux »"}) != fingerprint(shared)
    assert fingerprint({**shared, "claim": dossier.claims[1]}) != fingerprint(shared)
    assert fingerprint({**shared, "a": Markup(title)}) != fingerprint(shared), "markup is not text"
    assert fingerprint([1, 2]) != fingerprint((1, 2))
    with pytest.raises(TypeError, match=r"teach render\.fingerprint"):
        fingerprint({"page": object()})
