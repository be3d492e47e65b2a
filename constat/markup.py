"""Markdown to safe HTML, and the work done on that HTML's text: typography, plain text, quote highlights."""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import nh3

from constat import plainmark
from constat.french import typography
from constat.memo import current, digest, text_key
from constat.quotes import find_quote, fold, folded

if TYPE_CHECKING:
    import markdown

ALLOWED_TAGS = frozenset({
    "a", "abbr", "blockquote", "br", "cite", "code", "del", "em", "h3", "h4", "h5", "h6", "hr",
    "ins", "li", "ol", "p", "pre", "q", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
})
"""What a Markdown field may produce; everything else is removed. h1 and h2 belong to the page."""
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}, "td": {"align"}, "th": {"align"}}
"""``start``: a numbered list that goes on after a paragraph (3. …) keeps its numbers."""
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_TOKENS = re.compile(r"(<[^>]*>)")

MAX_BRACKET_DEPTH = 32
MAX_TAG_OPENINGS = 500
MAX_INDENT = 64
"""Bounds on Markdown that Python-Markdown handles in quadratic time or by deep recursion
(20,000 nested [ take 48 s, 20,000 unclosed <a take 73 s, 500 nested lists overflow the
stack). No article or verdict comes near them."""


_MAY_HOLD_MARKUP = re.compile(r"<|\]\(|\]\s*:|\]\[|!\[|^\s{0,3}#|^.*\n[=-]+\s*$|https?:|mailto:|www\.",
                              re.MULTILINE)
"""What any link, image, HTML element or level-1/2 heading needs in the Markdown source."""


_CHECKED: dict[str, str] = {}
"""Python-Markdown's HTML of the texts ``markdown_problems`` converted and ``markdown_to_html``
has not yet: validate's conversion is the one the model reuses, and is let go once it has. An
``@cache`` used to keep every text's HTML to the end, 26 MB of a clean build's peak at 10,000
claims and, in the preview's builder, every version of every text edited in the session. What a
build leaves (a text with a problem is never converted) goes with ``forget_checked``."""


def _raw_html(text: str, *, keep: bool = False) -> str:
    raw = _CHECKED.pop(text, None)
    if raw is None:
        normal = unicodedata.normalize("NFC", text)
        raw = plainmark.convert(normal)  # most texts: Python-Markdown's HTML, in a seventh of its time
        if raw is None:
            raw = _python_markdown(normal)
    if keep:
        _CHECKED[text] = raw
    return raw


def _python_markdown(normal: str) -> str:
    converter = _markdown(_needless_patterns(normal))
    converter.reset()
    return converter.convert(normal)


def forget_checked() -> None:
    """Let go of the conversions validate made that the build did not use (see ``_CHECKED``)."""
    _CHECKED.clear()


INLINE_NEEDS = {
    "backtick": ("`",), "escape": ("\\",),
    "link": ("[",), "image_link": ("![",),
    "reference": ("]:",), "short_reference": ("]:",), "image_reference": ("]:",), "short_image_ref": ("]:",),
    "autolink": ("<",), "automail": ("<",), "html": ("<",), "entity": ("&",),
    "linebreak": ("  ", "\t"), "em_strong": ("*", "_"),
}
"""Python-Markdown's inline patterns (by name), and what they cannot match without: one of these
strings in the text (a reference only links to a definition, ``[id]: address``). A pattern is
only ever applied to pieces of the text (block markers cut off, placeholders in place of what
patterns before it matched: STX, letters, digits, ETX), so where none of its strings is in the
whole text, it matches nowhere and converting without it gives the same HTML. Each pattern is
tried at every node of the text; dropping those that cannot match takes a third off converting
the Markdown of a dossier. A pattern not named here is always applied. tests/test_markup.py
converts with and without them and compares."""


def _needless_patterns(text: str) -> frozenset[str]:
    text = text.replace("\x02", "").replace("\x03", "")  # as Python-Markdown removes them first
    return frozenset(name for name, needs in INLINE_NEEDS.items() if not any(need in text for need in needs))


@cache
def _markdown(needless: frozenset[str] = frozenset()) -> markdown.Markdown:
    """A Markdown converter without the inline patterns ``needless`` (see INLINE_NEEDS), reused;
    a few hundred at most. Imported when first needed (an edit whose Markdown is all in the memo
    converts none: 13 ms of its start)."""
    import markdown

    converter = markdown.Markdown(extensions=["tables", "sane_lists"], output_format="html")
    for name in needless:
        if name in converter.inlinePatterns:
            converter.inlinePatterns.deregister(name)
    return converter


