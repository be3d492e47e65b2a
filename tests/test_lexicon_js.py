"""The reader of Constat's own search index (templates/static/lexicon.js), tested in Node.

tests/browser/lexicon.test.mjs serves it a small index written by hand after
docs/search-index.md through a fake fetch; it needs Node only (node:test), no npm package.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import REPO

SCRIPT = "tests/browser/lexicon.test.mjs"


def test_the_index_reader_passes_its_node_tests() -> None:
    node = shutil.which("node")
    if node is None:  # as the browser checks (tests/test_quality.py): `make test` installs it
        pytest.fail(f"`node` is not on PATH: {SCRIPT} cannot run; run `bash scripts/install-browser-tools.sh`",
                    pytrace=False)
    done = subprocess.run([node, SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"node {SCRIPT} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
