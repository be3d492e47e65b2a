"""Python-Markdown's HTML of plain Markdown, without running Python-Markdown.

Converting the Markdown of 10,000 verdicts and 1,000 articles took Python-Markdown 6 s of a
clean build's 30 s of CPU (1,000 articles × 10 claims), for texts that are nearly all made of
the same few things: paragraphs, ### headings, lists of "- " or "1. " items, quotes of
paragraphs, *emphasis*, **strong** and [links](https://…). ``convert`` writes the HTML of such a
text directly, in a seventh of the time (0.8 s), and gives up (None) on anything else, which
Python-Markdown then converts as before: a character Markdown gives a meaning this module does
not handle (`` ` \\ _ < | ``, a tab, an HTML entity, an image), code and nested lists, a line
starting with a block marker it does not know, a star it cannot pair.

What it writes is Python-Markdown's output byte for byte (with the extensions markup.py uses,
tables and sane_lists, and ``output_format="html"``): tests/test_plainmark.py compares the two on
random texts built from every character and construction that matters here, and on every text
of the dossier (and, compared apart, the 21,000 texts of the benchmark's corpus at 1,000 × 10:
all taken, none different). A text this module gets wrong is a bug; a text it gives up on only
costs time.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_REFUSED = re.compile(r"[`\\_<|\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029]")
"""Characters with a meaning left to Python-Markdown (code, escapes, underscores, HTML, tables),
and control characters: one of them anywhere ends the fast path. So do an image (``![``), an
HTML entity (kept as it is), a line ending with white space (a line break), and one starting
with it (code, nested lists; Python-Markdown also strips a paragraph's leading white space,
non-breaking spaces included), but the lines that go on with a list's item."""
_ENTITY = re.compile(r"&(?:#|[0-9A-Za-z]+;)")
"""An entity, kept as it is: &amp; or &#233; (&#233 too, without its semicolon)."""
_BLANK_LINES = re.compile(r"\n{3,}")

_PLAIN_LINE = re.compile(r"(?:[^#>\-+=*\[\]\d\s]|\*{1,2}[^*\s]|\d+(?!\d*[.)]))")
"""How a line of a paragraph may start: not with a heading, quote, list, rule or setext marker,
a reference, a number followed by a dot (an ordered list: any decimal digits, ٣. as 3.), nor
with stars followed by a space or a third star (a list, a rule)."""

_HEADING = re.compile(r"(#{1,6}) ([^#\s][^#\n]*)")
_BULLET = re.compile(r"- (?P<text>.+)")
_NUMBERED = re.compile(r"(?P<number>\d+)\. (?P<text>.+)")
_CONTINUED = re.compile(r" {0,3}\S.*")

_LINK = re.compile(r"\[([^\[\]*\n]+)\]\(([^\s()<>\[\]\"'*]+)\)")
"""[text](address), nothing more: no title, no brackets, parentheses or stars inside."""
_RUN = re.compile(r"\*+")


def convert(text: str) -> str | None:
    """Python-Markdown's HTML of ``text`` (see the module's docstring), or None when ``text``
    goes beyond what this module writes. ``text`` is already in NFC, as markup.py converts it."""
    text = text.strip("\n")
    if "\n\n\n" in text:  # more blank lines than one are one for Python-Markdown (EmptyBlockProcessor)
        text = _BLANK_LINES.sub("\n\n", text)
    if not text or _REFUSED.search(text) or "![" in text or ("&" in text and _ENTITY.search(text)):
        return None
    blocks = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if any(line[-1].isspace() for line in lines):  # a line break, or spaces Python-Markdown drops
            return None
        parsed = _block(lines)  # which sees to the white space lines start with
        if parsed is None:
            return None
        blocks.append(parsed)
    html: list[str] = []
    for n, (kind, body, start) in enumerate(blocks):
        after = blocks[n + 1].kind if n + 1 < len(blocks) else ""
        before = blocks[n - 1].kind if n else ""
        if kind in ("ul", "ol"):
            # Python-Markdown makes one list of lists of a kind in a row, with the items on either
            # side of each blank line between them in paragraphs of their own. A numbered list
            # starts at its first number, as written (sane_lists).
            items = [f"<li>\n<p>{item}</p>\n</li>\n" if (i == 0 and before == kind)
                     or (i == len(body) - 1 and after == kind) else f"<li>{item}</li>\n"
                     for i, item in enumerate(body)]
            opening = f"<{kind}>\n" if start in ("", "1") else f'<{kind} start="{start}">\n'
            html.append(("" if before == kind else opening) + "".join(items)
                        + ("" if after == kind else f"</{kind}>\n"))
        elif kind == "quote":  # quotes in a row: one quote, of their paragraphs
            html.append(("" if before == "quote" else "<blockquote>\n") + "".join(f"<p>{p}</p>\n" for p in body)
                        + ("" if after == "quote" else "</blockquote>\n"))
        else:
            html.append(body[0] + "\n")
    return "".join(html)[:-1]


class _Block(NamedTuple):
    kind: str
    """heading, paragraph, quote, ul or ol."""
    html: list[str]
    """The HTML of its items (a list's), or of the block whole, in a list of one."""
    start: str = ""
    """A numbered list's first number, as written."""


def _block(lines: list[str]) -> _Block | None:
    """The block of these lines, or None when it is not one this module writes."""
    if len(lines) == 1 and lines[0][0] == "#":
        heading = _HEADING.fullmatch(lines[0])
        inner = _inline(heading[2]) if heading else None
        if heading is None or inner is None:
            return None
        level = len(heading[1])
        return _Block("heading", [f"<h{level}>{inner}</h{level}>"])
    if lines[0].startswith("> "):
        return _quote(lines)
    if lines[0].startswith("- "):
        return _list("ul", lines, _BULLET)
    if lines[0][0].isdecimal():  # what \d matches
        numbered = _list("ol", lines, _NUMBERED)
        if numbered is not None:
            return numbered
    if not all(map(_starts_plain, lines)):
        return None
    inner = _inline("\n".join(lines))
    return None if inner is None else _Block("paragraph", [f"<p>{inner}</p>"])


def _list(kind: str, lines: list[str], item: re.Pattern[str]) -> _Block | None:
    """A list whose items are plain, each on a line of its own and maybe the lines after it,
    indented by at most three spaces (Python-Markdown keeps them in the item's text, spaces and all)."""
    texts: list[str] = []
    start = ""
    for line in lines:
        if (found := item.fullmatch(line)) is not None and _starts_plain(found["text"]):
            if not texts and kind == "ol":
                start = found["number"]  # the first item's, as written
            texts.append(found["text"])
        elif texts and _CONTINUED.fullmatch(line) and _starts_plain(line.lstrip(" ")):
            texts[-1] += "\n" + line
        else:
            return None
    items = [html for text in texts if (html := _inline(text)) is not None]
    return _Block(kind, items, start) if len(items) == len(texts) else None


def _quote(lines: list[str]) -> _Block | None:
    """A quote of plain paragraphs, each line marked "> ", a line ">" alone between paragraphs."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line == ">" and paragraphs[-1]:
            paragraphs.append([])
        elif line.startswith("> ") and _starts_plain(line[2:]):
            paragraphs[-1].append(line[2:])
        else:
            return None
    inner = [html for paragraph in paragraphs if paragraph and (html := _inline("\n".join(paragraph))) is not None]
    return _Block("quote", inner) if len(inner) == len(paragraphs) else None


def _starts_plain(line: str) -> bool:
    return bool(line) and not line[0].isspace() and _PLAIN_LINE.match(line) is not None


def _inline(text: str) -> str | None:
    """The HTML of one block's text: links, then emphasis paired star run by star run, the rest
    escaped as Python-Markdown's serializer does; None for anything else."""
    if "[" not in text and "]" not in text:
        return _emphasis(text)
    pieces: list[str] = []
    links: list[str] = []
    end = 0
    for link in _LINK.finditer(text):
        pieces.append(text[end:link.start()])
        links.append(f'<a href="{_attribute(link[2])}">{_text(link[1])}</a>')
        pieces.append("\x00")  # where the link goes back, once the stars around it are paired
        end = link.end()
    pieces.append(text[end:])
    joined = "".join(pieces)
    if "[" in joined or "]" in joined:
        return None
    html = _emphasis(joined)
    if html is None or not links:
        return html
    parts = html.split("\x00")
    return parts[0] + "".join(link + rest for link, rest in zip(links, parts[1:], strict=True))


def _emphasis(text: str) -> str | None:
    """Star runs paired in order, each pair one or two stars around text that neither starts nor
    ends with white space; any other star gives up."""
    if "*" not in text:
        return _text(text)
    runs = list(_RUN.finditer(text))
    if len(runs) % 2:
        return None
    out: list[str] = []
    end = 0
    for opening, closing in zip(runs[::2], runs[1::2], strict=True):
        stars = opening[0]
        inner = text[opening.end():closing.start()]
        if len(stars) > 2 or closing[0] != stars or not inner or inner[0].isspace() or inner[-1].isspace():
            return None
        tag = "strong" if len(stars) == 2 else "em"
        out.append(_text(text[end:opening.start()]))
        out.append(f"<{tag}>{_text(inner)}</{tag}>")
        end = closing.end()
    out.append(_text(text[end:]))
    return "".join(out)


def _text(text: str) -> str:
    return text.replace("&", "&amp;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;")
