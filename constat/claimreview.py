"""schema.org ClaimReview for a claim page: built from the model, checked before it is published."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from constat.problems import Problem

if TYPE_CHECKING:  # the validate stage reads MAX_CLAIM_REVIEWED without loading the model
    from constat.model import Claim, Dossier, Site

MAX_CLAIM_REVIEWED = 75
"""Google's fact-check guidelines: claimReviewed is a short summary of the claim, under 75 characters."""


def has_claim_review(claim: Claim) -> bool:
    """Rated claims and label-only ones (Invérifiable) get one; Opinion and En cours do not."""
    return claim.status.claim_review


def claim_review(claim: Claim, site: Site) -> dict[str, Any]:
    rating: dict[str, Any] = {"@type": "Rating", "alternateName": claim.status.label}
    if claim.status.rating is not None:
        rating.update(ratingValue=claim.status.rating, bestRating=5, worstRating=1)
    article = claim.article
    appearance: dict[str, Any] = {
        "@type": "CreativeWork",
        "headline": article.title,
        "datePublished": article.published.isoformat(),
        "publisher": {"@type": "Organization", "name": article.publisher},
    }
    if article.url or article.archive_url:
        appearance["url"] = article.url or article.archive_url
    # A claim made by the publication itself (the journalist's words) is the organisation's.
    author: dict[str, Any]
    if claim.speaker.name == article.publisher:
        author = {"@type": "Organization", "name": claim.speaker.name}
    else:
        author = {"@type": "Person", "name": claim.speaker.name, "jobTitle": claim.speaker_role}
    if claim.speaker_url:
        author["sameAs"] = claim.speaker_url
    return {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": site.absolute_url(claim.permalink),
        "claimReviewed": claim.claim_reviewed,
        "datePublished": claim.published_on.isoformat(),
        "dateModified": claim.updated_on.isoformat(),
        "inLanguage": site.language,
        "author": {"@type": "Organization", "name": site.publisher_name, "url": site.publisher_url},
        "reviewRating": rating,
        "itemReviewed": {
            "@type": "Claim",
            "author": author,
            "datePublished": claim.said_on.isoformat(),
            "appearance": [appearance, *({"@type": "CreativeWork", "url": u} for u in claim.appearances)],
        },
    }


def check_claim_review(data: dict[str, Any], claim: Claim, dossier: Dossier) -> list[Problem]:
    """What search engines would reject: the build refuses to publish it."""
    problems = []

    def fail(message: str) -> None:
        problems.append(Problem(claim.path, 1, 1, "claim-review", message))

    reviewed = data.get("claimReviewed", "")
    if not isinstance(reviewed, str) or not reviewed.strip():
        fail("ClaimReview claimReviewed is empty")
    elif len(reviewed) >= MAX_CLAIM_REVIEWED:
        fail(f"ClaimReview claimReviewed has {len(reviewed)} characters; it must be under {MAX_CLAIM_REVIEWED}")
    rating = data.get("reviewRating", {})
    labels = {s.label for s in dossier.statuses if s.claim_review}
    if rating.get("alternateName") not in labels:
        fail(f'ClaimReview rating label "{rating.get("alternateName")}" is not in the scale')
    value = rating.get("ratingValue")
    if value is not None and not (isinstance(value, int) and 1 <= value <= 5):
        fail(f"ClaimReview ratingValue {value!r} is outside 1 to 5")
    if not str(data.get("url", "")).startswith(dossier.site.base_url):
        fail(f"ClaimReview url {data.get('url')!r} is not on the site ({dossier.site.base_url})")
    return problems


def script_json(data: Any) -> Markup:
    """JSON for a <script> element: no value can close the element or open a comment in it."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)
