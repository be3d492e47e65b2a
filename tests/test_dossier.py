"""End to end: the real dossier of this repository builds cleanly, and every claim file has its page."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import REPO, build_py


def test_the_dossier_builds_strictly_with_a_page_for_every_claim(tmp_path: Path) -> None:
    out = tmp_path / "site"
    run = build_py("build", "--strict", "--out", str(out))
    assert run.code == 0, run.err
    assert run.err == ""
    claims = sorted(REPO.glob("claims/*/*.yaml"))
    articles = sorted(REPO.glob("content/*.md"))
    assert claims and articles
    for claim in claims:
        page = out / "affirmations" / claim.parent.name / claim.stem / "index.html"
        assert page.is_file(), claim
        html = page.read_text(encoding="utf-8")
        assert '<html lang="fr">' in html
        assert f'href="/articles/{claim.parent.name}/"' in html, "each claim links to its article"
    for article in articles:
        html = (out / "articles" / article.stem / "index.html").read_text(encoding="utf-8")
        linked = html.count('class="quote-ref"')
        own = len(list((REPO / "claims" / article.stem).glob("*.yaml")))
        assert linked >= own, f"every quote of {article.name} is highlighted in its passages"
