"""``build.py new``: a claim file to fill in, commented field by field, for an existing article."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from constat.french import SLUG, slugify
from constat.problems import did_you_mean

TEMPLATE = """\
# yaml-language-server: $schema=../../schema/claim.schema.json
# Nouvelle affirmation tirée de content/{article}.md. Remplissez chaque champ, puis lancez
# `python build.py check` : il signale ce qui manque encore, ligne par ligne.
# Guide complet : CONTRIBUTING.md.

# Les mots exacts tels que publiés dans l'article (fautes comprises). Ajouts de la rédaction
# entre [crochets], coupures : […]
quote: ""
# Si la citation fait 75 caractères ou plus : l'affirmation résumée en moins de 75 caractères.
# short_claim: ""
speaker: ""
# Sa fonction au moment des faits.
speaker_role: ""
# Page Wikipédia ou Wikidata de la personne (facultatif).
# speaker_url: https://fr.wikipedia.org/wiki/...
# Date à laquelle l'affirmation a été faite (AAAA-MM-JJ).
said_on:
# Où et dans quelles circonstances (facultatif).
# context: ""

# vrai, plutot-vrai, imprecis, exagere, trompeur, manque-de-contexte, faux, inverifiable,
# opinion ou en-cours (voir statuses.yaml).
status: en-cours
# Le verdict en une phrase.
summary: ""
# L'explication, en Markdown : les éléments de preuve et le raisonnement.
verdict: |
  ...
# Au moins une source pour tout verdict noté. Jamais d'adresse, de titre ou de date inventés.
sources:
  # - title: ""
  #   url: https://...
  #   publisher: ""
  #   published: AAAA-MM-JJ
# Pour une affirmation chiffrée (facultatif) :
# figures:
#   stated: 0
#   measured: 0
#   unit: ""
#   as_of: AAAA-MM-JJ
reviewed_on: {today}
tags: []
"""


class ScaffoldError(ValueError):
    """The claim cannot be created: the message says why and what to do."""


def new_claim(root: Path, article: str, slug: str, today: date | None = None) -> Path:
    """Write claims/<article>/<slug>.yaml from TEMPLATE; never overwrite an existing claim."""
    if not SLUG.match(slug):
        better = slugify(slug)
        raise ScaffoldError(f'"{slug}" is not a valid claim name: use lowercase ASCII words joined by hyphens'
                            + (f', e.g. "{better}"' if better else ""))
    articles = sorted(p.stem for p in (root / "content").glob("*.md"))
    if article not in articles:
        raise ScaffoldError(f'there is no article content/{article}.md' + (
            did_you_mean(article, articles) or (f": the articles are {', '.join(articles)}" if articles else "")))
    folder = root / "claims" / article
    for existing in (folder / f"{slug}.yaml", folder / f"{slug}.yml"):
        if existing.exists():
            raise ScaffoldError(f"{existing.relative_to(root).as_posix()} already exists: "
                                "choose another name, or edit that file")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{slug}.yaml"
    with target.open("x", encoding="utf-8") as out:  # "x": fails rather than overwrite, even in a race
        out.write(TEMPLATE.format(article=article, today=(today or date.today()).isoformat()))
    return target
