"""Markdown fields: sanitized, typeset, and the article's quotes highlighted."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from constat import markup
from constat.french import NBSP
from constat.markup import Highlight, highlight_quotes, markdown_to_html, plain_text
from constat.memo import Memo, use
from constat.pipeline import Project, build
from tests.helpers import REPO, copy_project


def test_markdown_is_rendered_and_anything_active_is_removed() -> None:
    html = markdown_to_html('Un **fait**.\n\n<script>alert(1)</script><img src=x onerror=alert(1)>'
                            '[lien](javascript:alert(1)) <a href="https://ok.example" onclick="x()">ok</a>')
    assert "<strong>fait</strong>" in html
    for bad in ("<script", "alert(1)</", "onerror", "javascript:", "onclick", "<img"):
        assert bad not in html
    assert '<a href="https://ok.example">ok</a>' in html


def test_french_spacing_is_applied_to_text_not_to_code() -> None:
    html = markdown_to_html("Objectif : agir `a : b`")
    assert f"Objectif{NBSP}: agir" in html
    assert "<code>a : b</code>" in html


def test_a_quote_is_marked_and_linked_even_across_emphasis() -> None:
    html = markdown_to_html("> Nous *avançons* pour leur mettre plus de pression.")
    marked = highlight_quotes(html, [Highlight("Nous avançons pour leur [...] pression", "/c/", "<b>V</b>")])
    assert marked.count('<a class="quote-ref" href="/c/">') == 4
    assert "<em><a class=\"quote-ref\" href=\"/c/\"><mark>avançons</mark></a></em>" in marked
    assert "<mark>pression</mark></a><b>V</b>." in marked
    assert plain_text(marked.replace("<b>V</b>", "")) == plain_text(html), "no text is added or lost"


def test_a_quote_inside_another_keeps_its_own_mark() -> None:
    html = markdown_to_html("128 ont été conduites en France la nuit dernière, après 168 la nuit de dimanche.")
    marked = highlight_quotes(html, [
        Highlight("128 ont été conduites en France la nuit dernière, après 168 la nuit de dimanche", "/all/", "[A]"),
        Highlight("après 168 la nuit de dimanche", "/168/", "[B]"),
    ])
    assert '<a class="quote-ref" href="/168/"><mark>après 168 la nuit de dimanche</mark></a>[B][A]' in marked
    assert '<a class="quote-ref" href="/all/"><mark>128 ont été' in marked


def test_no_link_is_nested_in_a_link() -> None:
    html = markdown_to_html("[Le groupe a perdu du terrain](https://x.example)")
    marked = highlight_quotes(html, [Highlight("groupe a perdu", "/c/", "")])
    assert '<a href="https://x.example">Le <mark>groupe a perdu</mark> du terrain</a>' in marked


PASSAGE = markdown_to_html(
    "> Nous *avançons* pour leur mettre plus de pression, a dit le ministre.\n\n"
    "128 ont été conduites en **France la nuit dernière**, après 168 la nuit de dimanche ; "
    "[le groupe a perdu](https://x.example) 25 % de son territoire.")


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 25)), min_size=1, max_size=5))
def test_marking_quotes_never_adds_drops_or_reorders_text(cuts: list[tuple[int, int]]) -> None:
    # Any quotes, overlapping or not: the passage reads the same with its marks, each badge
    # once, right after the mark of its quote.
    words = plain_text(PASSAGE).split()
    quotes = [" ".join(words[a:a + n]) for a, n in cuts if words[a:a + n]]
    lights = [Highlight(q, f"/c/{k}/", f"[{k}]") for k, q in enumerate(quotes)]
    marked = highlight_quotes(PASSAGE, lights)
    text = plain_text(marked)
    for k in range(len(lights)):
        assert text.count(f"[{k}]") == 1, quotes[k]
        before = re.sub(r"(\[\d+\])+$", "", marked.split(f"[{k}]")[0])  # badges at one place: inner first
        assert before.endswith(("</mark></a>", "</mark>")), quotes[k]
        text = text.replace(f"[{k}]", "")
    assert text == plain_text(PASSAGE)


MARKDOWN_PIECES = st.sampled_from([
    "mot", "é", " ", "  ", "\t", "\n", "\n\n", "\r\n", "*", "**", "_", "__", "`", "``", "\\", "[", "]", "(", ")",
    "![", "](", "]: ", "[1]", "<", ">", "<em>", "</em>", "<https://a.fr>", "<a@b.fr>", "&", "&amp;", "&#39;",
    "# ", "## ", "> ", "- ", "1. ", "    ", "---", "===", "| a | b |\n|---|---|\n", '"t"', "https://a.fr", "\x02", "!",
    "ab\t\n", "  \n", " \t", "\x03",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(MARKDOWN_PIECES, max_size=30).map("".join))
@example("mo\t\nx")  # a tab before a line's end becomes spaces: a line break
@example("!\x02[a](b.png)")  # Python-Markdown removes STX first: an image
@example("un_mot_ et *un autre*")
@example("[a][1] et [b]\n\n[1]: https://a.fr\n[b]: https://b.fr")
def test_markdown_converts_the_same_without_the_patterns_it_cannot_match(text: str) -> None:
    # Each text is converted by a converter without the inline patterns its text cannot match
    # (markup.INLINE_NEEDS); it must give exactly what the full converter gives.
    import markdown

    full = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")
    normal = unicodedata.normalize("NFC", text)
    assert markup._python_markdown(normal) == full.convert(normal)


def test_a_plain_text_is_converted_without_most_inline_patterns() -> None:
    # What makes the pruning worth having: ordinary prose needs neither code, escapes, HTML nor images.
    needless = markup._needless_patterns("Le **chiffre** est [publié](https://insee.fr) : 25 %.")
    assert {"backtick", "escape", "html", "image_link", "entity"} <= needless
    assert not {"link", "em_strong"} & needless
    assert "reference" in needless
    assert len(markup._markdown(needless).inlinePatterns) < len(markup._markdown().inlinePatterns)


def test_every_inline_pattern_of_python_markdown_is_known() -> None:
    # A Python-Markdown release that adds an inline pattern keeps it (patterns not named are never
    # dropped); this says that INLINE_NEEDS should learn what it needs.
    assert {p.name for p in markup._markdown().inlinePatterns._priority} == set(markup.INLINE_NEEDS)


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKDOWN_PIECES.filter(lambda piece: "<" not in piece), max_size=30).map("".join))
@example('[a](https://a.fr/?q=1&r="2" "un titre")\n\n1. un\n1. deux\n\n| a |\n|:-:|\n| b |')
def test_elements_markdown_wrote_are_read_as_the_html_parser_reads_them(text: str) -> None:
    # The safety check reads the elements of a text without "<" with two expressions: it must see
    # every element and attribute the HTML parser sees (an image, an address), with the same values.
    raw = markup._raw_html(text)
    assert markup._generated_elements(raw) == markup._elements(raw)


def test_a_numbered_list_that_goes_on_after_a_paragraph_keeps_its_numbers() -> None:
    # "3. trois" after a paragraph is the third point: readers must see 3, and the editor no error.
    text = "Selon [l’Insee](https://insee.fr) :\n\n1. un\n2. deux\n\nPuis :\n\n3. trois\n4. quatre"
    assert markup.markdown_problems(text) == []
    assert '<ol start="3">\n<li>trois</li>' in markdown_to_html(text)


def test_a_text_checked_then_converted_is_converted_once_and_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # Validate converts a text with a link to check its elements; the model's conversion reuses
    # that HTML, and nothing of it is held afterwards (the preview's builder lives for a session).
    import markdown

    converted: list[str] = []
    convert = markdown.Markdown.convert
    fast = markup.plainmark.convert
    monkeypatch.setattr(markdown.Markdown, "convert", lambda self, text: converted.append(text) or convert(self, text))
    monkeypatch.setattr(markup.plainmark, "convert", lambda text: converted.append(text) or fast(text))
    use(Memo())
    text = "Selon [l’Insee](https://insee.fr/p/12), le chiffre a baissé de 3 %."
    assert markup.markdown_problems(text) == []
    assert 'href="https://insee.fr/p/12"' in markdown_to_html(text)
    assert converted == [text]
    assert markup._CHECKED == {}


def test_a_build_keeps_no_conversion_it_did_not_use(tmp_path: Path) -> None:
    # A verdict with a refused link is checked (converted) but never rendered: the build stops.
    # Its HTML must not stay in the process after the build, in the preview edit after edit.
    root = copy_project(REPO, tmp_path / "project")
    claim = next((root / "claims").glob("*/*.yaml"))
    text = claim.read_text(encoding="utf-8")
    claim.write_text(text.replace("verdict: |\n", "verdict: |\n  Voir [ici](javascript:alert(1)).\n\n", 1),
                     encoding="utf-8")
    report = build(Project.at(root))
    assert any(p.code == "unsafe-url" for p in report.problems)
    assert markup._CHECKED == {}
