"""One broken fixture per kind of editor's mistake: the exact message, line, column and exit status."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from constat import prefill
from tests.helpers import MINI, build_py, cli, copy_project, leftovers, tree

INVALID = Path(__file__).parent / "fixtures" / "invalid"
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir())


def broken_project(case: str, tmp_path: Path) -> Path:
    """The mini fixture with the case's files laid over it."""
    root = copy_project(MINI, tmp_path / "project")
    shutil.copytree(INVALID / case, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.txt"))
    return root


def expected(case: str) -> list[str]:
    return (INVALID / case / "expected.txt").read_text(encoding="utf-8").splitlines()


def test_every_error_kind_of_the_issue_has_a_case() -> None:
    required = {"yaml-syntax", "duplicate-key", "tab", "unknown-key", "missing-field", "wrong-type",
                "unknown-status", "orphan-claims", "quote-not-found", "duplicate-slug", "invalid-date",
                "date-order", "bad-url", "bad-slug", "no-source"}
    assert required <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_check_reports_each_problem_at_its_place(case: str, tmp_path: Path) -> None:
    root = broken_project(case, tmp_path)
    run = cli("check", "--root", str(root))
    assert run.problem_lines == expected(case)
    codes = {line.rsplit("[", 1)[1].rstrip("]") for line in expected(case)}
    assert case in codes, "each case shows the problem it is named after"
    only_warnings = all(": warning: " in line for line in expected(case))
    assert run.code == (0 if only_warnings else 1)
    assert "Traceback" not in run.err


@pytest.mark.parametrize("case", CASES)
def test_a_failed_build_leaves_the_previous_site_as_it_was(case: str, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert cli("build", "--root", str(MINI), "--out", str(out)).code == 0
    before = tree(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    root = broken_project(case, tmp_path)
    run = cli("build", "--strict", "--root", str(root), "--out", str(out))
    assert run.code == 1
    assert "nothing was written; the previous site is unchanged" in run.err
    assert tree(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes
    assert leftovers(tmp_path) == [], "no staging folder is left behind"


@pytest.mark.parametrize("command", ["build", "check"])
@pytest.mark.parametrize("case", CASES)
def test_a_cold_build_shared_between_cores_reports_the_same_problems(
        case: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With no cache, a build parses and checks the files on every core first (constat/prefill.py);
    # so does check, which does not convert the Markdown for pages it does not render.
    monkeypatch.setattr(prefill, "PREFILL_FROM", 1)
    forks = []
    real = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: forks.append(method) or real(method))
    root = broken_project(case, tmp_path)
    run = cli(command, "--root", str(root), *(["--out", str(tmp_path / "out")] if command == "build" else []))
    assert run.problem_lines == expected(case)
    assert "Traceback" not in run.err
    assert forks and forks[0] == "fork", "the files were prepared by forked workers"


def test_a_cold_check_converts_no_markdown_for_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # check renders nothing and saves no cache: its workers parse and check every file, and the
    # HTML of verdicts and articles, 50 MiB at 10,000 claims, is neither made nor sent back.
    from constat.memo import current

    monkeypatch.setattr(prefill, "PREFILL_FROM", 1)
    root = copy_project(MINI, tmp_path / "p")
    assert cli("check", "--root", str(root)).code == 0
    memo = current()
    assert len(memo.journal["yaml"]) >= 8 and len(memo.journal["front"]) > 8 and len(memo.journal["checks"]) > 8, \
        "the files were prepared"
    assert memo.journal["html"] == {} and memo.journal["folded"], "the Markdown was not converted"
    assert not (root / "site").exists() and not (root / ".site.cache").exists()


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    root = broken_project("no-source", tmp_path)
    assert cli("check", "--root", str(root)).code == 0
    strict = cli("check", "--strict", "--root", str(root))
    assert strict.code == 1
    assert "--strict: warnings count" in strict.err
    assert cli("build", "--root", str(root), "--out", str(tmp_path / "out")).code == 0


def test_the_real_command_prints_problems_and_exits_1(tmp_path: Path) -> None:
    root = broken_project("unknown-status", tmp_path)
    run = build_py("check", "--root", str(root))
    assert run.code == 1
    assert run.problem_lines == expected("unknown-status")


def test_github_format_annotates_the_pull_request_lines(tmp_path: Path) -> None:
    root = broken_project("unknown-status", tmp_path)
    run = cli("check", "--format", "github", "--root", str(root))
    assert run.code == 1
    assert "::error file=claims/conseil-municipal/ecole-ouverte-1998.yaml,line=5,col=9::" \
           'unknown status "fause" (did you mean "faux"?) [unknown-status]' in run.err.splitlines()