def markdown_to_html(text: str, key: Any = None) -> str:
    """Markdown rendered once, sanitized with an allow-list, with French typography in its text.

    Only call it on text that ``markdown_problems`` found nothing wrong with. ``key``: its key
    in the memo when the caller has one that stands for the text (the default: its hash).
    """
    return current().get("html", digest(text) if key is None else key, lambda: _safe_html(text))


def html_of(key: Any, markdown: Callable[[], str]) -> str:
    """``markdown_to_html`` of a text the caller does not keep (constat/model.py): the memo's HTML
    for ``key``, converted from ``markdown()`` only when the memo does not have it."""
    return current().get("html", key, lambda: _safe_html(markdown()))


def verdict_key(doc_sha: str) -> tuple[str, str]:
    """The memo's key for a claim's converted verdict, by the hash of its file's parsed text:
    the model keeps the 10,000 of a project without hashing each verdict (constat/model.py)."""
    return ("verdict", doc_sha)


@cache
def _cleaner() -> nh3.Cleaner:
    """The sanitizer, configured once: nh3.clean builds its configuration from the Python sets at
    each call, a third of the time it took on a dossier's Markdown."""
    return nh3.Cleaner(tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                       url_schemes=set(URL_SCHEMES), link_rel=None)


def _safe_html(text: str) -> str:
    return _map_text(_cleaner().clean(_raw_html(text)), typography)


def markdown_problems(text: str) -> list[tuple[int, str, str]]:
    """What in a Markdown text the site refuses, as (line within the text, code, message).

    Refused rather than silently removed, so that the editor learns it: addresses that are not
    web addresses (javascript:, data:, vbscript:…), images (every asset ships with the site),
    HTML elements and attributes outside the allow-list, and constructions whose conversion
    would take minutes.
    """
    lines = text.split("\n")
    hazards = []
    depth = worst = 0
    worst_line = 0
    brackets = text.count("[") > MAX_BRACKET_DEPTH  # else no line can open too many: no scan
    for number, line in enumerate(lines):
        if not line.strip():
            depth = 0  # brackets do not carry over a paragraph break
        if brackets:
            for char in line:
                depth = depth + 1 if char == "[" else max(0, depth - 1) if char == "]" else depth
                if depth > worst:
                    worst, worst_line = depth, number
        if len(line) - len(line.lstrip()) > MAX_INDENT:
            hazards.append((number, "markdown-too-complex",
                            f"line indented by more than {MAX_INDENT} columns: Markdown this deep is refused"))
            break
    if worst > MAX_BRACKET_DEPTH:
        hazards.append((worst_line, "markdown-too-complex",
                        f"more than {MAX_BRACKET_DEPTH} [ brackets open at once: close them or write them as \\["))
    openings = re.findall(r"<[A-Za-z!/?]", text)
    if len(openings) > MAX_TAG_OPENINGS:
        hazards.append((0, "markdown-too-complex",
                        f"{len(openings)} HTML tags; at most {MAX_TAG_OPENINGS} are accepted"))
    if hazards:
        return hazards
    if not _MAY_HOLD_MARKUP.search(text):
        return []  # no link, image, HTML or top-level heading can come out of it: no need to convert
    found: list[tuple[int, str, str]] = []
    raw = _raw_html(text, keep=True)
    for tag, attrs in _elements(raw) if "<" in text else _generated_elements(raw):
        if tag == "img":
            found.append((_element_line(lines, tag, attrs), "html-not-allowed",
                          "images are not accepted in text: link to the document instead"))
            continue
        if tag not in ALLOWED_TAGS:
            hint = ": use ### or a deeper heading" if tag in ("h1", "h2") else ""
            found.append((_element_line(lines, tag, attrs), "html-not-allowed",
                          f"HTML element <{tag}> is not accepted{hint}"))
            continue
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES.get(tag, ()):
                if not (tag in ("td", "th") and name == "style"):  # table alignment from Markdown itself
                    found.append((_element_line(lines, tag, attrs), "html-not-allowed",
                                  f'attribute "{name}" is not accepted on <{tag}>'))
            elif name == "href" and value is not None and not _web_address(value):
                found.append((_line_of(lines, [value]), "unsafe-url",
                              f'link to "{value[:60]}": only http://, https:// and mailto: addresses, or '
                              "addresses on this site, are accepted"))
    return found


