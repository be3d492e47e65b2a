"""French typography, dates and slugs."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from constat.french import _RULES, _SPACING, NBSP, NNBSP, count_of, date_fr, de, slugify, typography


def test_dates_read_as_in_a_french_newspaper() -> None:
    assert date_fr(date(2015, 11, 17)) == "17 novembre 2015"
    assert date_fr(date(2016, 2, 1)) == "1er février 2016"
    assert date_fr(date(2016, 8, 6)) == "6 août 2016"


def test_spaces_before_high_punctuation_and_inside_guillemets_do_not_break() -> None:
    assert typography("Objectif : agir ; vite ! Pourquoi ?") == \
        f"Objectif{NBSP}: agir{NNBSP}; vite{NNBSP}! Pourquoi{NNBSP}?"
    assert typography("«Je suis Charlie»") == f"«{NBSP}Je suis Charlie{NBSP}»"
    assert typography("« Je suis Charlie »") == f"«{NBSP}Je suis Charlie{NBSP}»"
    assert typography("115 000 membres, 25 %") == f"115{NNBSP}000 membres, 25{NBSP}%"
    assert typography("10 000 000 euros, 1 0000, 25 000 %") == \
        f"10{NNBSP}000{NNBSP}000 euros, 1 0000, 25{NNBSP}000{NBSP}%"


def test_no_space_is_added_where_none_was_typed() -> None:
    # Quotes stay verbatim, and addresses and times must not gain a space.
    assert typography("https://example.org/?q=1 à 20:30") == "https://example.org/?q=1 à 20:30"
    assert typography("25%") == "25%"


def test_the_apostrophe_a_keyboard_types_is_printed_as_french_print_has_it() -> None:
    assert typography("l'État d'urgence, aujourd'hui") == "l’État d’urgence, aujourd’hui"
    assert typography("« C'est l'heure »") == f"«{NBSP}C’est l’heure{NBSP}»"
    assert typography("l’État") == "l’État"  # already typeset: unchanged, as is any text typeset twice
    # Not after a digit (5'30), and never inside what may be an address: a link must stay as typed.
    assert typography("5'30") == "5'30"
    assert typography("https://fr.wikipedia.org/wiki/Minist%C3%A8re_de_l'Int%C3%A9rieur") == \
        "https://fr.wikipedia.org/wiki/Minist%C3%A8re_de_l'Int%C3%A9rieur"
    assert typography("voir l'avis https://example.org/l'avis") == "voir l’avis https://example.org/l'avis"
    assert typography("mailto:o'brien@example.org") == "mailto:o'brien@example.org"


def test_de_before_a_name_elides_and_contracts_as_french_does() -> None:
    # « Affirmation de Euronews » and « le site de Le Monde » are not French.
    assert de("Euronews") == "d’Euronews"
    assert de("Émile Zola") == "d’Émile Zola"
    assert de("Yves Le Roux") == "d’Yves Le Roux"
    assert de("Le Monde") == "du Monde"
    assert de("Les Échos") == "des Échos"
    assert de("La Croix") == "de La Croix"
    assert de("L’Écho de la Loire") == "de L’Écho de la Loire"
    assert de("John Kerry") == "de John Kerry"
    assert de("François Hollande") == "de François Hollande"


def test_counts_agree_their_noun_as_french_does() -> None:
    # « 9 affirmation(s) vérifiée(s) » read like a form; French is plural from 2 on.
    assert count_of(0, "affirmation") == "0 affirmation"
    assert count_of(1, "affirmation") == "1 affirmation"
    assert count_of(9, "affirmation") == "9 affirmations"
    assert count_of(10_000, "affirmation") == f"10{NNBSP}000 affirmations"
    assert count_of(2, "travail", "travaux") == "2 travaux"


def test_slugs_are_lowercase_ascii_words() -> None:
    assert slugify("État islamique") == "etat-islamique"
    assert slugify("Jean-Yves Le Drian") == "jean-yves-le-drian"
    assert slugify("Cœur d’Europe") == "coeur-d-europe"
    assert slugify("  ") == ""


_TYPED = st.text(alphabet=st.sampled_from(list(" \u00a0\u202f;!?:%«»0123456789abcé.,'’/@")), max_size=40)


@given(_TYPED)
def test_the_quick_path_gives_what_every_rule_gives(text: str) -> None:
    # typography() returns at once a text no rule can apply to: it must be exactly what applying them gives.
    expected = text
    for pattern, replacement in _RULES:
        expected = pattern.sub(replacement, expected)
    assert typography(text) == expected


@given(_TYPED)
def test_typesetting_twice_changes_nothing_more(text: str) -> None:
    # The preview and the build typeset text that may already have been typeset (a name in a title).
    assert typography(typography(text)) == typography(text)


_GROUPS_AS_WRITTEN = re.compile(r"(?<=\d) (?=\d{3}(?!\d))")
"""The space between groups of digits as one reads the rule: after a digit, before exactly three."""


@given(st.text(alphabet=st.sampled_from(list(" \u00a0\u202f0123456789a%")), max_size=40))
def test_groups_of_digits_are_found_as_the_rule_reads(text: str) -> None:
    # constat/french.py finds them from the space, which is faster: it must find the same spaces.
    _, groups, replacement = _SPACING[-1]
    assert groups.sub(replacement, text) == _GROUPS_AS_WRITTEN.sub(replacement, text)
