"""Stage 5: publishing replaces the folder whole, keeps unchanged files, never writes outside it."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pickle
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constat import cache, pipeline, write
from constat.forking import Aside, can_fork
from constat.pipeline import TOOL_ROOT, Project, build
from constat.spool import UnsafePath
from constat.write import publish
from tests.helpers import MINI, copy_project, tree


def test_publish_creates_replaces_and_removes(tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = publish({"index.html": b"a", "old/index.html": b"gone soon", "static/s.css": b"x"}, out)
    assert (first.written, first.unchanged, first.removed) == (3, 0, 0)
    kept = (out / "static/s.css").stat()
    second = publish({"index.html": b"b", "static/s.css": b"x"}, out)
    assert (second.written, second.unchanged, second.removed) == (1, 1, 1)
    assert (out / "index.html").read_bytes() == b"b"
    assert not (out / "old").exists()
    assert (out / "static/s.css").stat().st_mtime_ns == kept.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.back", "site"], \
        "no staging or old folder is left; the back buffer stays for the next build"


@pytest.mark.parametrize("bad", ["../escape.html", "/etc/passwd", "a/../../b", "a\\..\\b", "", "a//b"])
def test_paths_outside_the_site_are_refused_and_nothing_is_written(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "site"
    publish({"index.html": b"before"}, out)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UnsafePath):
        publish({"index.html": b"after", bad: b"x"}, out)
    assert (out / "index.html").read_bytes() == b"before"
    assert sorted(tmp_path.rglob("*")) == before, "nothing written, in the site or its back buffer"
    assert (tmp_path / ".site.back/index.html").read_bytes() == b"before"


def _files(folder: Path) -> dict[int, bytes]:
    return {p.stat().st_ino: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_build_rewrites_only_the_back_buffers_own_files_never_one_the_site_serves(tmp_path: Path) -> None:
    # A page changed in two builds running: its file in the back buffer (the site before last)
    # is written over where it is; the files of the site being served are never written to.
    root = copy_project(MINI, tmp_path / "p")
    claim = root / "claims/budget-regional/emplois-300.yaml"
    page = "affirmations/budget-regional/emplois-300/index.html"
    for n in range(1, 4):
        claim.write_text(claim.read_text(encoding="utf-8").replace("Aucun décompte", f"Aucun décompte {n}"),
                         encoding="utf-8")
        served, back = _files(root / "site") if n > 1 else {}, _files(root / ".site.back") if n > 2 else {}
        assert not build(Project.at(root)).failed
        assert f"Aucun décompte {n}".encode() in (root / "site" / page).read_bytes()
        now = {**_files(root / ".site.back"), **_files(root / "site")}
        assert all(now[ino] == data for ino, data in served.items() if ino in now), "site/ was never written to"
    assert (root / "site" / page).stat().st_ino in back, "the back buffer's own file was written over, in place"
    assert tree(root / "site") == clean_build(root, tmp_path / "clean")


def clean_build(root: Path, out: Path) -> dict[str, bytes]:
    assert not build(Project.at(root, out), fresh=True).failed
    return tree(out)


def test_the_first_build_makes_the_back_buffer_that_the_first_edit_brings_up_to_date(tmp_path: Path) -> None:
    # Making the back buffer is mostly making folders (12,000 at 10,000 claims): the first build
    # does it, so that the first edit after it costs what the next ones do.
    root = copy_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    site, back = root / "site", root / ".site.back"
    assert tree(back) == tree(site)
    assert _files(back).keys() == _files(site).keys(), "hard links to the site's files, not copies"
    buffer = back.stat().st_ino
    claim = root / "claims/budget-regional/emplois-300.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace("Aucun décompte", "Aucun décompte 1"),
                     encoding="utf-8")
    assert not build(Project.at(root)).failed
    assert site.stat().st_ino == buffer, "the first edit updated that back buffer and swapped it in"
    assert tree(site) == clean_build(root, tmp_path / "clean")


def test_after_a_fresh_build_the_back_buffer_is_kept_where_it_shares_the_sites_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # build.py --fresh (or a new version of Constat) ignores the manifests. The back buffer's files
    # that are second names of the site's are still good: the next edit links only what is not
    # (12,000 files at 10,000 claims took 1.5 s), and removes whatever else is in there.
    root = copy_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    fresh = build(Project.at(root), fresh=True).written
    assert fresh is not None and fresh.written == 0
    back = root / ".site.back"
    (back / "static/style.css").unlink()
    (back / "static/style.css").write_bytes(b"body { color: red }")  # another file: not the site's
    (back / "perdu.html").write_bytes(b"<p>stray</p>")
    (back / "vide/plus-vide").mkdir(parents=True)
    (back / "lien.html").symlink_to(root / "site/index.html")
    linked: list[str] = []
    real = os.link
    monkeypatch.setattr(os, "link", lambda source, target: (linked.append(str(target)), real(source, target)))
    claim = root / "claims/budget-regional/emplois-300.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace("Aucun décompte", "Aucun décompte 1"),
                     encoding="utf-8")
    assert not build(Project.at(root)).failed
    assert [path.removesuffix(".constat-tmp") for path in linked if path.startswith(f"{back}/")] \
        == [f"{back}/static/style.css"], \
        "the back buffer was linked again; only the file that was not the site's should be"
    site = root / "site"
    assert tree(site) == clean_build(root, tmp_path / "clean")
    assert not any(p.name in ("perdu.html", "vide", "lien.html") for p in site.rglob("*"))
    state = cache.read_state(site)
    assert state.site is not None and state.site.check(site) == ([], True)


def _back_buffer_links(site: Path, back: Path) -> dict[str, int]:
    """Each file of the back buffer, by path, with its inode, once it is a second name of the site's file."""
    found = {p.relative_to(back).as_posix(): p.stat().st_ino for p in back.rglob("*") if p.is_file()}
    assert found == {p.relative_to(site).as_posix(): p.stat().st_ino for p in site.rglob("*") if p.is_file()}
    return found


