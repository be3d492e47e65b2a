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
