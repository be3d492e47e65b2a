"""Finding a claim's quote in its article's text, whatever typography either of them used."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

_APOSTROPHES = "’‘'‛ʼ′"
_QUOTE_MARKS = "«»“”„‟\"″"
_EDITORIAL = re.compile(r"\[[^\]]*\]")
_FOLD_START = re.compile("[\\s\u00ad]*")
"""The white space and soft hyphens before the text: fold() drops them."""
_FOLD_EVENTS = re.compile("\\s(?:\\s+|(?=»)|\\Z)|«\\s+|[\u00ad…]")
"""Where else fold() does not map one character to one: runs of white space, white space just
inside « » or ending the text, soft hyphens, ellipses. The white space's three cases come after
one look at it (written as three alternatives, the search took a third longer)."""
_WHITE = re.compile(r"[^\S ]")
"""White space other than a space, which fold() turns into one (the spaces left as
they are rather than each replaced by itself: that took four times as long)."""
_ONE_FOR_ONE = [*((mark, "'") for mark in _APOSTROPHES), *((mark, '"') for mark in _QUOTE_MARKS)]


class FoldIndex(Sequence[int]):
    """For each character of a folded text, its index in the text it was folded from, kept as
    the runs fold() copies (a start and a step for each) rather than one number per character:
    highlighting looks up a few of them in each article it renders."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        """Where each run starts in the folded text."""
        self.origins: list[int] = []
        """Where each run starts in the text."""
        self.steps: list[int] = []
        """1: the run is copied character for character; 0: all of it comes from one character (…)."""
        self.size = 0

    def add(self, origin: int, length: int, step: int) -> None:
        self.starts.append(self.size)
        self.origins.append(origin)
        self.steps.append(step)
        self.size += length

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, k: int) -> int: ...

    @overload
    def __getitem__(self, k: slice) -> list[int]: ...

    def __getitem__(self, k: int | slice) -> int | list[int]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self.size))]
        if k < 0:
            k += self.size
        if not 0 <= k < self.size:
            raise IndexError(k)
        run = bisect_right(self.starts, k) - 1
        return self.origins[run] + (k - self.starts[run]) * self.steps[run]


def fold(text: str) -> tuple[str, FoldIndex]:
    """Text reduced to what a quote must match, and for each folded character its index in ``text``.

    Folds: Unicode NFC (``text`` must already be NFC for the index to be exact); all
    apostrophes to ', all quotation marks to "; every run of white space, no-break spaces
    included, to one space; the spaces just inside « » dropped; … to ...; soft hyphens dropped.
    Only where a character does not fold to one character is the text looked at; the rest is
    copied in runs (highlighting folds every article a build renders), and so is the index.
    """
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    index = FoldIndex()
    n = len(text)
    start = _FOLD_START.match(text)
    done = start.end() if start else 0
    for event in _FOLD_EVENTS.finditer(text, done):
        i, j = event.span()
        if text[i] == "«":
            i += 1
        if done < i:
            out.append(text[done:i])
            index.add(done, i - done, 1)
        done = j
        if text[i] == "…":
            out.append("...")
            index.add(i, 3, 0)
        elif text[i].isspace() and index.size and j < n and text[i - 1] != "«" and text[j] != "»":
            out.append(" ")  # a run of white space inside the text
            index.add(i, 1, 1)
    if done < n:
        out.append(text[done:])
        index.add(done, n - done, 1)
    folded_text = _WHITE.sub(" ", "".join(out))  # the white space left stands alone: one for one
    for old, new in _ONE_FOR_ONE:
        if old in folded_text:
            folded_text = folded_text.replace(old, new)
    return folded_text, index


_SPACES = re.compile(r"\s\s+|[^\S ]")
"""Each run of white space that is not already one space."""
_LEADING = re.compile("[ \u00ad]+")
_MARKS = [*((mark, "'") for mark in _APOSTROPHES), *((mark, '"') for mark in _QUOTE_MARKS), ("…", "..."),
          ("\u00ad", "")]


def folded(text: str) -> str:
    """``fold(text)[0]``, without the index, in a few passes over the whole text rather than a
    loop over every character (0.67 ms an article of 5,800 characters): the build folds every
    article and quote; only highlighting needs the index. tests/test_quotes.py holds the two equal."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text))
    lead = _LEADING.match(text)
    if lead is not None and lead.end():  # nothing printed before: the spaces go
        text = lead[0].replace(" ", "") + text[lead.end():]
    if text.endswith(" "):
        text = text[:-1]
    text = text.replace("« ", "«").replace(" »", "»")
    for old, new in _MARKS:  # str.translate looks every character up in a dict: slower
        if old in text:
            text = text.replace(old, new)
    return text


def segments(quote: str) -> list[str]:
    """The parts of a quote outside [editorial insertions] and […] cuts, folded, in order."""
    return [part for part in (folded(p).strip() for p in _EDITORIAL.split(quote)) if part]


@dataclass(frozen=True)
class Match:
    spans: tuple[tuple[int, int], ...]
    """(start, end) of each segment in the folded article text."""


def find_quote(folded_article: str, quote: str) -> Match | None:
    """Where each segment of ``quote`` stands in the article, in order, on word boundaries."""
    spans = []
    start = 0
    for part in segments(quote):
        found = _find_word_aligned(folded_article, part, start)
        if found < 0:
            return None
        spans.append((found, found + len(part)))
        start = found + len(part)
    return Match(tuple(spans)) if spans else None


def _find_word_aligned(text: str, part: str, start: int) -> int:
    while True:
        found = text.find(part, start)
        if found < 0:
            return -1
        before_ok = found == 0 or not (part[0].isalnum() and text[found - 1].isalnum())
        end = found + len(part)
        after_ok = end == len(text) or not (part[-1].isalnum() and text[end].isalnum())
        if before_ok and after_ok:
            return found
        start = found + 1


def explain_mismatch(folded_article: str, quote: str) -> str:
    """Where the quote and the article part ways, for the editor to compare the two."""
    start = 0
    for part in segments(quote):
        found = _find_word_aligned(folded_article, part, start)
        if found >= 0:
            start = found + len(part)
            continue
        words = part.split(" ")
        # The longest prefix of words found after ``start``: if k words are found, so are
        # fewer, so a binary search needs log(words) scans instead of one per word.
        low, high = 0, len(words)
        while low < high:
            middle = (low + high + 1) // 2
            if folded_article.find(" ".join(words[:middle]), start) >= 0:
                low = middle
            else:
                high = middle - 1
        best = low
        at = folded_article.find(" ".join(words[:best]), start) if best else -1
        if best == 0:
            return f'no words of "{_clip(part)}" follow in this order in the article'
        matched = " ".join(words[:best])
        tail = " ".join(words[max(0, best - 4):best])
        tail_start = len(matched) - len(tail)
        article_side = folded_article[at + tail_start: at + len(matched) + 25]
        quote_side = part[tail_start: len(matched) + 25]
        return f'the article reads "…{article_side}…" where the quote reads "…{quote_side}…"'
    return "the quote is empty once the [editorial] parts are removed"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
