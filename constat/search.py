"""The full-text search index, built by Pagefind from the rendered pages, in memory."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from pagefind.index import IndexConfig, PagefindIndex

from constat.model import Site

_LEFT_OUT = re.compile(r"pagefind-(component-ui|modular-ui|ui|highlight)\.(js|css)$")
"""Pagefind's ready-made interfaces: the search page has its own script and the site one stylesheet."""


def is_indexed(path: str, content: bytes) -> bool:
    """Whether a file is a page the search covers: one that marks its text with data-pagefind-body."""
    return path.endswith(".html") and b"data-pagefind-body" in content


def indexed_part(content: bytes) -> bytes:
    """What of a page Pagefind reads: from the data-pagefind-body element to the end, plus any other
    data-pagefind attribute. When it is unchanged on every page, so is the index (no need to run it)."""
    start = content.find(b"data-pagefind-body")
    before = content[:start]
    return b" ".join([*re.findall(rb"data-pagefind-[a-z-]+(?:=\"[^\"]*\")?", before), content[start:]])


def index_search(files: dict[str, bytes], site: Site) -> dict[str, bytes]:
    """Pagefind's files, under ``pagefind/``, for the pages that mark their text with data-pagefind-body.

    Result URLs are relative to the site's root; the search page gives Pagefind the base path.
    """
    return asyncio.run(_index({p: c for p, c in files.items() if is_indexed(p, c)}, site))


async def _index(pages: dict[str, bytes], site: Site) -> dict[str, bytes]:
    # The pages go through a scratch folder in one add_directory call, and the index comes back
    # the same way: the Python API waits about 0.1 s per reply, and its get_files reply, one
    # message holding the whole index, overflows the API's 2 MiB reader limit from about a
    # thousand pages on (the build then waits forever).
    with tempfile.TemporaryDirectory(prefix="constat-pagefind-") as scratch:
        source, output = Path(scratch) / "pages", Path(scratch) / "index"
        for path, content in pages.items():
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        config = IndexConfig(force_language=site.language, write_playground=False, verbose=False,
                             output_path=str(output))
        async with PagefindIndex(config=config) as index:
            await index.add_directory(str(source))
        # Leaving the context wrote the index to ``output``.
        return {f"pagefind/{p.relative_to(output).as_posix()}": p.read_bytes()
                for p in sorted(output.rglob("*")) if p.is_file() and not _LEFT_OUT.search(p.name)}
