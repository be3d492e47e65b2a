"""The verdict scale of the published site: complete, and readable as badges."""

from __future__ import annotations

import yaml

from tests.helpers import REPO


def contrast_with_white(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def test_the_scale_is_the_one_of_the_design() -> None:
    scale = yaml.safe_load((REPO / "statuses.yaml").read_text(encoding="utf-8"))
    assert [(s["key"], s["label"], s["rating"], s["claim_review"]) for s in scale] == [
        ("vrai", "Vrai", 5, True), ("plutot-vrai", "Plutôt vrai", 4, True), ("imprecis", "Imprécis", 3, True),
        ("exagere", "Exagéré", 2, True), ("trompeur", "Trompeur", 2, True),
        ("manque-de-contexte", "Manque de contexte", 2, True), ("faux", "Faux", 1, True),
        ("inverifiable", "Invérifiable", None, True), ("opinion", "Opinion", None, False),
        ("en-cours", "En cours", None, False)]


def test_every_badge_colour_carries_white_text_at_wcag_aa_contrast() -> None:
    scale = yaml.safe_load((REPO / "statuses.yaml").read_text(encoding="utf-8"))
    for status in scale:
        assert contrast_with_white(status["colour"]) >= 4.5, status["key"]
