"""Open data: every claim as JSON and as CSV, one record per claim, columns documented."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from constat.memo import current, digest
from constat.model import Claim, Dossier

CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "identifiant stable : <article>/<affirmation>"),
    ("url", "adresse de la page de vérification"),
    ("article", "identifiant de l'article source"),
    ("article_title", "titre de l'article source"),
    ("article_publisher", "média qui a publié l'article"),
    ("article_published", "date de publication de l'article (AAAA-MM-JJ)"),
    ("article_url", "adresse de l'article original, si elle est connue"),
    ("quote", "la citation, mot pour mot ; [entre crochets] les ajouts de la rédaction"),
    ("claim_reviewed", "l'affirmation en moins de 75 caractères"),
    ("speaker", "auteur de l'affirmation"),
    ("speaker_role", "sa fonction au moment des faits"),
    ("said_on", "date de l'affirmation (AAAA-MM-JJ)"),
    ("status", "clé du verdict (voir la méthodologie)"),
    ("status_label", "libellé du verdict"),
    ("rating", "note de 1 (faux) à 5 (vrai) ; vide pour un verdict sans note"),
    ("summary", "le verdict en une phrase"),
    ("stated", "pour une affirmation chiffrée : le chiffre avancé"),
    ("measured", "le chiffre établi par les sources, s'il est connu"),
    ("unit", "l'unité des deux chiffres"),
    ("sources", "adresses des sources, séparées par « | »"),
    ("tags", "thèmes, séparés par « | »"),
    ("published_on", "date de première publication de la vérification"),
    ("updated_on", "date de la dernière révision ou correction"),
    ("corrections", "nombre de corrections publiées"),
)


def _record(claim: Claim, dossier: Dossier) -> dict[str, Any]:
    article = claim.article
    figures = claim.figures
    return {
        "id": f"{article.slug}/{claim.slug}",
        "url": dossier.site.absolute_url(claim.permalink),
        "article": article.slug,
        "article_title": article.title,
        "article_publisher": article.publisher,
        "article_published": article.published.isoformat(),
        "article_url": article.url,
        "quote": " ".join(claim.quote.split()),
        "claim_reviewed": claim.claim_reviewed,
        "speaker": claim.speaker.name,
        "speaker_role": claim.speaker_role,
        "said_on": claim.said_on.isoformat(),
        "status": claim.status.key,
        "status_label": claim.status.label,
        "rating": claim.status.rating,
        "summary": " ".join(claim.summary.split()),
        "stated": figures.stated if figures else None,
        "measured": figures.measured if figures else None,
        "unit": figures.unit if figures else None,
        "sources": [s.url for s in claim.sources],
        "tags": [t.label for t in claim.tags],
        "published_on": claim.published_on.isoformat(),
        "updated_on": claim.updated_on.isoformat(),
        "corrections": len(claim.corrections),
    }


def claims_json(dossier: Dossier) -> bytes:
    return b"".join(claims_json_pieces(dossier))


def claims_json_pieces(dossier: Dossier, made: list[tuple[bytes, bytes]] | None = None) -> Iterator[bytes]:
    """The bytes ``json.dumps(data, ensure_ascii=False, indent=1)`` writes, in UTF-8, in pieces
    (16 MB at 10,000 claims, never whole in memory), each claim's part made once (``made``: rows())."""
    site = dossier.site
    head = indented_json({"title": site.title, "publisher": site.publisher_name, "licence": site.licence_url,
                          "documentation": site.absolute_url("/donnees/"), "claims": []})
    if not dossier.claims:
        yield (head + "\n").encode()
        return
    assert head.endswith('"claims": []\n}')
    yield (head[:-len("[]\n}")] + "[\n").encode()
    for n, (record, _) in enumerate(rows(dossier) if made is None else made):
        yield (b",\n" + record) if n else record
    yield b"\n ]\n}\n"


def rows(dossier: Dossier) -> list[tuple[bytes, bytes]]:
    """Each claim's JSON object (indented as in the whole file) and CSV line, in UTF-8, from the
    memo when known: both files are made of them, and an edit changes a few."""
    key = records_key(dossier)
    get = current().get
    return [get("records", (key, c.digest), partial(_row, c, dossier)) for c in dossier.claims]


def new_rows(dossier: Dossier, claims: Sequence[Claim]) -> dict[Any, tuple[bytes, bytes]]:
    """The memo's entries for the rows of these claims that it does not have, made and not kept:
    each share of the render makes those of its share of the claims (render._render_share)."""
    key, memo = records_key(dossier), current()
    return {(key, c.digest): _row(c, dossier) for c in claims if not memo.has("records", (key, c.digest))}


def records_key(dossier: Dossier) -> str:
    return digest(repr(dossier.site))  # a short key: the cache writes it once per claim


def _row(claim: Claim, dossier: Dossier) -> tuple[bytes, bytes]:
    record = _record(claim, dossier)
    text = indented_json(record)
    cells = [_cell(record[n]) for n, _ in CSV_COLUMNS]
    return "\n".join("  " + line for line in text.split("\n")).encode(), _csv_lines([cells]).encode()


_SCALAR = json.JSONEncoder(ensure_ascii=False).encode
_STRING: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def indented_json(value: Any, depth: int = 0) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=1)``, for values whose keys are text.

    Given ``indent``, the json module leaves its C encoder for one written in Python, which makes a
    set of functions that refer to each other for each call: a cycle only the cycle collector
    frees, and a build pauses it (constat/pipeline.py): at 10,000 claims some 330,000 objects
    (about 25 MB) held until the build ended. Here the C encoder writes each value, and this
    function only the indentation, as fast (tests/test_publishing.py compares it with json.dumps)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n" + " " * (depth + 1)
        items = (f"{_STRING(_key(key))}: {indented_json(item, depth + 1)}" for key, item in value.items())
        return "{" + inner + ("," + inner).join(items) + "\n" + " " * depth + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = "\n" + " " * (depth + 1)
        items = (indented_json(item, depth + 1) for item in value)
        return "[" + inner + ("," + inner).join(items) + "\n" + " " * depth + "]"
    return _STRING(value) if value.__class__ is str else _SCALAR(value)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be text, not {type(key).__name__}")
    return key


def _csv_lines(rows: list[list[str]]) -> str:
    """Rows as the csv module writes them: each row's quoting depends on its own cells only, so the
    lines of the file are the lines of its rows, made once per claim."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = " | ".join(value)
    text = str(value)
    # A cell that starts like a formula would run in a spreadsheet: keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def claims_csv(dossier: Dossier) -> bytes:
    return b"".join(claims_csv_pieces(dossier))


def claims_csv_pieces(dossier: Dossier, made: list[tuple[bytes, bytes]] | None = None) -> Iterator[bytes]:
    yield _csv_lines([[name for name, _ in CSV_COLUMNS]]).encode()
    for _, line in rows(dossier) if made is None else made:
        yield line
