"""The search index at a size where Pagefind's Python API used to stall the build."""

from __future__ import annotations

import fcntl
import html
import json
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from constat import search
from constat.model import Site
from constat.pipeline import Project, build
from tests.helpers import MINI, REPO, copy_project, pagefind_project, tree


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
        files = search.index_parts({"pagefind/": pages}, site, None)[0]["pagefind/"]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert sum(len(c) for c in files.values()) > 2 * 2**20, "big enough to have overflowed the old reader"
    assert "pagefind/pagefind-entry.json" in files
    assert sum(1 for name in files if name.startswith("pagefind/fragment/")) == 1500


def test_the_index_is_reused_when_the_indexed_pages_did_not_change(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = pagefind_project(MINI, tmp_path / "p")
    shutil.copytree(REPO / "templates", root / "templates")
    assert not build(Project.at(root)).failed
    runs = []
    real = search.index_parts
    monkeypatch.setattr(search, "index_parts", lambda parts, site, vocabulary, interrupt, out:
                        runs.append(sorted(parts)) or real(parts, site, vocabulary, interrupt, out=out))
    # A template change outside the indexed text: pages change, the index does not need to.
    base = root / "templates/base.html"
    base.write_text(base.read_text("utf-8").replace("</head>", "<!-- x --></head>"), "utf-8")
    assert not build(Project.at(root)).failed
    assert runs == []
    # A claim's text changes: the index must follow.
    claim = root / "claims/budget-regional/budget-hausse-12.yaml"
    claim.write_text(claim.read_text("utf-8").replace("summary: ", "summary: Revu, ", 1), "utf-8")
    assert not build(Project.at(root)).failed
    assert runs == [["pagefind/"]]


def test_the_preview_indexes_after_showing_the_pages(tmp_path: Path) -> None:
    root = pagefind_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    index_before = tree(root / "site" / "pagefind")
    claim = root / "claims/budget-regional/budget-hausse-12.yaml"
    claim.write_text(claim.read_text("utf-8").replace("summary: ", "summary: Revu, ", 1), "utf-8")
    first = build(Project.at(root), search_later=True)
    assert first.search_pending and not first.failed
    assert "Revu" in (root / "site/affirmations/budget-regional/budget-hausse-12/index.html").read_text("utf-8")
    assert tree(root / "site" / "pagefind") == index_before, "the old index stays until the next build"
    second = build(Project.at(root))  # what the preview runs once idle
    assert not second.search_pending
    clean = copy_project(root, tmp_path / "clean")
    assert not build(Project.at(clean)).failed
    assert tree(root / "site") == tree(clean / "site")
    third = build(Project.at(root))
    assert third.written is not None and third.written.written == 0


def test_an_interrupted_index_publishes_nothing_and_the_next_build_completes(tmp_path: Path) -> None:
    # The preview stops the search index it builds while idle when a save comes in: Pagefind is
    # stopped, site/ stays as it was, and the index is built by a later build.
    root = pagefind_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    claim = root / "claims/budget-regional/budget-hausse-12.yaml"
    claim.write_text(claim.read_text("utf-8").replace("summary: ", "summary: Revu, ", 1), "utf-8")
    assert build(Project.at(root), search_later=True).search_pending
    before = tree(root / "site")
    interrupt = threading.Event()
    interrupt.set()
    started = time.monotonic()
    with pytest.raises(search.Interrupted):
        build(Project.at(root), interrupt=interrupt)
    assert time.monotonic() - started < 5, "Pagefind was stopped, not waited for"
    assert tree(root / "site") == before
    assert not build(Project.at(root)).search_pending
    clean = copy_project(root, tmp_path / "clean")
    assert not build(Project.at(clean)).failed
    assert tree(root / "site") == tree(clean / "site")


def _three_pages(tmp_path: Path) -> tuple[Path, Site, dict[str, bytes]]:
    """An output folder, no site (read by Pagefind's command line only, which the tests replace)
    and three pages to index."""
    out = tmp_path / "site"
    out.mkdir()
    site: Site = None  # type: ignore[assignment]
    return out, site, {f"p{n}/index.html": b"<html><body><main data-pagefind-body><p>mot</p></main></body></html>"
                       for n in range(3)}


WAITED = 12.0
"""Seconds a removal of the scratch folder is held in the test below: what waiting for it would cost."""


@pytest.mark.parametrize("remover", ["process", "thread"])
def test_a_save_stops_the_index_without_waiting_for_its_scratch_folder_to_go(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remover: str) -> None:
    # At 10,000 claims removing the pages linked for two parts took 0.6 s, which the preview's
    # first look at the save waited for: the folder goes meanwhile, and the next build leaves it
    # alone (a stopped preview still takes it along: tests/test_serve.py). A process of its own
    # removes it: a thread doing it kept the preview's builder from forking its render workers.
    # A thread still does where that process cannot be started.
    out, site, pages = _three_pages(tmp_path)
    monkeypatch.setattr(search, "_command", lambda source, output, site: ["sleep", "30"])
    real_rmtree, removed_here, release = shutil.rmtree, [], threading.Event()

    def slow_rmtree(path: object, ignore_errors: bool = False) -> None:
        removed_here.append((str(path), threading.current_thread() is threading.main_thread()))
        release.wait(WAITED)  # held until the index has stopped: waiting for it would take WAITED
        real_rmtree(path, ignore_errors=ignore_errors)  # type: ignore[arg-type]

    monkeypatch.setattr(search.shutil, "rmtree", slow_rmtree)
    if remover == "thread":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    started = time.monotonic()

    class Saved:  # a save 0.5 s after the index started
        def is_set(self) -> bool:
            return time.monotonic() - started > 0.5

    with pytest.raises(search.Interrupted):
        search.index_parts({"pagefind/": pages}, site, None, Saved(), out=out)
    # Not a timing test: Pagefind (here a sleep of 30 s) is stopped, and a removal held for
    # WAITED is not waited for; a loaded machine may take its time for the rest.
    assert time.monotonic() - started < WAITED - 2, "stopped at once, the folder removed meanwhile"
    release.set()
    (scratch,) = tmp_path.glob(".site.cache/pagefind-*")
    search.remove_scratch(out)  # the build that follows: that folder is not its own to remove
    assert (str(scratch), True) not in removed_here
    deadline = time.monotonic() + 10
    while scratch.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not scratch.exists()
    if remover == "thread":
        assert removed_here == [(str(scratch), False)], "removed by a thread of this process"
    else:
        assert removed_here == [], "removed by another process"
    search.remove_scratch(out)
    assert not search._REMOVING and not search._REMOVERS, "forgotten once gone, the process reaped"


@pytest.mark.parametrize("caller", ["preview", "build.py"])
def test_a_built_index_leaves_its_scratch_folder_to_a_program_in_the_preview_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caller: str) -> None:
    # Removing the pages linked for a part took 0.45 s at 10,000 claims: the preview's builder
    # leaves it to a program of its own and is free for the next save. build.py removes them
    # before it returns: the cache's folder is at rest once it has (a CI job may save it).
    out, site, pages = _three_pages(tmp_path)
    monkeypatch.setattr(search, "_command", lambda source, output, site: ["mkdir", "-p", str(output / "fragment")])
    removed_here: list[str] = []
    real_rmtree = shutil.rmtree
    monkeypatch.setattr(search.shutil, "rmtree", lambda path, ignore_errors=False: (
        removed_here.append(str(path)), real_rmtree(path, ignore_errors=ignore_errors)))
    monkeypatch.setattr(search, "_REMOVERS", [])
    saves = threading.Event() if caller == "preview" else None  # the preview's, never set here
    built, hidden = search.index_parts({"pagefind/": pages}, site, None, saves, out=out)
    assert built == {"pagefind/": {}} and hidden == []
    if caller == "build.py":
        assert len(removed_here) == 1 and not list(tmp_path.glob(".site.cache/pagefind-*")), \
            "removed before index_parts returned"
        assert search._REMOVERS == []
        return
    assert removed_here == [], "the scratch folder was removed by the preview's builder"
    ((remover, (scratch,)),) = search._REMOVERS
    assert remover.wait(timeout=30) == 0 and not Path(scratch).exists(), "the program removed it"
    search.remove_scratch(out)
    assert not search._REMOVING and not search._REMOVERS, "forgotten once gone, the process reaped"


