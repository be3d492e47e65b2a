"""What machines read: ClaimReview JSON-LD, Open Graph, the Atom feed, the sitemap, open data, budgets."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from constat.claimreview import check_claim_review, claim_review, script_json
from constat.load import load_project
from constat.model import Dossier, build_model
from tests.helpers import MINI, cli

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "site"
    assert cli("build", "--root", str(MINI), "--out", str(out)).code == 0
    return out


@pytest.fixture(scope="module")
def dossier() -> Dossier:
    return build_model(load_project(MINI))


def json_ld(page: Path) -> list[dict[str, object]]:
    html = page.read_text(encoding="utf-8")
    return [json.loads(m) for m in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)]


def test_exactly_one_claim_review_on_each_rated_claim_page_and_none_elsewhere(site: Path) -> None:
    expected = {"piscine-1200-entrees": ("Vrai", 5), "ecole-ouverte-1998": ("Faux", 1),
                "habitants-8000": ("Plutôt vrai", 4), "budget-hausse-12": ("Exagéré", 2),
                "deficit-moitie": ("Imprécis", 3), "emplois-300": ("Invérifiable", None)}
    for page in sorted(site.rglob("*.html")):
        found = json_ld(page)
        slug = page.parent.name
        if page.parts[-4:-2][0] == "affirmations" and slug in expected:
            assert len(found) == 1, page
            label, value = expected[slug]
            assert found[0]["@type"] == "ClaimReview"
            rating = found[0]["reviewRating"]
            assert isinstance(rating, dict)
            assert rating["alternateName"] == label
            assert rating.get("ratingValue") == value
            if value is not None:
                assert (rating["bestRating"], rating["worstRating"]) == (5, 1)
        else:
            assert found == [], f"{page} has no rated claim of its own"


def test_the_claim_review_holds_what_aggregators_need(site: Path) -> None:
    [review] = json_ld(site / "affirmations/conseil-municipal/piscine-1200-entrees/index.html")
    assert review["url"] == "https://verif.example/dossier/affirmations/conseil-municipal/piscine-1200-entrees/"
    assert review["claimReviewed"] == "La piscine a reçu 1 200 entrées le premier mois"
    assert review["author"] == {"@type": "Organization", "name": "Rédaction fictive", "url": "https://verif.example/"}
    assert review["datePublished"] == "2024-03-20"
    item = review["itemReviewed"]
    assert isinstance(item, dict)
    assert item["author"] == {"@type": "Person", "name": "Marie Exemple", "jobTitle": "maire de Villeneuve-sur-Test",
                              "sameAs": "https://wiki.example/Marie_Exemple"}
    assert item["datePublished"] == "2024-03-14"
    assert item["appearance"][0]["url"] == "https://gazette.example/conseil-municipal"


def test_a_claim_made_by_the_publication_is_the_organisations(site: Path) -> None:
    [review] = json_ld(site / "affirmations/conseil-municipal/habitants-8000/index.html")
    item = review["itemReviewed"]
    assert isinstance(item, dict)
    assert item["author"] == {"@type": "Organization", "name": "La Gazette d’Exemple"}


def test_no_value_can_close_the_script_element() -> None:
    hostile = {"claimReviewed": "</script><script>alert(1)</script><!--", "x": "a & b \u2028"}
    text = str(script_json(hostile))
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text) == hostile


def test_the_build_refuses_a_claim_review_that_aggregators_would_reject(dossier: Dossier) -> None:
    claim = next(c for c in dossier.claims if c.slug == "piscine-1200-entrees")
    good = claim_review(claim, dossier.site)
    assert check_claim_review(good, claim, dossier) == []
    for change, message in (
        ({"claimReviewed": " "}, "claimReviewed is empty"),
        ({"claimReviewed": "x" * 80}, "has 80 characters"),
        ({"reviewRating": {**good["reviewRating"], "ratingValue": 6}}, "outside 1 to 5"),
        ({"reviewRating": {**good["reviewRating"], "alternateName": "Fake"}}, "not in the scale"),
        ({"url": "https://elsewhere.example/x/"}, "is not on the site"),
    ):
        problems = check_claim_review({**good, **change}, claim, dossier)
        assert [p.code for p in problems] == ["claim-review"]
        assert message in problems[0].message
        assert problems[0].path == "claims/conseil-municipal/piscine-1200-entrees.yaml"


def test_every_page_has_open_graph_and_a_canonical_address(site: Path) -> None:
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        for tag in ('property="og:title"', 'property="og:description"', 'property="og:url"', 'name="twitter:card"'):
            assert tag in html, (page, tag)
    claim = (site / "affirmations/conseil-municipal/ecole-ouverte-1998/index.html").read_text(encoding="utf-8")
    assert '<meta property="og:type" content="article">' in claim
    assert ('<link rel="canonical" href="https://verif.example/dossier/affirmations/conseil-municipal/'
            'ecole-ouverte-1998/">') in claim


def test_the_feed_carries_reviews_and_corrections_newest_first(site: Path) -> None:
    feed = ET.parse(site / "feed.xml").getroot()
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(ids) == 8 + 2, "8 reviews and 2 corrections"
    assert "https://verif.example/dossier/affirmations/conseil-municipal/ecole-ouverte-1998/#correction-2" in ids
    updated = [e.findtext(f"{ATOM}updated") or "" for e in entries]
    assert updated == sorted(updated, reverse=True)
    assert feed.findtext(f"{ATOM}updated") == updated[0]


def test_the_sitemap_lists_every_page_but_the_404_with_data_dates(site: Path) -> None:
    urls = {u.findtext(f"{SITEMAP}loc"): u.findtext(f"{SITEMAP}lastmod")
            for u in ET.parse(site / "sitemap.xml").getroot()}
    pages = {p for p in site.rglob("*.html") if p.name != "404.html"}
    assert len(urls) == len(pages)
    assert urls["https://verif.example/dossier/affirmations/conseil-municipal/ecole-ouverte-1998/"] == "2024-03-20"
    assert "https://verif.example/dossier/404.html" not in urls
    robots = (site / "robots.txt").read_text()
    assert "Sitemap: https://verif.example/dossier/sitemap.xml" in robots


def test_open_data_has_one_record_per_claim_in_json_and_csv(site: Path) -> None:
    data = json.loads((site / "donnees/affirmations.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(io.StringIO((site / "donnees/affirmations.csv").read_text(encoding="utf-8"))))
    assert len(data["claims"]) == len(rows) == 8
    by_id = {r["id"]: r for r in rows}
    budget = by_id["budget-regional/budget-hausse-12"]
    assert (budget["status"], budget["rating"], budget["stated"], budget["measured"]) == ("exagere", "2", "12", "4.5")
    assert by_id["budget-regional/emplois-300"]["rating"] == ""
    assert by_id["conseil-municipal/piscine-1200-entrees"]["tags"] == "Sport | Équipements publics"
    documented = (site / "donnees/index.html").read_text(encoding="utf-8")
    for column in rows[0]:
        assert f"<code>{column}</code>" in documented, f"column {column} is documented"


def test_open_data_json_is_what_json_dumps_writes(dossier: Dossier) -> None:
    # claims_json assembles the file from each claim's part (kept in the memo between builds).
    from constat.opendata import _record, claims_json

    site_ = dossier.site
    whole = {"title": site_.title, "publisher": site_.publisher_name, "licence": site_.licence_url,
             "documentation": site_.absolute_url("/donnees/"), "claims": [_record(c, dossier) for c in dossier.claims]}
    assert claims_json(dossier) == (json.dumps(whole, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    empty = dataclasses.replace(dossier, claims=())
    assert claims_json(empty) == (json.dumps({**whole, "claims": []}, ensure_ascii=False, indent=1) + "\n").encode()


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(_JSON_VALUES)
def test_open_data_records_are_indented_as_json_dumps_indents_them(value: object) -> None:
    from constat.opendata import indented_json

    assert indented_json(value) == json.dumps(value, ensure_ascii=False, indent=1)


def test_open_data_records_leave_no_garbage_for_the_cycle_collector(dossier: Dossier) -> None:
    # A build pauses the cycle collector: json.dumps(indent=1) left ~2.5 KB of cycles per claim.
    import gc

    from constat.memo import Memo, current, use
    from constat.opendata import rows

    before = current()
    use(Memo())  # every record made here, none found
    gc.collect()
    gc.disable()
    try:
        assert len(rows(dossier)) == len(dossier.claims) > 0
        assert gc.collect() == 0
    finally:
        gc.enable()
        use(before)


def test_the_feed_holds_the_newest_entries_only(dossier: Dossier) -> None:
    from constat.feeds import FEED_LENGTH, feed_entries

    many = dataclasses.replace(dossier, claims=dossier.claims * 10)
    entries = feed_entries(many)
    assert len(entries) == FEED_LENGTH
    assert [e.updated for e in entries] == sorted((e.updated for e in entries), reverse=True)


def test_pages_stay_within_their_budgets(site: Path) -> None:
    css = list(site.rglob("*.css"))
    assert [p.name for p in css] == ["style.css"]
    assert css[0].stat().st_size < 30_000
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert len(html.encode()) < 50_000, page
        assert html.count('rel="stylesheet"') == 1
        for script in re.findall(r"<script\b[^>]*\bsrc=[^>]*>", html):
            assert 'type="module"' in script or " defer" in script or " async" in script, (page, script)
        assert not re.search(r'(src|href)="(https?:)?//(?!verif\.example)', html.split("<main", 1)[0]), \
            "no asset comes from another host"


@pytest.fixture(scope="module")
def long_lists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini dossier with 92 more claims by one person, on one verdict and one theme."""
    import shutil
    root = tmp_path_factory.mktemp("long") / "project"
    shutil.copytree(MINI, root)
    source = (root / "claims/budget-regional/budget-hausse-12.yaml").read_text(encoding="utf-8")
    for n in range(92):
        (root / f"claims/budget-regional/copie-{n:03d}.yaml").write_text(
            source.replace("summary: Le budget", f"summary: Copie {n}, le budget"), encoding="utf-8")
    assert cli("build", "--root", str(root)).code == 0
    return root / "site"