def test_a_large_first_build_leaves_its_back_buffer_to_a_program_that_the_first_edit_waits_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Making the back buffer's folders took 0.4 to 1.6 s of a first build at 10,000 claims, the
    # build of every continuous integration job. constat/mirror.py makes it while the build
    # returns; the first edit waits for it, then keeps every link it made.
    root = copy_project(MINI, tmp_path / "p")
    site, back = root / "site", root / ".site.back"
    made_here: list[str] = []
    real_link = os.link
    monkeypatch.setattr(os, "link", lambda source, target: (made_here.append(str(target)), real_link(source, target)))
    _first_build_mirrored_aside(root, monkeypatch)
    assert [p for p in made_here if p.startswith(f"{back}/")] == [], "the back buffer was linked by this process"
    links, before = _back_buffer_links(site, back), tree(site)
    assert cache.read_state(site).back is None, "the state knows nothing of a back buffer made aside"
    # Its manifest comes from what the program recorded: the first edit does not walk it to find what it holds.
    monkeypatch.setattr(write, "_adopt", _not_walked)
    buffer = back.stat().st_ino
    _edit_a_claim(root, "1")
    assert not build(Project.at(root)).failed
    assert [p for p in made_here if p.startswith(f"{back}/")] == [], "the first edit linked the back buffer again"
    assert site.stat().st_ino == buffer, "the first edit brought that back buffer up to date and swapped it in"
    after = tree(site)
    assert after == clean_build(root, tmp_path / "clean")
    kept = {rel for rel in after if before.get(rel) == after[rel]}
    assert len(kept) < len(after), "the edit changed no page"
    assert {rel: p.stat().st_ino for rel in kept if (p := site / rel)} == {rel: links[rel] for rel in kept}, \
        "a page the edit did not change is not the file the program linked"


def _first_build_mirrored_aside(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write, "MIRROR_ASIDE_FROM", 1)
    monkeypatch.setattr(write, "_MIRRORS", [])
    assert not build(Project.at(root)).failed
    assert len(write._MIRRORS) == 1 and write._MIRRORS[0].wait(timeout=60) == 0, "the program failed"
    assert write.mirror_record(root / "site").is_file(), "the program recorded nothing"


