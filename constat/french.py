"""French typography, dates and URL slugs: how the site writes text, whatever the input looked like."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

NBSP = "\u00a0"
"""No-break space: before a colon and inside « » (Imprimerie nationale)."""
NNBSP = "\u202f"
"""Narrow no-break space: before ; ! ? and between groups of digits."""

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre")

APOSTROPHE = "\u2019"
"""The apostrophe French print uses (’), for the ' a keyboard types."""

_SPACES = "[ \u00a0\u202f]"
_TYPED_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'")
_ADDRESS = re.compile(r"[/:@]")


def _apostrophes(run: re.Match[str]) -> str:
    """The ' after a letter, in a run of text without spaces, becomes ’ (« l’État », « aujourd’hui »),
    unless the run may be an address (a / : or @ in it): a link's target must stay as typed."""
    word = run[0]
    return word if _ADDRESS.search(word) else _TYPED_APOSTROPHE.sub(APOSTROPHE, word)


_DIGIT_SPACE_DIGIT = re.compile(r"\d \d")
_SPACING: tuple[tuple[str | re.Pattern[str], re.Pattern[str], str], ...] = (
    (re.compile("[;!?]"), re.compile(f"{_SPACES}+([;!?])"), NNBSP + r"\1"),
    (":", re.compile(f"{_SPACES}+:"), NBSP + ":"),
    ("«", re.compile(f"«{_SPACES}*"), "«" + NBSP),
    ("»", re.compile(f"{_SPACES}*»"), NBSP + "»"),
    ("%", re.compile(f"(?<=\\d){_SPACES}+%"), NBSP + "%"),
    (_DIGIT_SPACE_DIGIT, re.compile(r" (?<=\d )(?=\d{3}(?!\d))"), NNBSP),
)
"""Each spacing rule with what it cannot match without: a character or one of a class. A text
with a « and no colon was tried against all six: skipping the rules it cannot need took a third
off typesetting the text of a dossier's converted Markdown. The space between groups of digits
is found from the space (a pattern that starts with a character, not a look behind, is searched
for a third as long): with it, and without a first search for what any rule needs, typesetting
the 20,331 texts a build of 600 of the benchmark's claims typesets in its main process took a
quarter less time (40-65 ms against 54-85 ms, alternated four times), the same text out."""


def _may_need_spacing(text: str) -> bool:
    """Whether a spacing rule may apply: four texts in five of a verdict have none of the
    characters they need, which these searches for one character each find out at once."""
    return (":" in text or ";" in text or "!" in text or "?" in text or "%" in text or "«" in text
            or "»" in text or (" " in text and _DIGIT_SPACE_DIGIT.search(text) is not None))


_APOSTROPHE_RUNS = re.compile(r"(?<!\S)[^\s']*'\S*")
"""Each run of text that holds a ', tried from its start only (a pattern free to start anywhere
in a run went back over it from each of its letters: 9 times as slow)."""
_RULES = (*((pattern, replacement) for _, pattern, replacement in _SPACING), (_APOSTROPHE_RUNS, _apostrophes))
"""Every rule, in the order typography() applies them (it skips those a text cannot need)."""


def typography(text: str) -> str:
    """French spacing rules applied to running text.

    Only spaces the writer typed are changed into no-break ones (so a line never starts
    with « : » or « ! »); none is added before ; ! ? or :, because quotes stay verbatim and
    a URL or a time must not gain a space. Guillemets always get their inner spaces. The
    apostrophe a keyboard types after a letter is printed as French print has it (’), as
    everywhere on the site, except in what may be an address.
    """
    text = str(text)  # a str subclass (Markup) would change how the result is escaped
    if _may_need_spacing(text):
        for needs, pattern, replacement in _SPACING:
            if needs in text if isinstance(needs, str) else needs.search(text) is not None:
                text = pattern.sub(replacement, text)
    if "'" in text:  # spacing changes no ' and no run of text: the order does not matter
        text = _APOSTROPHE_RUNS.sub(_apostrophes, text)
    return text


def date_fr(day: date) -> str:
    """« 17 novembre 2015 », « 1er février 2016 »."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


def month_fr(day: date) -> str:
    """« novembre 2015 »."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """The word as French agrees it with a count: « 1 affirmation », « 0 affirmation »,
    « 9 affirmations » (plural from 2 on); ``plural_form`` when it is not the singular plus s."""
    return singular if abs(count) < 2 else plural_form or singular + "s"


def count_of(count: int, singular: str, plural_form: str | None = None) -> str:
    """« 9 affirmations », « 1 affirmation », « 10 000 affirmations » (narrow no-break space)."""
    return f"{count:,}".replace(",", NNBSP) + " " + plural(count, singular, plural_form)


def de(name: str) -> str:
    """« de » before a name, as French writes it: « d’Euronews », « du Monde » (Le Monde),
    « des Échos » (Les Échos), « de La Croix », « de Paul Témoin ». No elision before h, which
    may be aspirated (« de Hollande »)."""
    if name.startswith("Le ") and len(name) > 3:
        return "du " + name[3:]
    if name.startswith("Les ") and len(name) > 4:
        return "des " + name[4:]
    first = unicodedata.normalize("NFD", name[:1])[:1].lower()
    return ("d’" if first and first in "aeiouy" else "de ") + name


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "’": "-", "'": "-"})


@lru_cache(maxsize=65536)
def slugify(text: str) -> str:
    """Lowercase ASCII words joined by hyphens: « État islamique » → ``etat-islamique``."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_LIGATURES)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""What a file name (and so a permalink) may be."""
