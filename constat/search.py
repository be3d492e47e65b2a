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


def index_search(files: dict[str, bytes], site: Site) -> dict[str, bytes]:
    """Pagefind's files, under ``pagefind/``, for the pages that mark their text with data-pagefind-body.

    Result URLs are relative to the site's root; the search page gives Pagefind the base path.
    """
    return asyncio.run(_index({p: c for p, c in files.items() if p.endswith(".html")
                               and b"data-pagefind-body" in c}, site))


async def _index(pages: dict[str, bytes], site: Site) -> dict[str, bytes]:
    # The pages go through a scratch folder in one add_directory call: the Python API waits
    # about 0.1 s per reply, so adding them one by one would cost a tenth of a second a page.
    # Leaving the context also writes the index to disk: into the same scratch folder.
    with tempfile.TemporaryDirectory(prefix="constat-pagefind-") as scratch:
        source = Path(scratch) / "pages"
        for path, content in pages.items():
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        config = IndexConfig(force_language=site.language, write_playground=False, verbose=False,
                             output_path=str(Path(scratch) / "index"))
        async with PagefindIndex(config=config) as index:
            await index.add_directory(str(source))
            produced = await index.get_files()
    return {f"pagefind/{f['path']}": bytes(f["content"]) for f in produced if not _LEFT_OUT.search(f["path"])}
