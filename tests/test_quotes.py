"""Finding a quote in its article whatever the typography: the check that proves every quote."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from constat.quotes import explain_mismatch, find_quote, fold, folded, segments

ARTICLE = ("Les gens ne se rendent pas compte, le groupe Etat islamique a perdu 25% de son territoire "
           "et nous avançons. « Je suis Charlie », lisait-on. 128 ont été conduites en France la nuit dernière.")


def found(quote: str, article: str = ARTICLE) -> bool:
    return find_quote(fold(article)[0], quote) is not None


def test_typography_is_folded_both_ways() -> None:
    assert found("le groupe Etat islamique a perdu 25% de son territoire")
    assert found("«\u00a0Je suis Charlie\u00a0»")
    assert found('"Je suis Charlie"')
    assert found("“Je suis Charlie”")
    assert found("le groupe  Etat\nislamique")
    assert found("rendent pas compte, le groupe", "Les gens ne se rendent pas compte,\u202fle groupe")
    assert found("l’Europe a répondu", "l'Europe a répondu")
    assert found("l'Europe a répondu", "l‘Europe a répondu")


def test_nfc_and_nfd_spellings_are_the_same_text() -> None:
    assert found("nous avanc\u0327ons")


def test_words_and_numbers_are_not_folded() -> None:
    assert not found("le groupe État islamique a perdu 25% de son territoire")
    assert not found("a perdu 25 % de son territoire")
    assert not found("a perdu 26% de son territoire")


def test_editorial_insertions_and_cuts_are_skipped_in_order() -> None:
    assert found("128 [perquisitions] ont été conduites en France la nuit dernière")
    assert found("le groupe Etat islamique […] et nous avançons")
    assert not found("et nous avançons […] le groupe Etat islamique"), "parts must come in order"
    assert segments("128 [perquisitions] ont été") == ["128", "ont été"]


def test_a_quote_does_not_match_inside_a_longer_word_or_number() -> None:
    assert not found("28 ont été conduites")
    assert not found("roupe Etat")


def test_the_mismatch_says_where_the_quote_and_article_part_ways() -> None:
    message = explain_mismatch(fold(ARTICLE)[0], "le groupe Etat islamique a perdu 30% de son territoire")
    assert message.startswith('the article reads "…Etat islamique a perdu 25% de son')
    assert 'where the quote reads "…Etat islamique a perdu 30% de son' in message


def test_fold_maps_every_character_back_to_the_original() -> None:
    text = "« Bonjour »,\u00a0l’ami…  fin"
    folded, index = fold(text)
    assert folded == '"Bonjour",\u0020\'ami...'.replace("\u0020'", " l'") + " fin"
    assert [text[i] for i in index][:2] == ["«", "B"]


words = st.text(alphabet="abcdéèçàôEÉ0123456789", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, min_size=3, max_size=30), st.data())
def test_any_run_of_words_is_found_whatever_spaces_and_apostrophes_surround_it(
        article_words: list[str], data: st.DataObject) -> None:
    separators = st.sampled_from([" ", "\u00a0", "\u202f", "  ", "\n", " ’", "' "])
    article = "".join(w + data.draw(separators) for w in article_words).strip()
    start = data.draw(st.integers(0, len(article_words) - 1))
    end = data.draw(st.integers(start + 1, len(article_words)))
    quote = " ".join(article_words[start:end])
    if any(sep in article for sep in ("’", "'")):
        return  # apostrophes are text: a quote without them is not verbatim
    assert find_quote(fold(article)[0], quote) is not None


TRICKY = st.sampled_from([" ", "  ", "\u00a0", "\u202f", "\n", "\t", "\u00ad", "«", "»", "…", "’", "'", "“", "”",
                          '"', "\u2028", "\x1c", "e\u0301", "a", "Z", "9", "."])


@settings(max_examples=500)
@given(st.lists(TRICKY | st.characters(codec="utf-8"), max_size=40).map("".join))
def test_folded_is_the_text_fold_gives(text: str) -> None:
    # The build folds every article and quote with folded(); highlighting a quote in the page
    # uses fold() and its index: the two must give the same text, or a quote found would not be marked.
    assert folded(text) == fold(text)[0]


def _fold_letter_by_letter(text: str) -> tuple[str, list[int]]:
    """fold() as its docstring says it, one character at a time: what fold() copies in runs must match it."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    index: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            j = i
            while j < len(text) and text[j].isspace():
                j += 1
            if out and j < len(text) and not (text[i - 1] == "«" or text[j] == "»"):
                out.append(" ")
                index.append(i)
            i = j
            continue
        if ch == "…":
            out.extend("...")
            index.extend((i, i, i))
        elif ch != "\u00ad":
            out.append("'" if ch in "’‘'‛ʼ′" else '"' if ch in "«»“”„‟\"″" else ch)
            index.append(i)
        i += 1
    return "".join(out), index


@settings(max_examples=500)
@given(st.lists(TRICKY | st.characters(codec="utf-8") | words, max_size=40).map("".join))
def test_fold_maps_each_character_as_a_letter_by_letter_fold_would(text: str) -> None:
    # A quote's mark is placed by this index: one character off and the mark cuts a word.
    folded_text, index = fold(text)
    assert (folded_text, list(index)) == _fold_letter_by_letter(text)