def test_the_next_build_leaves_a_scratch_folder_to_the_program_removing_it(tmp_path: Path) -> None:
    # The program a build started still removes its scratch folder when the next build starts
    # (another process: it knows nothing of it but the folder's lock).
    out = tmp_path / "site"
    out.mkdir()
    removing, left = tmp_path / ".site.cache/pagefind-removing", tmp_path / ".site.cache/pagefind-left"
    for folder in (removing, left):
        (folder / "pages/p").mkdir(parents=True)
    held = os.open(removing, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # as the program holds it, from another open file
        search.remove_scratch(out)
        assert removing.is_dir(), "removed from under the program removing it"
        assert not left.exists(), "a killed build's scratch folder is removed"
    finally:
        os.close(held)
    search.remove_scratch(out)
    assert not removing.exists(), "once nobody removes it, the next build does"


@pytest.mark.parametrize(("available", "at_once"), [(None, 2), (23 << 30, 2), (1 << 30, 1)])
def test_parts_are_indexed_two_at_a_time_only_where_memory_holds_two_pagefinds(
        monkeypatch: pytest.MonkeyPatch, available: int | None, at_once: int) -> None:
    # Pagefind takes some 165 KB a page: two parts of 4,000 pages at once (1.3 GB) beside the
    # build do not fit in a 2 GB machine, which then indexes one part at a time.
    monkeypatch.setattr(search, "available_memory", lambda: available)
    running, most = [0], [0]
    lock = threading.Lock()

    def index(pages: dict[str, bytes], site: Site, interrupt: object, out: Path | None = None) -> dict[str, bytes]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return {}

    monkeypatch.setattr(search, "_index", index)
    parts = {folder: {f"{folder}p{n}/index.html": b"" for n in range(4000)}
             for folder in ("pagefind/", "pagefind/1/", "pagefind/2/")}
    site: Site = None  # type: ignore[assignment]  # read by Pagefind's command line only
    search.index_parts(parts, site, None)
    assert most[0] == at_once


def test_the_memory_a_build_may_take_is_the_control_groups_when_it_has_less(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from constat import forking

    system = forking.available_memory()
    assert system is not None and system > 0, "Linux says how much memory is available"
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    monkeypatch.setattr(forking, "_CGROUP_MEMORY", [(str(limit), str(usage))])
    limit.write_text("max\n")
    usage.write_text(f"{600 << 20}\n")
    assert abs(forking.available_memory() - system) < 256 << 20, "no limit: the system's"  # type: ignore[operator]
    limit.write_text(f"{1 << 30}\n")
    assert forking.available_memory() == (1 << 30) - (600 << 20), "a container's limit of 1 GiB, 600 MiB used"


def test_an_index_in_parts_is_rebuilt_part_by_part_to_the_bytes_of_a_clean_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # At 10,000 claims the index comes in parts (constat/search.py); here in parts of 2 pages,
    # an article's with its claims'. An edit re-indexes the part of the pages it changes (a claim
    # and its article), unless it brings a word the site did not have (the vocabulary page is
    # in every part): then every part. Always the bytes of a build from scratch.
    # Parts of 2 pages: the mini site's 10 indexed pages in 5 parts, its two articles in two of them.
    monkeypatch.setattr(search, "PART_PAGES", 2)
    runs: list[list[str]] = []
    real = search.index_parts
    monkeypatch.setattr(search, "index_parts", lambda parts, site, vocabulary, interrupt, out:
                        runs.append(sorted(parts)) or real(parts, site, vocabulary, interrupt, out=out))
    root = pagefind_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    folders = json.loads((root / "site" / search.PARTS_FILE).read_text("utf-8"))["parts"]
    assert len(folders) == 2 and runs == [folders], "the mini site's two articles, each with its claims"

    def same_as_clean(step: str) -> None:
        clean = copy_project(root, tmp_path / f"clean-{step}")
        assert not build(Project.at(clean)).failed
        assert tree(root / "site") == tree(clean / "site"), step

    claim = root / "claims/budget-regional/budget-hausse-12.yaml"
    other = (root / "claims/budget-regional/deficit-moitie.yaml").read_text("utf-8")
    summary = re.search(r"^summary: (.*)$", other, re.MULTILINE)
    assert summary is not None
    text = claim.read_text("utf-8")
    claim.write_text(re.sub(r"^summary: .*$", f"summary: {summary[1]}", text, count=1, flags=re.MULTILINE), "utf-8")
    runs.clear()
    assert not build(Project.at(root)).failed
    assert len(runs) == 1 and len(runs[0]) == 1, f"words the site had: the part of the claim and its article {runs}"
    same_as_clean("known words")

    claim.write_text(claim.read_text("utf-8").replace("summary: ", "summary: Zygomorphe, ", 1), "utf-8")
    runs.clear()
    assert not build(Project.at(root)).failed
    assert runs == [folders], "a new word: every part"
    same_as_clean("a new word")

    claim.unlink()
    assert not build(Project.at(root)).failed
    same_as_clean("a claim deleted")


def test_the_size_of_the_parts_is_a_setting_of_site_yaml_checked_like_the_others(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    site = root / "site.yaml"
    site.write_text(site.read_text("utf-8") + "search:\n  engine: pagefind\n  part_pages: 0\n", "utf-8")
    report = build(Project.at(root))
    assert report.failed
    line = site.read_text("utf-8").split("\n").index("  part_pages: 0") + 1
    assert [p.format() for p in report.problems] == [
        f'site.yaml:{line}:15: error: "search.part_pages" must be between 1 and 1000000, not 0 [invalid-value]'
    ], "where and what, as for every setting"
    site.write_text(site.read_text("utf-8").replace("part_pages: 0", "part_pages: 4"), "utf-8")
    assert not build(Project.at(root)).failed
    index = json.loads((root / "site" / search.PARTS_FILE).read_text("utf-8"))
    pages = sum(1 for page in (root / "site").rglob("index.html") if search.is_indexed("x.html", page.read_bytes()))
    assert 1 < len(index["parts"]) <= -(-pages // 4)  # the mini site's two articles, each with its claims


@pytest.mark.parametrize("engine", ["pagefind", "constat"])
def test_a_site_with_nothing_to_index_builds_without_an_index(tmp_path: Path, engine: str) -> None:
    # Found by tests/test_incremental.py: every article deleted, and Pagefind's command refuses an
    # empty folder. Constat's own index is then one of no page, which answers nothing.
    root = copy_project(MINI, tmp_path / "p")
    with (root / "site.yaml").open("a", encoding="utf-8") as f:
        f.write(f"search:\n  engine: {engine}\n")
    shutil.rmtree(root / "claims")
    for article in (root / "content").glob("*.md"):
        article.unlink()
    report = build(Project.at(root))
    assert not report.failed, [p.format() for p in report.problems]
    assert (root / "site/index.html").is_file()
    assert not (root / "site/pagefind").exists()
    if engine == "constat":
        assert sorted(tree(root / "site/recherche/index")) == ["pages.json"]
        assert json.loads((root / "site/recherche/index/pages.json").read_text("utf-8"))["pages"] == []


@given(st.lists(st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                          st.sampled_from(["<em>", "</em>", "<p>", "</p>", "&amp;", "«", "»", " : ", "l’État", "_x_",
                                           "25%", "…", "\u00a0", "\n"])), max_size=40))
def test_page_words_are_every_word_once_without_the_punctuation_around_it(pieces: list[str]) -> None:
    # What the vocabulary page gives Pagefind: defined as below, computed faster.
    text = "".join(pieces)
    plain = html.unescape(re.sub(r"<[^>]*>", " ", search._INLINE.sub("", text)))
    words = (re.sub(r"^\W+|\W+$", "", w) for w in plain.lower().split())
    assert search.page_words(text.encode("utf-8")) == list(dict.fromkeys(w for w in words if w))
