"""Run build.py with Pagefind's reader limit raised (or with search left out), for the benchmark only.

Usage: python bench/shim.py [--no-search] [--pagefind-limit BYTES] BUILD.PY-ARGUMENTS...

Why it exists: before commit 3d24b28, Constat took the index back from the Pagefind Python API's
get_files, one base64 reply read through an asyncio stream limited to 2 MiB (``limit=2**21`` in
pagefind/service/__init__.py). From about 21 articles × 10 claims (some 330 pages) on, that reply
overflowed: ``readuntil`` raised inside the API's polling task, nobody awaited that task, and the
build waited forever. bench/run.py falls back on this shim when the stock build.py hangs (a process
tree that stops using CPU): it raises that limit and changes nothing else. ``--no-search`` replaces
the indexing step by nothing, so that its cost shows as the difference between two whole-process
builds (today's build prints no phase timings).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(os.environ.get("CONSTAT_CODE") or Path(__file__).resolve().parent.parent)
"""The Constat to run: bench/run.py points CONSTAT_CODE at its snapshot of the checkout."""
DEFAULT_LIMIT = 2**30


def _raise_stream_limit(limit: int) -> None:
    import asyncio  # here: 34 ms of imports that build.py without the Python API never pays

    original = asyncio.create_subprocess_exec

    async def create_subprocess_exec(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        if "limit" in kwargs:  # only the Pagefind service passes one in this process
            kwargs["limit"] = max(int(kwargs["limit"]), limit)
        return await original(*args, **kwargs)

    asyncio.create_subprocess_exec = create_subprocess_exec


def _leave_out_search() -> None:
    """No page is one the search covers, so the build does none of the search's work: no
    Pagefind, and no page's indexed part read, hashed or cut into words for the vocabulary of an
    index in parts (4-5 s of the render's CPU at 1,000 × 10, which the rows without search
    counted until stop 33). The pages are the same; the site has no index and no parts.json."""
    import constat.search

    def index_parts(parts: Any, site: Any, vocabulary: Any, interrupt: Any = None,
                    out: Any = None) -> tuple[dict[str, Any], list[str]]:
        return {}, []

    def is_indexed(path: str, content: bytes) -> bool:
        return False

    # pipeline imports index_parts from constat.search when the build runs, and a module imported
    # later is_indexed: they get these. The modules imported already (spool, with constat) too.
    constat.search.index_parts = index_parts
    constat.search.is_indexed = is_indexed
    for name in ("constat.spool", "constat.render"):
        if name in sys.modules:
            sys.modules[name].is_indexed = is_indexed  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    limit = DEFAULT_LIMIT
    args = list(argv)
    no_search = False
    while args and args[0] in ("--no-search", "--pagefind-limit"):
        flag = args.pop(0)
        if flag == "--no-search":
            no_search = True
        else:
            limit = int(args.pop(0))
    sys.path.insert(0, str(REPO))
    if no_search:
        _leave_out_search()  # then no Pagefind at all: its API's reader limit does not matter
    else:
        _raise_stream_limit(limit)
    from constat.cli import main as cli_main

    return cli_main(args, default_root=REPO, ends_process=True)  # as build.py: it leaves with os._exit


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # As build.py ends: without tearing down the build's objects one by one (0.15 s at 10,000
    # claims), so that the rows without search time what build.py does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