BASE = "/dossier/"  # the mini dossier's base path


def listed_claims(page: str) -> list[str]:
    return re.findall(rf'<li class="card">.*?<a href="{BASE}(affirmations/[^"]+/)"', page, re.DOTALL)


@pytest.mark.parametrize("first", ["affirmations/", "verdicts/exagere/", "personnes/paul-temoin/", "themes/budget/"])
def test_long_lists_are_paged_and_every_claim_is_on_exactly_one_page(long_lists: Path, first: str) -> None:
    from constat.render import LISTED_PER_PAGE
    everything = {p.parent.relative_to(long_lists).as_posix() for p in long_lists.glob("affirmations/*/*/index.html")
                  if p.parent.parent.name != "page"}
    pages = [(long_lists / first / "index.html").read_text(encoding="utf-8")]
    while (following := re.search(rf'<a href="{BASE}([^"]+)" rel="next">Page suivante</a>', pages[-1])) is not None:
        pages.append((long_lists / following.group(1) / "index.html").read_text(encoding="utf-8"))
        assert len(pages) < 10, "the next links end"
    total = len(pages)
    assert total == 3, "92 copies and their few siblings: three pages"
    listed = [claim for page in pages for claim in listed_claims(page)]
    assert len(listed) == len(set(listed)), "no claim is listed twice"
    assert all(len(listed_claims(page)) <= LISTED_PER_PAGE for page in pages)
    if first == "affirmations/":
        assert {c.strip("/") for c in listed} == everything, "every claim is on one of the pages"
    else:
        assert len(listed) >= 92
    for n, page in enumerate(pages, 1):
        here = f"{BASE}{first}" if n == 1 else f"{BASE}{first}page/{n}/"
        assert f'<link rel="canonical" href="https://verif.example{here}">' in page
        assert f"<p>Page {n} sur {total}</p>" in page
        assert f'href="{here}" aria-current="page">{n}</a>' in page
        assert ('rel="prev"' in page) == (n > 1) and ('rel="next"' in page) == (n < total)
        if n > 1:
            assert f", page {n} sur {total} · " in page, "the title says which page"
    assert not (long_lists / first / "page/1").exists(), "page 1 is the list's own address"


