"""Shared by the tests: the fixture paths, running the command line, comparing folders."""

from __future__ import annotations

import difflib
import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from constat.cli import main

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
MINI = TESTS / "fixtures" / "mini"
GOLDEN = TESTS / "golden" / "mini"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def problem_lines(self) -> list[str]:
        """The problem lines only, without the closing summary."""
        return [line for line in self.err.splitlines() if ": error: " in line or ": warning: " in line]


def cli(*args: str) -> Run:
    """The command line in this process (fast); ``build_py`` runs the real script."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), default_root=REPO, stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


def build_py(*args: str, cwd: Path = REPO) -> Run:
    done = subprocess.run([sys.executable, str(REPO / "build.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    return Run(done.returncode, done.stdout, done.stderr)


def copy_project(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("site", ".site.*"))
    return dest


def with_search(root: Path, **settings: object) -> Path:
    """The project at ``root`` with site.yaml's ``search:`` set (it has none): e.g. engine="pagefind"."""
    with (root / "site.yaml").open("a", encoding="utf-8") as f:
        f.write("search:\n" + "".join(f"  {key}: {value}\n" for key, value in settings.items()))
    return root


def pagefind_project(source: Path, dest: Path, **settings: object) -> Path:
    """A copy of the project at ``source`` whose search index Pagefind builds (site.yaml's search.engine)."""
    return with_search(copy_project(source, dest), engine="pagefind", **settings)


def leftovers(folder: Path) -> list[str]:
    """What a build left beside its output folder other than its cache and back buffer."""
    return sorted(p.name for p in folder.glob(".site.*") if p.name not in (".site.cache", ".site.back"))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def tree_diff(expected: dict[str, bytes], actual: dict[str, bytes], limit: int = 80) -> str:
    """A readable account of how two trees differ: missing, extra, and a unified diff per file."""
    lines = [f"missing: {name}" for name in sorted(expected.keys() - actual.keys())]
    lines += [f"unexpected: {name}" for name in sorted(actual.keys() - expected.keys())]
    for name in sorted(expected.keys() & actual.keys()):
        if expected[name] != actual[name]:
            lines += difflib.unified_diff(expected[name].decode(errors="replace").splitlines(),
                                          actual[name].decode(errors="replace").splitlines(),
                                          f"golden/{name}", f"built/{name}", lineterm="")
    return "\n".join(lines[:limit])
