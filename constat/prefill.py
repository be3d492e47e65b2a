"""Warm the memo on every core before a build that finds it cold.

Most of a cold build is work done file by file: parsing the YAML, checking each file alone
(the schema, the Markdown safety checks), converting its Markdown. Forked workers each do that
for a share of the files and send back only the memo entries they made (constat/memo.py); the
stages then run as always and find the work done. Nothing else changes: the same functions
compute the same entries, which are keyed by content, so the result cannot differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from constat.forking import MOST_JOBS, can_fork, cores, shared
from constat.load import ClaimFile, load_article, load_yaml_file
from constat.markup import folded_article_text, forget_checked, inline_markdown, markdown_to_html, verdict_key
from constat.memo import TABLES, Memo, current, text_key
from constat.problems import Problem
from constat.validate import check_alone

PREFILL_FROM = 400
"""Input files from which a cold build shares the per-file work between processes."""

_JOB: tuple[Path, list[str], Path | None, bool] | None = None
"""The project, the files to prepare, where to spill the converted Markdown and whether to
convert it: set just before the fork, inherited by the workers."""


def prefill(root: Path, files: list[str], memo: Memo, spill: Path | None = None, *, convert: bool = True) -> int:
    """Prepare ``files`` (absolute paths of claims and articles) on every core; return how many were new.

    ``spill``: the output folder of a build whose process ends with it (pipeline.build's ``lean``).
    Each process then writes the Markdown it converts into a part of the cache's table
    (cache.write_part), and this one gathers the parts into the table and reads the values from
    it from then on: held here, they were 50 MiB of the peak at 10,000 claims.

    ``convert=False`` (``build.py check``, which renders nothing and saves no cache): the files are
    parsed and checked, verdicts are not converted, and the HTML of articles (converted for the
    text quotes are looked for in) is not sent back: at 10,000 claims the converted Markdown was
    50 MiB of the check's peak, held to be thrown away."""
    global _JOB
    fresh = [f for f in files if f.endswith((".yaml", ".yml", ".md"))]
    if len(fresh) < PREFILL_FROM or not can_fork():
        return 0
    _JOB = (root, fresh, spill, convert)
    shares = min(cores() * 16, MOST_JOBS)  # small jobs (0.4 s at 10,000 claims): see render's chunks
    for table in TABLES:  # the saved tables read once, here, rather than in every worker
        memo.previous[table]
    try:
        made = shared(_prepare_share, [(n, shares) for n in range(shares)])
    finally:
        _JOB = None
    for tables in made:
        for table, entries in tables.items():
            memo.add(table, entries)
    if spill is not None:
        from constat.cache import gather_parts

        gather_parts(spill, "html", shares, memo)
    return len(fresh)


def _prepare_share(share: tuple[int, int]) -> dict[str, dict[Any, Any]]:
    assert _JOB is not None
    root, files, spill, convert = _JOB
    memo = current()
    before = {t: set(memo.used[t]) | set(memo.previous[t]) for t in TABLES}
    n, shares = share
    for path in files[n::shares]:
        _prepare(root, Path(path), convert)
        if not convert:
            forget_checked()  # the checks' own conversions, which the pages would have reused
    made = {t: {k: v for k, v in memo.used[t].items() if k not in before[t]} for t in TABLES}
    for table, entries in made.items():  # handed over (memo.add): not kept twice, nor to the end in a worker
        for key in entries:
            del memo.used[table][key]
            memo.journal[table].pop(key, None)
    if not convert:  # articles' HTML, made for their folded text only: not kept
        del made["html"]
    elif spill is not None:
        from constat.cache import write_part

        write_part(spill, "html", n, made.pop("html"))
    return made


def _prepare(root: Path, path: Path, convert: bool) -> None:
    """What the stages will ask of one file: parsed, checked alone, its Markdown converted
    (unless not ``convert``: only what a check needs)."""
    problems: list[Problem] = []
    if path.suffix == ".md":
        article = load_article(root, path, problems)
        if article is not None and not check_alone(article):
            if convert:
                markdown_to_html(article.body, text_key(article.body))
            folded_article_text(article.body)
        return
    is_claim = path.parent.parent.name == "claims"
    doc = load_yaml_file(root, path, problems, "yaml" if is_claim else "front")  # (as load_project reads it)
    if doc is None or not is_claim:
        return
    claim = ClaimFile(path.parent.name, path.stem, doc.path, doc)
    if check_alone(claim) or not isinstance(doc.data, dict) or not convert:
        return  # a file with problems stops the build: nothing more to prepare
    data = doc.data
    if isinstance(data.get("verdict"), str):
        markdown_to_html(data["verdict"], verdict_key(doc.sha))
    if isinstance(data.get("context"), str):
        inline_markdown(data["context"])
    for fix in data.get("corrections") or []:
        if isinstance(fix, dict) and isinstance(fix.get("text"), str):
            inline_markdown(fix["text"])

