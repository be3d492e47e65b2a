"""Convert a gen_corpus.py corpus into a Constat project: content/, claims/<article>/, site.yaml, statuses.yaml."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
"""The Constat checkout: its site.yaml and statuses.yaml are copied into every converted project."""

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STATUS_MAP = {
    "vrai": "vrai",
    "plutot-vrai": "plutot-vrai",
    "imprecis": "imprecis",
    "trompeur": "trompeur",
    "faux": "faux",
    "invérifiable": "inverifiable",  # the corpus keeps the accent; our keys are ASCII slugs
}
"""The corpus's six statuses onto keys of statuses.yaml."""

MAX_CLAIM_REVIEWED = 75
"""Same limit as constat.claimreview: from this length on, a ClaimReview needs short_claim."""

NEUTRAL_ROLE = "personnalité publique"
"""speaker_role when the corpus's summary does not name one (the generator always does today)."""

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")


@dataclass(frozen=True)
class Counts:
    articles: int
    claims: int


def _s(value: str) -> str:
    # JSON string syntax is a valid YAML double-quoted scalar: no value can be misread as a
    # number, a date, a boolean or a mapping, whatever it contains (« : », #, leading -).
    return json.dumps(value, ensure_ascii=False)


def _day(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value)).isoformat()


def _date_fr(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{'1er' if day.day == 1 else day.day} {_MONTHS[day.month - 1]} {day.year}"


def _block(key: str, text: str, indent: str = "") -> str:
    """A literal block scalar (|): Markdown stays readable and verbatim."""
    lines = text.rstrip("\n").split("\n")
    pad = indent + "  "
    return f"{indent}{key}: |\n" + "".join(f"{pad}{line}\n" if line else "\n" for line in lines)


def short_claim(quote: str) -> str:
    """The quote cut at a word boundary, under MAX_CLAIM_REVIEWED characters with the ellipsis."""
    # Split on plain spaces only: the no-break spaces of the quote (before %) stay where they are.
    words = quote.strip().split(" ")
    out = ""
    for word in words:
        candidate = f"{out} {word}".strip()
        if len(candidate) + 1 >= MAX_CLAIM_REVIEWED:
            break
        out = candidate
    return out.rstrip(",;:") + "…"


def speaker_role(summary: str, speaker: str) -> str:
    # The generator writes "<speaker> (<role>) affirme que …": reuse that role rather than invent one.
    found = re.match(re.escape(speaker) + r" \(([^()]+)\)", summary)
    return found.group(1) if found else NEUTRAL_ROLE


def claim_yaml(claim: dict[str, Any], reviewed_on: str) -> str:
    quote = str(claim["quote"])
    status = STATUS_MAP[str(claim["status"])]
    lines = [f"quote: {_s(quote)}"]
    # Every mapped status publishes a ClaimReview, so a long quote always needs its short form.
    if len(" ".join(quote.split())) >= MAX_CLAIM_REVIEWED:
        lines.append(f"short_claim: {_s(short_claim(quote))}")
    lines += [
        f"speaker: {_s(str(claim['speaker']))}",
        f"speaker_role: {_s(speaker_role(str(claim['summary']), str(claim['speaker'])))}",
        f"said_on: {_day(claim['claimed'])}",
        f"status: {status}",
        f"summary: {_s(str(claim['summary']))}",
    ]
    text = "\n".join(lines) + "\n" + _block("verdict", str(claim["verdict"]))
    sources = claim.get("sources") or []
    if sources:
        text += "sources:\n"
        for source in sources:
            text += (f"  - title: {_s(str(source['title']))}\n"
                     f"    url: {_s(str(source['url']))}\n"
                     f"    publisher: {_s(str(source['publisher']))}\n")
            if source.get("published"):
                text += f"    published: {_day(source['published'])}\n"
    # The corpus has no review date: the article's own publication date is neutral and is never
    # before said_on (the generator dates claims 0 to 10 days before their article).
    text += f"reviewed_on: {reviewed_on}\n"
    tags = claim.get("tags") or []
    if tags:
        text += "tags:\n" + "".join(f"  - {_s(str(tag))}\n" for tag in tags)
    return text


def article_md(front: dict[str, Any], body: str, claims: list[dict[str, Any]]) -> str:
    published = _day(front["published"])
    summary = (f"Article de {front['publisher']} publié le {_date_fr(published)}, "
               f"d’où sont tirées {len(claims)} affirmations vérifiées.")
    head = ["---", f"title: {_s(str(front['title']))}", f"publisher: {_s(str(front['publisher']))}"]
    if front.get("url"):
        head.append(f"url: {_s(str(front['url']))}")
    head += [f"published: {published}", f"language: {front.get('language') or 'fr'}",
             f"summary: {_s(summary)}", "---", ""]
    # The corpus's quotes are not in its bodies: each becomes a cited passage, as in a real
    # article of content/, so that Constat's quote check (and highlighter) finds it.
    passages = [f"{c['speaker']}, {speaker_role(str(c['summary']), str(c['speaker']))}, "
                f"le {_date_fr(_day(c['claimed']))} :\n\n> {str(c['quote']).strip()}"
                for c in claims]
    # Article pages print the title as <h1> and their own sections as <h2>: bodies start at ###.
    body = re.sub(r"^## ", "### ", body.strip("\n"), flags=re.MULTILINE)
    return "\n".join(head) + "\n" + body + "\n\n" + "\n\n".join(passages) + "\n"


def convert(raw: Path, out: Path, repo: Path = REPO) -> Counts:
    """Write the Constat project for the corpus ``raw`` into ``out`` (its content/ and claims/ are replaced)."""
    claims_by_article: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted((raw / "claims").glob("*.yaml")):
        claim = yaml.load(path.read_text("utf-8"), Loader=_LOADER)
        claims_by_article.setdefault(str(claim["article"]), []).append((path.stem, claim))
    for sub in ("content", "claims"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir(parents=True)
    for name in ("site.yaml", "statuses.yaml"):
        shutil.copyfile(repo / name, out / name)
    n_articles = n_claims = 0
    for path in sorted((raw / "content").glob("*.md")):
        _, front_text, body = path.read_text("utf-8").split("---\n", 2)
        front = yaml.load(front_text, Loader=_LOADER)
        claims = claims_by_article.get(path.stem, [])
        (out / "content" / path.name).write_text(article_md(front, body, [c for _, c in claims]),
                                                 encoding="utf-8", newline="\n")
        n_articles += 1
        if not claims:
            continue
        folder = out / "claims" / path.stem
        folder.mkdir()
        reviewed = _day(front["published"])
        for stem, claim in claims:
            (folder / f"{stem}.yaml").write_text(claim_yaml(claim, reviewed), encoding="utf-8", newline="\n")
            n_claims += 1
    return Counts(n_articles, n_claims)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path, help="a folder written by gen_corpus.py")
    parser.add_argument("out", type=Path, help="the Constat project folder to write")
    args = parser.parse_args(argv)
    counts = convert(args.corpus, args.out)
    print(f"convert: {counts.articles} articles, {counts.claims} claims -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