_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]")


def _web_address(href: str) -> bool:
    # Browsers ignore ASCII tabs, line breaks and control characters inside a scheme (java\tscript:).
    compact = _IGNORED_IN_SCHEME.sub("", href).lower()
    scheme = re.match(r"^([a-z][a-z0-9+.-]*):", compact)
    return scheme is None or scheme[1] in URL_SCHEMES


def _element_line(lines: list[str], tag: str, attrs: list[tuple[str, str | None]]) -> int:
    """The line of the source that most likely produced an element (searched only for problems)."""
    return _line_of(lines, ["!["] if tag == "img" else [f"<{tag}", *(v for _, v in attrs if v)])


def _line_of(lines: list[str], needles: list[str]) -> int:
    for number, line in enumerate(lines):
        if any(needle and needle in line for needle in needles):
            return number
    return 0


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def _elements(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    return parser.found


_START_TAG = re.compile(r"<([a-z][a-z0-9]*)([^>]*)>")
_ATTRIBUTE = re.compile(r'([^\s=/]+)(?:="([^"]*)")?')


def _generated_elements(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``_elements(fragment)`` for HTML that Python-Markdown wrote from a text without any "<": its
    own elements, in lower case, attribute values in double quotes with " & < > escaped. Read with
    two expressions, seven times as fast as the HTML parser, which the build ran on every text."""
    return [(tag, [(a[1], None if a[2] is None else html.unescape(a[2])) for a in _ATTRIBUTE.finditer(attrs)])
            for tag, attrs in _START_TAG.findall(fragment)]


def _map_text(fragment: str, change: object) -> str:
    """Apply ``change`` to the text between tags, leaving tags, code and preformatted text alone."""
    assert callable(change)
    out = []
    verbatim = 0
    for n, token in enumerate(_TOKENS.split(fragment)):
        if n % 2:
            if token[1] in "/cCpP":  # else not code or pre: most tags are not looked at further
                name = token[1:].lstrip("/").split(" ", 1)[0].rstrip(">").lower()
                if name in ("code", "pre"):
                    verbatim += -1 if token.startswith("</") else 1
            out.append(token)
        elif not token:
            continue
        else:
            out.append(token if verbatim else html.escape(change(html.unescape(token)), quote=False))
    return "".join(out)


def folded_article_text(body: str) -> str:
    """An article body as the quote check and the model see it: rendered, then folded, once."""
    return current().get("folded", text_key(body), lambda: folded(plain_text(markdown_to_html(body))))


def quote_key(body_key: str, quote: str) -> tuple[str, str]:
    """The memo's key for where ``quote`` is in an article's body (``body_key``: memo.text_key of it)."""
    return body_key, quote


def quote_position(body: str, quote: str) -> int | None:
    """Where ``quote`` starts in the folded text of an article ``body``, or None when it is not in it."""
    def search() -> int:
        match = find_quote(folded_article_text(body), quote)
        return match.spans[0][0] if match else -1
    position = current().get("quote", quote_key(text_key(body), quote), search)
    return None if position < 0 else position


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
    # A run of text ends where its owner changes or where a quote ends (its badge follows):
    # only span edges can be such places, so the text is cut there, not looked at letter by letter.
    edges = {e for spans in (f[2] for f in found) for span in spans for e in span}
    cuts = sorted({e for e in edges if 0 < e < len(plain) and owner[e] != owner[e - 1]}
                  | {e + 1 for e in ends})
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
        inside = [c - offset for c in cuts[bisect_right(cuts, offset):bisect_left(cuts, offset + len(text))]]
        for i, j in zip([0, *inside], [*inside, len(text)], strict=True):
            if i == j:
                continue
            who = owner[offset + i]
            run = html.escape(text[i:j], quote=False)
            if who is None:
                out.append(run)
            elif in_link:
                out.append(f"<mark>{run}</mark>")
            else:
                out.append(f'<a class="quote-ref" href="{html.escape(highlights[who].href)}"><mark>{run}</mark></a>')
            for number in ends.get(offset + j - 1, ()):
                out.append(highlights[number].badge)
        offset += len(text)
    return "".join(out)
