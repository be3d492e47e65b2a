"""Regenerate tests/golden/mini/ from tests/fixtures/mini/: ``make golden``, then review the diff.

Run it only after an intended change to the output; test_golden.py fails until then and
shows the difference page by page.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.helpers import GOLDEN, MINI, cli


def build_mini(out: Path) -> None:
    run = cli("build", "--root", str(MINI), "--out", str(out))
    if run.code != 0:
        raise SystemExit(f"the mini fixture does not build:\n{run.err}")


def _search_indexes(out: Path) -> Callable[[str, list[str]], list[str]]:
    def ignored(folder: str, names: list[str]) -> list[str]:
        where = Path(folder).relative_to(out).as_posix()
        return [name for name in names if (where, name) in {(".", "pagefind"), ("recherche", "index")}]

    return ignored


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "site"
        build_mini(out)
        shutil.rmtree(GOLDEN, ignore_errors=True)
        # The search indexes are left out: Pagefind's is binary and its own output (the determinism
        # test covers it), Constat's has tests of its own (tests/test_lexicon.py).
        shutil.copytree(out, GOLDEN, ignore=_search_indexes(out))
    print(f"rewrote {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}; "
          "review it with `git diff tests/golden`", file=sys.stderr)


if __name__ == "__main__":
    main()
