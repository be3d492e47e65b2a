"""The Atom feed's entries: one per review and one per correction, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from constat.model import Claim, Dossier


@dataclass(frozen=True)
class FeedEntry:
    id: str
    """A permanent absolute URL: the claim page, with #correction-N for a correction."""
    title: str
    link: str
    published: date
    updated: date
    summary: str
    content_html: str | None
    claim: Claim


FEED_LENGTH = 50
"""Entries in the feed: the newest reviews and corrections. The whole archive is in /donnees/."""


def feed_entries(dossier: Dossier) -> list[FeedEntry]:
    site = dossier.site
    entries = []
    for claim in dossier.claims:
        url = site.absolute_url(claim.permalink)
        entries.append(FeedEntry(
            id=url, title=f"{claim.status.label} : {claim.claim_reviewed} ({claim.speaker.name})", link=url,
            published=claim.published_on, updated=claim.reviewed_on, summary=claim.summary, content_html=None,
            claim=claim))
        for number, correction in enumerate(claim.corrections, 1):
            entries.append(FeedEntry(
                id=f"{url}#correction-{number}", title=f"Correction : {claim.claim_reviewed}",
                link=f"{url}#correction-{number}", published=correction.date, updated=correction.date,
                summary=claim.summary, content_html=correction.text_html, claim=claim))
    return sorted(entries, key=lambda e: (-e.updated.toordinal(), e.id))[:FEED_LENGTH]
