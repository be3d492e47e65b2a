"""The fast path for plain Markdown (constat/plainmark.py) writes exactly what Python-Markdown writes."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from constat import markup, plainmark
from constat.load import load_project
from tests.helpers import REPO


def python_markdown(text: str) -> str:
    import markdown

    full = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")
    return full.convert(unicodedata.normalize("NFC", text))


def agrees(text: str) -> bool:
    """The fast path gave up, or wrote Python-Markdown's HTML; it is asserted, with both outputs."""
    fast = plainmark.convert(unicodedata.normalize("NFC", text))
    if fast is not None:
        assert fast == python_markdown(text), text
    return fast is not None


# Pieces of any Markdown: what the fast path must either handle exactly or give up on. Those
# of the first list it always gives up on; the second's make the cases it must get right.
ALWAYS_LEFT = ["\t", "\r\n", "_", "`", "\\", "![", "<", "&amp;", "&#39;", "|", "\x02", "\x00", "[a](<b>)"]
SUBTLE = [
    "mot", "é", "Lé", " ", "  ", "\xa0", "\u202f", "\n", "\n\n", "\n\n\n", "*", "**", "***", "[", "]", "(", ")",
    "](", "[1]", "]: ", "!", ">", "&", "&x", ";", "# ", "#", "### ", "####### ", "> ", ">", "- ", "-", "* ", "+ ",
    "1. ", "3.", "12", "2015", "٣", "٣. ", "²", "\n  ", "\n   ", "\n    ", "\n>\n", ">\n",
    ".", "---", "===", "«\xa0", "\xa0»", '"', "'", ":", "[lien](https://a.fr/b?c=1&d=2)",
    "[a](b)", "[a] (b)", "[*a*](b)", '[a](b "t")', "[a](b(c))", "x*y*z", "**a**", "*a*", "* a *", "** a**",
]
PIECES = st.sampled_from(ALWAYS_LEFT + SUBTLE)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(SUBTLE), max_size=25).map("".join))
def test_markdown_near_the_fast_paths_limits_is_converted_as_python_markdown_converts_it(text: str) -> None:
    agrees(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=25).map("".join))
@example("- a\n- b\n\n- c\n- d\n\n- e\n\npara")  # lists in a row: one list, loose where they meet
@example("> a\n> b\n\n> c\n\ntexte\n\n> d")  # quotes in a row: one quote
@example("\n\nun\n\n\n\ndeux\n\n\n")  # blank lines around and between
@example("*a [b](https://a.fr) c* et **[d](https://b.fr)**")
@example("\xa0débute par une espace insécable")
@example("2015. Une année\n\n2015 fut une année")
@example("a*b*c et a**b**c, * seul *, et *a*b*c*d")
@example(">  mot\n\n-  mot")  # a space more after the marker
@example("&#3. &#x41 &eacute; AT&T")  # entities are left to Python-Markdown, even without their ;
@example("٣. trois\n\n² deux")  # any decimal digit makes a numbered list (what \d matches)
@example("3. a\n4. b\n\n5. c\n\n- d\n\n1. e")  # numbered lists in a row: one, from 3; then others
@example("- un\n  deux\n- trois\nquatre\n   cinq\n\n- six\n    sept")  # items going on, by 0 to 4 spaces
@example("> un\n>\n> deux\n\n> trois\n>\n>\n> quatre\n\n> cinq\n>")  # quotes of paragraphs
@example("**deux\nlignes** et *une\nautre*")  # emphasis over a line's end
def test_any_markdown_is_converted_as_python_markdown_converts_it_or_left_to_it(text: str) -> None:
    agrees(text)


# What editors write: paragraphs, headings, lists, quotes, with emphasis and links in them.
WORDS = st.sampled_from(["mot", "Élysée", "25\xa0%", "«\xa0dit-il\xa0»", "l’État", "(voir", "ceci)", "A&B", "x>y",
                         "*mot*", "**deux mots**", "*a", "b*", "**", "[lien](https://insee.fr/a?b=1&c=2)",
                         "[lien](https://a.fr)", "2015.", "1.", "#1", "-", "—", ":", "!", "?", ";"])
LINE = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)
BLOCK = st.one_of(
    st.lists(LINE, min_size=1, max_size=3).map("\n".join),
    st.lists(LINE.map("- {}".format), min_size=1, max_size=3).map("\n".join),
    st.lists(st.tuples(LINE, st.lists(LINE, max_size=2), st.sampled_from(["", " ", "  ", "   "])), min_size=1,
             max_size=3).map(lambda items: "\n".join(  # items going on on the lines after them
                 "- " + "\n".join([first, *(indent + line for line in rest)]) for first, rest, indent in items)),
    st.tuples(st.sampled_from(["1", "2", "01", "10"]), st.lists(LINE, min_size=1, max_size=3)).map(
        lambda numbered: "\n".join(f"{numbered[0]}. {line}" for line in numbered[1])),
    st.lists(LINE.map("> {}".format), min_size=1, max_size=2).map("\n".join),
    st.lists(st.lists(LINE.map("> {}".format), min_size=1, max_size=2).map("\n".join), min_size=2,
             max_size=3).map("\n>\n".join),  # a quote of paragraphs
    LINE.map("### {}".format),
    LINE.map("## {}".format),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(BLOCK, min_size=1, max_size=6), st.sampled_from(["\n\n", "\n\n\n"]), st.sampled_from(["", "\n"]))
def test_what_editors_write_is_converted_as_python_markdown_converts_it(blocks: list[str], blank: str,
                                                                        end: str) -> None:
    agrees(blank.join(blocks) + end)


def test_the_fast_path_takes_what_editors_write() -> None:
    # Without this, a fast path that gave up on everything would pass the tests above.
    verdict = ("**Trompeur.** Le chiffre de *25\xa0%* est [celui de l’Insee](https://insee.fr/a?b=1&c=2).\n\n"
               "### Ce que disent les chiffres\n\n- un point\xa0;\n- un autre.\n\n- et un troisième.\n\n"
               "1. D’abord\xa0;\n2. ensuite, sur **deux\n   lignes**.\n\n> Un paragraphe\n>\n> et un autre.\n\n"
               "> «\xa0Une citation\xa0», dit-il.\n\nEn conclusion, c’est **trompeur**.\n")
    assert agrees(verdict)


def test_every_text_of_the_dossier_is_converted_as_python_markdown_converts_it() -> None:
    inputs = load_project(REPO)
    texts = [claim.doc.data["verdict"] for claim in inputs.claims if isinstance(claim.doc.data.get("verdict"), str)]
    texts += [article.body for article in inputs.articles]
    taken = [text for text in texts if agrees(text)]
    assert len(texts) >= 30
    assert len(taken) >= 0.8 * len(texts)  # the fast path is the common path on real texts


def test_markup_uses_the_fast_path_and_python_markdown_for_the_rest() -> None:
    plain, rich = "Un **mot** et [un lien](https://a.fr).", "Du `code` et un\\*astérisque."
    assert plainmark.convert(plain) is not None and plainmark.convert(rich) is None
    assert markup._raw_html(plain) == python_markdown(plain)
    assert markup._raw_html(rich) == python_markdown(rich) == "<p>Du <code>code</code> et un*astérisque.</p>"