def test_long_lists_of_articles_are_paged_and_the_home_page_shows_the_newest(tmp_path: Path) -> None:
    import shutil

    from constat.render import HOME_ARTICLES, LISTED_PER_PAGE
    root = tmp_path / "project"
    shutil.copytree(MINI, root)
    source = (root / "content/budget-regional.md").read_text(encoding="utf-8")
    for n in range(45):  # 47 articles with the fixture's two, these the newest
        (root / f"content/article-{n:02d}.md").write_text(
            re.sub(r"(?m)^title: .*$", f"title: Article de test {n:02d}",
                   re.sub(r"(?m)^published: .*$", "published: 2030-01-01", source)), encoding="utf-8")
    assert cli("build", "--root", str(root)).code == 0
    site = root / "site"
    first, second = ((site / p / "index.html").read_text(encoding="utf-8") for p in ("articles", "articles/page/2"))
    listed = [re.findall(rf'<a href="{BASE}(articles/[^"/]+/)">', page) for page in (first, second)]
    assert [len(x) for x in listed] == [LISTED_PER_PAGE, 47 - LISTED_PER_PAGE]
    assert len({*listed[0], *listed[1]}) == 47, "every article on one page"
    assert 'rel="next"' in first and 'rel="prev"' in second
    home = (site / "index.html").read_text(encoding="utf-8")
    on_home = re.findall(rf'<li>\s*<a href="{BASE}(articles/[^"/]+/)">', home)
    assert len(on_home) == HOME_ARTICLES
    assert on_home == (listed[0] + listed[1])[-HOME_ARTICLES:], "the newest, in the order of /articles/"
    assert f'<a href="{BASE}articles/">Les 47 articles</a>' in home