def _edit_a_claim(root: Path, mark: str) -> None:
    claim = root / "claims/budget-regional/emplois-300.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace("Aucun décompte", f"Aucun décompte {mark}"),
                     encoding="utf-8")


def _not_walked(*args: object) -> dict[str, write.Entry]:
    raise AssertionError("the back buffer was walked to find what it holds")


def test_a_file_added_to_a_back_buffer_made_aside_is_not_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The program's record says which folders it made, with their times: a file added to one
    # of them since changes that folder's time, and the back buffer is not trusted whole.
    root = copy_project(MINI, tmp_path / "p")
    _first_build_mirrored_aside(root, monkeypatch)
    added = root / ".site.back/articles/added.html"
    added.parent.mkdir(exist_ok=True)
    added.write_text("not a page of this site")
    _edit_a_claim(root, "1")
    assert not build(Project.at(root)).failed
    assert tree(root / "site") == clean_build(root, tmp_path / "clean")


@pytest.mark.parametrize("record", ["other files", "another folder", "damaged"])
def test_a_back_buffer_record_that_does_not_match_is_not_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str) -> None:
    root = copy_project(MINI, tmp_path / "p")
    _first_build_mirrored_aside(root, monkeypatch)
    where = write.mirror_record(root / "site")
    if record == "damaged":
        where.write_bytes(where.read_bytes()[:-20])
    else:
        data = json.loads(where.read_text())
        data["files" if record == "other files" else "folder"] = "a site with a file more" if record == "other files" \
            else [1, 2]
        where.write_text(json.dumps(data))
    walked = []
    real = write._adopt
    monkeypatch.setattr(write, "_adopt", lambda *args: (walked.append(1), real(*args))[1])
    _edit_a_claim(root, "1")
    assert not build(Project.at(root)).failed
    assert walked, "a back buffer the record does not describe was trusted"
    assert tree(root / "site") == clean_build(root, tmp_path / "clean")


