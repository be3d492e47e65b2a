"""End to end: the real dossier of this repository builds cleanly, and every claim file has its page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
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


class _ReaderText(HTMLParser):
    """The text a reader sees: text nodes outside scripts, styles and code."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("script", "style", "code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style", "code", "pre")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.text.append(data)


_TYPED_APOSTROPHE = re.compile(r".{0,20}[^\W\d_]'.{0,10}")
_BREAKING_SPACE = re.compile(r".{0,20}(?: [:;!?»]|« ).{0,5}")


def test_every_page_of_the_dossier_reads_in_french_typography(tmp_path: Path) -> None:
    # Editors type ' and plain spaces; readers get ’ and spaces that do not break before : ; ! ? ».
    out = tmp_path / "site"
    assert build_py("build", "--out", str(out)).code == 0
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 50
    for page in pages:
        reader = _ReaderText()
        reader.feed(page.read_text(encoding="utf-8"))
        text = "".join(reader.text)
        rel = page.relative_to(out)
        assert not _TYPED_APOSTROPHE.search(text), f"{rel}: {_TYPED_APOSTROPHE.findall(text)[:3]}"
        assert not _BREAKING_SPACE.search(text), f"{rel}: {_BREAKING_SPACE.findall(text)[:3]}"
