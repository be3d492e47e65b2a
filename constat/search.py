"""The full-text search index, built by Pagefind from the rendered pages, in memory."""

from __future__ import annotations

import asyncio
import re
import tempfile

from pagefind.index import IndexConfig, PagefindIndex

from constat.model import Site

_LEFT_OUT = re.compile(r"pagefind-(component-ui|modular-ui|ui|highlight)\.(js|css)$")
"""Pagefind's ready-made interfaces: the search page has its own script and the site one stylesheet."""


def index_search(files: dict[str, bytes], site: Site) -> dict[str, bytes]:
    """Pagefind's files, under ``pagefind/``, for the pages that mark their text with data-pagefind-body."""
    return asyncio.run(_index(files, site))


async def _index(files: dict[str, bytes], site: Site) -> dict[str, bytes]:
    # Leaving the context writes the index to disk as well; it goes to a throwaway folder,
    # since the files are taken in memory and published with the rest of the site.
    with tempfile.TemporaryDirectory(prefix="constat-pagefind-") as scratch:
        config = IndexConfig(force_language=site.language, write_playground=False, verbose=False,
                             output_path=scratch)
        async with PagefindIndex(config=config) as index:
            for path in sorted(files):
                if path.endswith(".html") and b"data-pagefind-body" in files[path]:
                    url = site.base_path + path.removesuffix("index.html")
                    await index.add_html_file(content=files[path].decode("utf-8"), url=url)
            produced = await index.get_files()
    return {f"pagefind/{f['path']}": bytes(f["content"]) for f in produced if not _LEFT_OUT.search(f["path"])}
