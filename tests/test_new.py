"""``build.py new``: a claim file to fill in, as an editor creates it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from constat.scaffold import new_claim
from tests.helpers import MINI, build_py, copy_project


def test_new_writes_a_commented_claim_that_check_then_walks_through(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    run = build_py("new", "budget-regional", "dette-record", "--root", str(root))
    assert run.code == 0, run.err
    created = root / "claims/budget-regional/dette-record.yaml"
    assert f"created {created.relative_to(root)}" in run.out
    text = created.read_text(encoding="utf-8")
    assert f"reviewed_on: {date.today().isoformat()}" in text
    assert "# Le verdict en une phrase." in text
    check = build_py("check", "--root", str(root))
    assert check.code == 1
    fields = [line.split('"')[1] for line in check.problem_lines]
    assert fields == ["quote", "speaker", "speaker_role", "said_on", "summary"]
    assert all(line.startswith("claims/budget-regional/dette-record.yaml:") for line in check.problem_lines)


def test_new_refuses_to_overwrite_and_checks_article_and_name(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    existing = root / "claims/budget-regional/emplois-300.yaml"
    before = existing.read_bytes()
    run = build_py("new", "budget-regional", "emplois-300", "--root", str(root))
    assert run.code == 1 and "already exists" in run.err
    assert existing.read_bytes() == before
    run = build_py("new", "budget-regionl", "x", "--root", str(root))
    assert run.code == 1 and 'did you mean "budget-regional"' in run.err
    run = build_py("new", "budget-regional", "Dette Record", "--root", str(root))
    assert run.code == 1 and 'e.g. "dette-record"' in run.err
    assert not (root / "claims/budget-regionl").exists()


def test_the_date_is_the_day_of_creation(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    path = new_claim(root, "conseil-municipal", "nouvelle", today=date(2025, 1, 31))
    assert "reviewed_on: 2025-01-31" in path.read_text(encoding="utf-8")
