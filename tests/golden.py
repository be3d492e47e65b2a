"""Regenerate tests/golden/mini/ from tests/fixtures/mini/: ``make golden``, then review the diff.

Run it only after an intended change to the output; test_golden.py fails until then and
shows the difference page by page.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.helpers import GOLDEN, MINI, cli


def build_mini(out: Path) -> None:
    run = cli("build", "--root", str(MINI), "--out", str(out))
    if run.code != 0:
        raise SystemExit(f"the mini fixture does not build:\n{run.err}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "site"
        build_mini(out)
        shutil.rmtree(GOLDEN, ignore_errors=True)
        # The search index is binary and Pagefind's own output: the determinism test covers it.
        shutil.copytree(out, GOLDEN, ignore=shutil.ignore_patterns("pagefind"))
    print(f"rewrote {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}; "
          "review it with `git diff tests/golden`", file=sys.stderr)


if __name__ == "__main__":
    main()