def test_after_a_template_edit_a_program_brings_the_back_buffer_up_to_the_site(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A template edit leaves a back buffer (the site it replaced) whose pages are all older than
    # the site's: a program replaces them by second names of the site's once the build returns,
    # so that the next build does not (a second of the claim edit after it, at 10,000 claims).
    monkeypatch.setattr(write, "CATCH_UP_AFTER_FROM", 1)
    monkeypatch.setattr(write, "_MIRRORS", [])
    root = copy_project(MINI, tmp_path / "p")
    shutil.copytree(TOOL_ROOT / "templates", root / "templates")
    site, back = root / "site", root / ".site.back"
    assert not build(Project.at(root)).failed
    _edit_a_claim(root, "1")
    assert not build(Project.at(root)).failed  # a back buffer with its manifest
    write._MIRRORS.clear()
    template = root / "templates/claim.html"
    template.write_text(template.read_text(encoding="utf-8").replace(
        "{% block main %}", "{% block main %}<!-- edited -->", 1), encoding="utf-8")
    assert not build(Project.at(root)).failed
    assert len(write._MIRRORS) == 1 and write._MIRRORS[0].wait(timeout=60) == 0, "the program failed"
    assert sorted(p.name for p in (root / ".site.cache").glob("mirror*")) == ["mirror.json"], \
        "the program's list of paths is removed once they are in its record"
    claim_pages = sorted(p.relative_to(site).as_posix() for p in site.glob("affirmations/*/*/index.html"))
    assert claim_pages and all((back / rel).stat().st_ino == (site / rel).stat().st_ino for rel in claim_pages), \
        "a page the template edit changed is not a second name of the site's in the back buffer"
    # The next build takes the back buffer's manifest from what the program recorded: nothing
    # left to catch up, nothing walked, and only the pages of the edit written.
    linked: list[str] = []
    real_link = write._link_over
    monkeypatch.setattr(write, "_link_over", lambda source, target: (linked.append(target), real_link(source, target)))
    monkeypatch.setattr(write, "_adopt", _not_walked)
    _edit_a_claim(root, "2")
    assert not build(Project.at(root)).failed
    assert len(linked) < len(claim_pages) / 2, "the next build caught the back buffer up again"
    assert tree(site) == clean_build(root, tmp_path / "clean")
    # The record described that back buffer: two swaps later the same folder is the back buffer
    # again, changed since, and must not be taken for what the record says (it would be walked).
    monkeypatch.setattr(pipeline, "catch_up_aside", lambda *args: None)
    for mark in ("3", "4", "5"):
        _edit_a_claim(root, mark)
        assert not build(Project.at(root)).failed
    assert tree(site) == clean_build(root, tmp_path / "clean2")


def test_publishing_waits_for_the_program_making_the_back_buffer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    out = tmp_path / "site"
    publish({"index.html": b"a", "a/index.html": b"b"}, out)
    back = tmp_path / ".site.back"
    held = os.open(back, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as constat/mirror.py holds it, from another open file
    touched = threading.Event()
    real = write._prepare_back
    monkeypatch.setattr(write, "_prepare_back", lambda *args, **kwargs: (touched.set(), real(*args, **kwargs))[1])
    publishing = threading.Thread(target=publish, args=({"index.html": b"c", "a/index.html": b"b"}, out))
    publishing.start()
    try:
        assert not touched.wait(0.5), "the back buffer was touched while a program was still making it"
    finally:
        os.close(held)  # the program is done
    publishing.join(timeout=60)
    assert touched.is_set() and (out / "index.html").read_bytes() == b"c"


def test_a_first_build_makes_its_back_buffer_itself_when_no_program_can_be_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EAGAIN, "no more processes")

    monkeypatch.setattr(write, "MIRROR_ASIDE_FROM", 1)
    monkeypatch.setattr(write, "start_holding", cannot)
    root = copy_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    site, back = root / "site", root / ".site.back"
    _back_buffer_links(site, back)
    state = cache.read_state(site)
    assert state.back is not None and state.back.check(back) == ([], True), "made here, with its manifest"


def _edit_template_then_claim(root: Path, claim_text: str) -> None:
    shutil.copytree(TOOL_ROOT / "templates", root / "templates")
    assert not build(Project.at(root)).failed
    page = root / "templates/claim.html"
    page.write_text(page.read_text(encoding="utf-8").replace("{% block main %}", "{% block main %}<!-- modifié -->", 1),
                    encoding="utf-8")
    assert not build(Project.at(root)).failed  # every claim page changes
    claim = root / "claims/budget-regional/emplois-300.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace("Aucun décompte", claim_text), encoding="utf-8")


@pytest.mark.skipif(not can_fork(), reason="one core, or threads running: nothing is forked")
def test_the_claim_edit_after_a_template_edit_finds_the_back_buffer_caught_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # After a template edit the back buffer (the site before it) holds an older version of every
    # claim page. The next claim edit brings it up to the site in the forked process that checks
    # it, while it loads its inputs: publishing links or writes only the pages that changed.
    monkeypatch.setattr(write, "CATCH_UP_FROM", 1)  # a template edit's worth, in this small project
    root = copy_project(MINI, tmp_path / "p")
    _edit_template_then_claim(root, "Aucun décompte 1")
    linked: list[str] = []
    real = write._link_over
    monkeypatch.setattr(write, "_link_over", lambda source, target: (linked.append(target), real(source, target)))
    assert not build(Project.at(root)).failed
    assert linked == [], "the claim pages the template changed were caught up aside, not here"
    served, back = root / "site", root / ".site.back"
    assert tree(served) == clean_build(root, tmp_path / "clean")
    state = cache.read_state(served)
    assert state.back is not None and state.back.check(back) == ([], True), "the back buffer is as recorded"
    assert state.site is not None and state.site.check(served) == ([], True)


@pytest.mark.skipif(not can_fork(), reason="one core, or threads running: nothing is forked")
def test_a_build_that_stops_on_an_error_records_the_back_buffer_it_caught_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The forked process caught the back buffer up while the build found an error in a claim: the
    # next build must find it as recorded, not make it again (12,000 folders at 10,000 claims).
    monkeypatch.setattr(write, "CATCH_UP_FROM", 1)
    root = copy_project(MINI, tmp_path / "p")
    _edit_template_then_claim(root, "Aucun décompte\n  mauvaise: [indentation")
    assert build(Project.at(root)).failed
    state = cache.read_state(root / "site")
    assert state.back is not None and state.back.check(root / ".site.back") == ([], True)


@pytest.mark.skipif(not can_fork(), reason="one core, or threads running: nothing is forked")
def test_a_back_buffer_caught_up_halfway_on_a_full_disk_is_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An edit undone: the back buffer holds the pages as they were, which the build wants again.
    # The disk fills while they are caught up to the site's: what the catch-up left (a link made
    # aside, named by no manifest) must never reach site/, and no page must be kept as it was.
    root = copy_project(MINI, tmp_path / "p")
    claim = root / "claims/budget-regional/emplois-300.yaml"
    original = claim.read_text(encoding="utf-8")
    assert not build(Project.at(root)).failed
    claim.write_text(original.replace("Aucun décompte", "Aucun décompte 2"), encoding="utf-8")
    assert not build(Project.at(root)).failed

    def link_then_full(source: str, target: str) -> None:
        os.link(source, target + ".constat-tmp")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(write, "CATCH_UP_FROM", 1)
    monkeypatch.setattr(write, "_link_over", link_then_full)  # in the forked process too
    claim.write_text(original, encoding="utf-8")
    assert not build(Project.at(root)).failed
    monkeypatch.undo()
    assert tree(root / "site") == clean_build(root, tmp_path / "clean")


@pytest.mark.skipif(not can_fork(), reason="one core, or threads running: nothing is forked")
def test_work_set_aside_is_done_in_a_forked_process() -> None:
    # While a build loads its inputs, a forked process checks site/ and the back buffer against
    # their manifests (write.Checked); its answer comes back whole.
    parent = os.getpid()
    aside = Aside(lambda: (os.getpid(), [f"page-{n}" for n in range(20_000)]))
    pid, pages = aside.result()
    assert pid != parent and pages == [f"page-{n}" for n in range(20_000)], "more than a pipe's buffer"


def test_work_set_aside_is_done_here_when_the_forked_process_fails() -> None:
    parent = os.getpid()

    def work() -> int:
        if os.getpid() != parent:
            raise OSError("the child fails")
        return parent

    assert Aside(work).result() == parent


@pytest.mark.skipif(not can_fork(), reason="one core, or threads running: nothing is forked")
def test_work_set_aside_holds_the_build_lock_until_done_never_while_its_answer_waits(tmp_path: Path) -> None:
    # The build lock is the open file's: a forked process shares it. It must be held while the
    # work runs (it may write the back buffer), and let go of after, even if the answer, larger
    # than a pipe holds, is never read: else the next build would wait for ever.
    lock = tmp_path / "lock"
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        aside = Aside(lambda: (time.sleep(0.5), b"x" * (1 << 20))[1])
    waited = time.monotonic()
    with open(lock, "a+b") as other:
        while True:  # the work takes 0.5 s; the answer is never read
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() - waited < 10, "the lock is still held, by a process waiting to answer"
                time.sleep(0.05)
        assert time.monotonic() - waited > 0.2, "the lock was let go before the work was done"
    aside.close()


@settings(max_examples=60, deadline=None)
@given(files=st.dictionaries(st.text(min_size=1, max_size=20),
                             st.tuples(st.text(max_size=32), st.integers(0, 2**40), st.integers(0, 2**63),
                                       st.integers(0, 2**40)), max_size=30),
       dirs=st.dictionaries(st.text(max_size=20), st.integers(-1, 2**63), max_size=10))
def test_a_manifest_comes_back_from_the_cache_as_it_was_recorded(files: dict[str, tuple[str, int, int, int]],
                                                                 dirs: dict[str, int]) -> None:
    # The state holds two manifests of 24,000 files at 10,000 claims, read and written by every
    # build: pickled as columns (write.Manifest.__reduce__), each must come back the same, in the
    # same order, its entries still Entry (the checks read entry.sha, .size, .mtime_ns, .ino).
    manifest = write.Manifest({rel: write.Entry(*entry) for rel, entry in files.items()}, dirs)
    again = pickle.loads(pickle.dumps(manifest, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == manifest and list(again.files) == list(manifest.files) and list(again.dirs) == list(dirs)
    assert all(isinstance(entry, write.Entry) for entry in again.files.values())
