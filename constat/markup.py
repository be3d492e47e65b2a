"""Markdown to safe HTML, and the work done on that HTML's text: typography, plain text, quote highlights."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import markdown
import nh3

from constat.french import typography
from constat.quotes import find_quote, fold

ALLOWED_TAGS = frozenset({
    "a", "abbr", "blockquote", "br", "cite", "code", "del", "em", "h3", "h4", "h5", "h6", "hr",
    "ins", "li", "ol", "p", "pre", "q", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
})
"""What a Markdown field may produce; everything else is removed. h1 and h2 belong to the page."""
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_MARKDOWN = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")
_TOKENS = re.compile(r"(<[^>]*>)")


@lru_cache(maxsize=4096)
def markdown_to_html(text: str) -> str:
    """Markdown rendered once, sanitized with an allow-list, with French typography in its text."""
    _MARKDOWN.reset()
    raw = _MARKDOWN.convert(unicodedata.normalize("NFC", text))
    clean = nh3.clean(raw, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                      url_schemes=set(URL_SCHEMES), link_rel=None)
    return _map_text(clean, typography)


def _map_text(fragment: str, change: object) -> str:
    """Apply ``change`` to the text between tags, leaving tags, code and preformatted text alone."""
    assert callable(change)
    out = []
    verbatim = 0
    for n, token in enumerate(_TOKENS.split(fragment)):
        if n % 2:
            name = token[1:].lstrip("/").split(" ", 1)[0].rstrip(">").lower()
            if name in ("code", "pre"):
                verbatim += -1 if token.startswith("</") else 1
            out.append(token)
        else:
            out.append(token if verbatim else html.escape(change(html.unescape(token)), quote=False))
    return "".join(out)


def plain_text(fragment: str) -> str:
    """The text a reader sees in an HTML fragment."""
    return "".join(html.unescape(t) for t in _TOKENS.split(fragment)[::2])


def inline_markdown(text: str) -> str:
    """A one-paragraph Markdown field rendered without its <p>."""
    rendered = markdown_to_html(text)
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        return rendered[3:-4]
    return rendered


@dataclass(frozen=True)
class Highlight:
    """One claim's quote to mark in its article's passages."""

    quote: str
    href: str
    """Where the marked words link: the claim's page."""
    badge: str
    """HTML placed right after the quote: the verdict badge."""


def highlight_quotes(fragment: str, highlights: Sequence[Highlight]) -> str:
    """Wrap each claim's quote in a <mark> that links to its claim page, its verdict right after.

    Works on the text between tags, so a quote may cross emphasis or links. Where quotes
    overlap, each character belongs to the shortest quote that covers it, so a claim quoted
    inside a longer one keeps its own mark.
    """
    tokens = _TOKENS.split(fragment)
    texts = [html.unescape(t) for t in tokens[::2]]
    plain = "".join(texts)
    folded, index = fold(plain)
    owner: list[int | None] = [None] * len(plain)
    ends: dict[int, list[int]] = {}
    found = []
    for number, light in enumerate(highlights):
        match = find_quote(folded, light.quote)
        if match is None:
            continue  # validate reports it; the page still renders the passage unmarked
        spans = [(index[a], index[b - 1] + 1) for a, b in match.spans]
        found.append((sum(b - a for a, b in spans), number, spans))
    for _, number, spans in sorted(found, reverse=True):  # longest first: inner quotes overwrite
        for a, b in spans:
            owner[a:b] = [number] * (b - a)
        ends.setdefault(spans[-1][1] - 1, []).insert(0, number)  # so badges at one place read inner first
    out: list[str] = []
    offset = 0
    in_link = 0
    for n, token in enumerate(tokens):
        if n % 2:
            if re.match(r"<a[\s>]", token):
                in_link += 1
            elif token.startswith("</a"):
                in_link -= 1
            out.append(token)
            continue
        text = texts[n // 2]
        i = 0
        while i < len(text):
            who = owner[offset + i]
            j = i + 1
            while j < len(text) and owner[offset + j] == who and (offset + j - 1) not in ends:
                j += 1
            run = html.escape(text[i:j], quote=False)
            if who is None:
                out.append(run)
            elif in_link:
                out.append(f"<mark>{run}</mark>")
            else:
                out.append(f'<a class="quote-ref" href="{html.escape(highlights[who].href)}"><mark>{run}</mark></a>')
            for number in ends.get(offset + j - 1, ()):
                out.append(highlights[number].badge)
            i = j
        offset += len(text)
    return "".join(out)
