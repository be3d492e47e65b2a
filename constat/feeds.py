"""The Atom feed's entries: one per review and one per correction, newest first."""

from __future__ import annotations

import heapq
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
    """The FEED_LENGTH newest entries, newest first (a tie by id): a review per claim, one per correction."""
    site = dossier.site
    # Which entries first, from their dates and ids alone: at 10,000 claims only 50 are made.
    candidates = []
    for claim in dossier.claims:
        url = site.absolute_url(claim.permalink)
        candidates.append((-claim.reviewed_on.toordinal(), url, claim, 0))
        for number, correction in enumerate(claim.corrections, 1):
            candidates.append((-correction.date.toordinal(), f"{url}#correction-{number}", claim, number))
    return [_entry(claim, number, site.absolute_url(claim.permalink))
            for _, _, claim, number in heapq.nsmallest(FEED_LENGTH, candidates, key=lambda c: (c[0], c[1]))]


def _entry(claim: Claim, number: int, url: str) -> FeedEntry:
    if number == 0:
        return FeedEntry(
            id=url, title=f"{claim.status.label} : {claim.claim_reviewed} ({claim.speaker.name})", link=url,
            published=claim.published_on, updated=claim.reviewed_on, summary=claim.summary, content_html=None,
            claim=claim)
    correction = claim.corrections[number - 1]
    return FeedEntry(
        id=f"{url}#correction-{number}", title=f"Correction : {claim.claim_reviewed}",
        link=f"{url}#correction-{number}", published=correction.date, updated=correction.date,
        summary=claim.summary, content_html=correction.text_html, claim=claim)
