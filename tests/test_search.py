"""The search index at a size where Pagefind's Python API used to stall the build."""

from __future__ import annotations

import random
import signal
from types import FrameType

from constat.model import Site
from constat.search import index_search


def test_a_large_index_is_built_without_waiting_forever() -> None:
    # From about a thousand claim pages, the whole index in one get_files reply overflowed the
    # API's 2 MiB reader and the build waited forever (found by bench/run.py at 100 × 10).
    words = [f"mot{n}" for n in range(30_000)]
    rng = random.Random(7)
    pages = {f"affirmations/a/c{n}/index.html": (
        "<html lang='fr'><body><main data-pagefind-body><h1>Page " + str(n) + "</h1><p>"
        + " ".join(rng.choice(words) for _ in range(400)) + "</p></main></body></html>").encode()
        for n in range(1500)}
    site = Site("t", "d", "https://x.example/", "/", "fr", "p", "https://x.example/", None, None, None, None, None)

    def stalled(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("the search index did not come back within 120 s")

    previous = signal.signal(signal.SIGALRM, stalled)
    signal.alarm(120)
    try:
        files = index_search(pages, site)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert sum(len(c) for c in files.values()) > 2 * 2**20, "big enough to have overflowed the old reader"
    assert "pagefind/pagefind-entry.json" in files
    assert sum(1 for name in files if name.startswith("pagefind/fragment/")) == 1500
