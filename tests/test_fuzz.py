"""Fuzzing: random and mutated input files give a site or positioned problems, never a traceback or a hang."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constat.load import load_project
from constat.pipeline import Project, build
from constat.validate import validate
from tests.helpers import MINI

CLAIM = MINI / "claims/conseil-municipal/piscine-1200-entrees.yaml"
ARTICLE = MINI / "content/budget-regional.md"
SEEDS = [CLAIM.read_bytes(), ARTICLE.read_bytes()]

# Pieces editors and attackers type: YAML syntax, Markdown syntax, typography, encodings.
FRAGMENTS = [b":", b": ", b"- ", b"\n", b"  ", b"\t", b"'", b'"', b"&a ", b"*a", b"!!str ", b"{", b"}", b"[", b"]",
             b"#", b"---\n", b"|\n", b">\n", b"2015-02-30", b"\xc2\xa0", "« ».".encode(), "’".encode(), b"\xe9",
             b"\xef\xbb\xbf", b"\x00", b"<script>", b"[x](javascript:1)", b"![i](x)", b"**", b"`", b"%", b"\r\n",
             b"status: faux\n", b"quote: ", b"sources:\n  - url: ftp://x\n", "\u2028".encode()]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(FRAGMENTS) | st.binary(max_size=6))
        if action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        else:
            data[at:at + len(piece)] = piece
    return bytes(data)


values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.dates().map(str),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                                    max_size=4), max_leaves=10)
random_claims = st.dictionaries(st.sampled_from(
    ["quote", "speaker", "speaker_role", "said_on", "status", "summary", "verdict", "sources", "figures",
     "tags", "reviewed_on", "corrections", "short_claim", "staus", "appearances"]), values, max_size=12)


def project_with(tmp: Path, name: str, data: bytes) -> Path:
    root = tmp / "p"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(MINI, root)
    (root / name).write_bytes(data)
    return root


def assert_positioned(root: Path) -> None:
    started = time.monotonic()
    problems = validate(load_project(root))  # any exception fails the test: that would be a traceback
    assert time.monotonic() - started < 10, "no input stalls the check"
    for problem in problems:
        assert problem.line >= 1 and problem.column >= 1 and problem.path and problem.message


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_mutated_files_are_checked_without_exceptions(tmp_path: Path, data: bytes) -> None:
    name = "claims/conseil-municipal/piscine-1200-entrees.yaml" if data[:6] != b"---\nti" else \
        "content/budget-regional.md"
    assert_positioned(project_with(tmp_path, name, data))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claim=random_claims)
def test_random_claims_are_checked_without_exceptions(tmp_path: Path, claim: dict[str, object]) -> None:
    text = yaml.safe_dump(claim, allow_unicode=True).encode()
    assert_positioned(project_with(tmp_path, "claims/budget-regional/fuzz.yaml", text))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_mutated_files_build_or_fail_cleanly_leaving_no_half_site(tmp_path: Path, data: bytes) -> None:
    root = project_with(tmp_path, "claims/conseil-municipal/piscine-1200-entrees.yaml", data)
    report = build(Project.at(root))
    if report.failed:
        assert report.problems and not (root / "site").exists()
    else:
        assert (root / "site/index.html").is_file()
