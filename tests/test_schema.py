"""The schema check's fast path (constat/schema.py): jsonschema-rs answers for the files that pass,
jsonschema finds and words the errors of the others. It may refuse a file jsonschema accepts
(jsonschema is then asked, and decides); it must never accept one jsonschema refuses, or an
editor's mistake would go unreported."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constat.schema import _passes, _validator
from tests.helpers import MINI

VALID = {
    "claim": yaml.safe_load((MINI / "claims/budget-regional/emplois-300.yaml").read_text("utf-8")),
    "site": yaml.safe_load((MINI / "site.yaml").read_text("utf-8")),
}
for data in VALID.values():  # as our loader gives them: dates are text
    for key, value in data.items():
        data[key] = value.isoformat() if hasattr(value, "isoformat") else value

TEXT = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["2015-11-17", "2015-11-17\n", "2015-13-45", "https://example.org/", "https://example.org/\n", "ftp://x",
     "mailto:a@b.c", "fr", "fr\n", "FR", "vrai", "#1d6b32", "#1d6b32\n", "", " ", "x" * 2001])
SCALARS = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)


def _mutated(valid: dict[str, Any], draw: Any) -> dict[str, Any]:
    data = dict(valid)
    keys = sorted(set(data) | {"sources", "figures", "tags", "corrections", "short_claim", "context", "search",
                               "dossier", "licence", "publisher", "report_url", "base_url"})
    for key in draw(st.lists(st.sampled_from(keys), max_size=3)):
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(VALUES)
    if draw(st.booleans()):
        data[draw(TEXT)] = draw(VALUES)
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_what_the_fast_check_accepts_jsonschema_accepts(kind: str, data: st.DataObject) -> None:
    document = _mutated(VALID[kind], data.draw)
    if _passes(kind)(document):
        assert not list(_validator(kind).iter_errors(document)), document


def test_the_fast_check_accepts_the_valid_files_and_refuses_a_broken_one() -> None:
    # Not a fast path that refuses everything (every file would cost jsonschema's time again).
    for kind, valid in VALID.items():
        assert _passes(kind)(valid), kind
    assert not _passes("claim")({**VALID["claim"], "status": 3})
    assert not _passes("claim")({key: value for key, value in VALID["claim"].items() if key != "quote"})
