"""The whole build on the mini fixture: golden pages, determinism, publishing without loss."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from constat import forking, pipeline, prefill, render
from constat.cache import read_memo, read_state
from constat.memo import TABLES
from constat.pipeline import Project, build
from constat.search import indexed_part, is_indexed, page_words
from constat.spool import Spool
from tests.helpers import GOLDEN, MINI, REPO, build_py, cli, copy_project, leftovers, pagefind_project, tree, tree_diff


def test_the_mini_site_matches_its_golden_pages(tmp_path: Path) -> None:
    """If this fails after an intended change, run `make golden` and review `git diff tests/golden`."""
    out = tmp_path / "site"
    assert cli("build", "--root", str(MINI), "--out", str(out)).code == 0
    built = {name: data for name, data in tree(out).items() if not name.startswith(SEARCH_INDEXES)}
    golden = tree(GOLDEN)
    assert built == golden, tree_diff(golden, built)


SEARCH_INDEXES = ("pagefind/", "recherche/index/")
"""Left out of the golden pages: tests/test_lexicon.py and tests/test_search.py check the indexes."""


def test_the_search_index_covers_claim_and_article_pages_only(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert cli("build", "--root", str(MINI), "--out", str(out)).code == 0
    pages = json.loads((out / "recherche/index/pages.json").read_text())["pages"]
    urls = sorted(json.loads((out / f"recherche/index/f/{key}.json").read_text())["url"] for key in pages)
    assert [url.split("/")[0] for url in urls] == ["affirmations"] * 8 + ["articles"] * 2, (
        f"8 claims and 2 articles are indexed: {urls}")
    assert not (out / "pagefind").exists(), "Constat's own index by default (site.yaml's search.engine)"
    root = pagefind_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    entry = json.loads((root / "site/pagefind/pagefind-entry.json").read_text())
    assert entry["languages"]["fr"]["page_count"] == 8 + 2, "8 claims and 2 articles are indexed"
    assert (root / "site/pagefind/pagefind.js").is_file()
    assert not list((root / "site").glob("pagefind/pagefind-ui.*")), "the ready-made UI is not shipped"
    assert not (root / "site/recherche/index").exists()


def test_same_input_builds_a_byte_identical_site(tmp_path: Path) -> None:
    # Two copies of the project in different folders, built by two processes.
    first = copy_project(MINI, tmp_path / "a")
    second = copy_project(MINI, tmp_path / "b" / "deeper")
    assert build_py("--root", str(first)).code == 0
    assert build_py("--root", str(second)).code == 0
    one, two = tree(first / "site"), tree(second / "site")
    assert one == two, tree_diff(one, two)
    assert len(one) > 30


def test_a_build_pauses_the_cycle_collector_and_gives_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Paused while a build runs (it went through the build's millions of objects again and
    # again); the preview server, which builds again and again in one process, collects between builds.
    import gc
    root = copy_project(MINI, tmp_path / "p")
    seen: list[bool] = []
    real = pipeline.quick_inputs
    monkeypatch.setattr(pipeline, "quick_inputs", lambda *a: seen.append(gc.isenabled()) or real(*a))
    assert gc.isenabled()
    assert not build(Project.at(root)).failed
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(pipeline, "quick_inputs", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build(Project.at(root))
    assert gc.isenabled(), "given back when a build fails too"


def test_build_py_does_not_give_the_cycle_collector_back_to_a_process_that_ends(tmp_path: Path) -> None:
    # Given back, the collector ran at once over every object the build had made (0.1 s of a
    # claim edit at 10,000 claims) in a process that leaves right after. build.py's commands
    # leave it off; the preview server, which goes on, and callers of cli.main keep it.
    import gc

    from constat.cli import main

    root = copy_project(MINI, tmp_path / "p")
    try:
        assert main(["build", "--root", str(root)], ends_process=False) == 0
        assert gc.isenabled()
        assert main(["check", "--root", str(root)], ends_process=True) == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
    # build.py itself: once the build is over (its report printed), the collector is still off.
    ran = subprocess.run([sys.executable, "-c", "import gc, runpy, sys; import constat.cli as cli;"
                          "real = cli._print_report;"
                          "cli._print_report = lambda *a: print('collector on:', gc.isenabled()) or real(*a);"
                          "sys.argv = ['build.py', *sys.argv[1:]];"
                          f"runpy.run_path({str(REPO / 'build.py')!r}, run_name='__main__')",
                          "--root", str(root)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert ran.returncode == 0, ran.stderr
    assert "collector on: False" in ran.stdout, ran.stdout


def test_a_second_build_rewrites_nothing(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    inodes = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (root / "site").rglob("*") if p.is_file()}
    run = cli("build", "--root", str(root))
    assert run.code == 0
    assert "0 file(s) written" in run.out
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (root / "site").rglob("*") if p.is_file()} == inodes



def test_a_build_with_nothing_to_do_loads_no_parser_converter_or_template_engine(tmp_path: Path) -> None:
    # build.py runs after every save and in every deploy: when nothing changed it answers from
    # its state, and its start is most of its time. PyYAML, Python-Markdown, nh3, Jinja2 and
    # multiprocessing were 40 ms of it (160 ms against 117 on the mini project): they are
    # imported by the stages that use them, never to find there is nothing to do.
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    script = ("import sys; from pathlib import Path; from constat.pipeline import Project, build;"
              f"report = build(Project.at(Path({str(root)!r})));"
              "print(report.written.written, sorted(m for m in ('yaml', 'markdown', 'nh3', 'jinja2', "
              "'multiprocessing', 'constat.model', 'constat.render') if m in sys.modules))")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split(" ", 1) == ["0", "[]\n"], ran.stdout

def test_an_edit_rewrites_what_changed_and_removes_what_is_gone(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    (root / "claims/budget-regional/emplois-300.yaml").unlink()
    run = cli("build", "--root", str(root))
    assert run.code == 0
    assert not (root / "site/affirmations/budget-regional/emplois-300").exists()
    assert not (root / "site/themes/emploi").exists(), "a tag with no claim left has no page"
    assert " 0 removed" not in run.out


def test_pages_rendered_on_every_core_are_the_golden_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Large builds share the pages between forked workers: the bytes must not depend on it.
    monkeypatch.setattr(render, "PARALLEL_FROM", 1)
    monkeypatch.setattr(prefill, "PREFILL_FROM", 1)
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this machine has one core: the parallel path cannot be tested here")
    forks = []
    real = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: forks.append(method) or real(method))
    out = tmp_path / "site"
    assert cli("build", "--root", str(MINI), "--out", str(out)).code == 0
    assert forks == ["fork", "fork"], "the files were prepared, then the pages rendered, by forked workers"
    built = {name: data for name, data in tree(out).items() if not name.startswith(SEARCH_INDEXES)}
    golden = tree(GOLDEN)
    assert built == golden, tree_diff(golden, built)


def _job(seconds: float) -> tuple[int, float]:
    time.sleep(seconds)
    return os.getpid(), seconds


def test_a_process_done_with_its_jobs_takes_more_rather_than_wait() -> None:
    # The pages and files are shared between this process and forked workers in jobs: a process
    # takes the next job left whenever it is done with one. Handed every other job in advance, the
    # process that got a slow one went on to its other jobs while another core sat idle (up to
    # 1.3 s of a clean build's rendering at 10,000 claims). Results come in the jobs' order.
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this machine has one core: the jobs cannot be shared here")
    jobs = [1.5, *[0.01] * 19]
    done = forking.shared(_job, jobs)
    assert [seconds for _, seconds in done] == jobs, "each job done once, in order"
    slow = done[0][0]
    assert len({pid for pid, _ in done}) >= 2, "shared by this process and its workers"
    assert [pid for pid, _ in done].count(slow) <= 2, "the other process took the fast jobs meanwhile"


@pytest.mark.parametrize("command", ["build", "check"])
def test_files_prepared_by_forked_workers_are_not_parsed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    # Without a cache, forked workers parse the files first (prefill); the stages then find each
    # file's data by its hash and parse none of them again. (In b9a4465 `check` parsed every
    # claim a second time: 8.6 s and 359 MB at 10,000 claims, against 7 s and 227 MB.)
    from constat import load
    monkeypatch.setattr(prefill, "PREFILL_FROM", 1)
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this machine has one core: the parallel path cannot be tested here")
    parsed: list[str] = []  # after the workers, by this process (which took its own share of them)
    prepared: list[int] = []
    real_prefill, real_parse = prefill.prefill, load._parse
    monkeypatch.setattr(prefill, "prefill", lambda *a, **k: prepared.append(real_prefill(*a, **k)) or prepared[-1])
    monkeypatch.setattr(load, "_parse", lambda text, path, *rest: (prepared and parsed.append(path))
                        or real_parse(text, path, *rest))
    root = copy_project(MINI, tmp_path / "p")
    assert cli(command, "--root", str(root)).code == 0
    assert prepared and prepared[0] > 8, "the files were prepared by the workers"
    assert parsed == [], "parsed again after the workers: " + ", ".join(parsed)


@pytest.mark.parametrize("lean", [False, True])
def test_work_shared_between_processes_is_all_handed_back_and_kept_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: bool) -> None:
    # The cache a build saves holds everything it worked out, whichever process worked it out:
    # the files prepared and the pages rendered partly by this process, partly by a forked
    # worker. The pages' words (for the vocabulary of a search in parts) are counted by each
    # process for its pages and kept nowhere: the count is the one of the published pages.
    # build.py's builds (lean) have the workers write what they made into parts of the cache's
    # tables (the converted Markdown, the cards), gathered at the end of each stage: the same
    # tables, and no part left.
    def tables_of(out: Path) -> dict[str, dict[Any, Any]]:
        memo = read_memo(out)
        return {name: {key: memo.previous[name][key] for key in memo.previous[name]
                       if not (name == "templates" and key[0] == "code")}  # Jinja keys it by the file's path
                for name in TABLES}

    serial = pagefind_project(MINI, tmp_path / "serial", part_pages=2)
    parallel = copy_project(serial, tmp_path / "parallel")
    assert cli("build", "--root", str(serial)).code == 0
    monkeypatch.setattr(render, "PARALLEL_FROM", 1)
    monkeypatch.setattr(prefill, "PREFILL_FROM", 1)
    if lean:
        assert not build(Project.at(parallel), lean=True).failed
    else:
        assert cli("build", "--root", str(parallel)).code == 0
    expected = tables_of(serial / "site")
    assert len(expected["yaml"]) >= 8 and len(expected["front"]) > 8 and len(expected["claims"]) >= 8 \
        and len(expected["html"]) > 2 and len(expected["cards"]) >= 8
    assert tables_of(parallel / "site") == expected
    assert sorted(p.name for p in (parallel / ".site.cache").iterdir() if ".part" in p.name) == []
    if not lean:
        (memo,) = pipeline._IN_PROCESS.values()  # what the build worked out, whichever process did: all saved
        assert memo.used["cards"] and memo.used["cards"].keys() <= memo.journal["cards"].keys()
    published: dict[str, int] = {}
    for page in sorted((serial / "site").rglob("*.html")):
        if is_indexed(page.name, page.read_bytes()):
            for word in page_words(indexed_part(page.read_bytes())):
                published[word] = published.get(word, 0) + 1
    assert len(published) > 100 and read_state(serial / "site").vocabulary == published
    assert read_state(parallel / "site").vocabulary == published, "counted in two processes: the same count"


def test_files_an_earlier_version_left_in_the_cache_are_removed(tmp_path: Path) -> None:
    # Until stop 22 the cache kept every page's words (.site.cache/memo-words, 19 MB at 10,000
    # claims), and before that the whole memo in one file: nothing reads them now, and a
    # project's cache should not carry them for ever.
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    cache = root / ".site.cache"
    for name in ("memo-words", "memo"):
        (cache / name).write_bytes(b"left by an earlier version" * 1000)
    claim = next((root / "claims").rglob("*.yaml"))
    claim.write_text(claim.read_text("utf-8").replace("summary: ", "summary: Modifié, ", 1), "utf-8")
    assert cli("build", "--root", str(root)).code == 0
    assert not (cache / "memo-words").exists() and not (cache / "memo").exists()
    assert (cache / "memo-yaml").exists(), "the cache itself is kept"


def test_templates_see_every_global_and_one_set_after_a_template_is_loaded_is_refused() -> None:
    # Each template holds a copy of the environment's globals (render._Environment): one set
    # later would be missing from it, and its pages would fail on a name it cannot find.
    from constat.load import load_project
    from constat.model import build_model

    dossier = build_model(load_project(MINI))
    env, _, _ = render._environment(dossier, REPO / "templates")
    assert {"site", "url", "absolute_url", "passages", "card"} <= set(env.get_template("claim.html").globals)
    with pytest.raises(RuntimeError, match="after a template was loaded"):
        env.globals["late"] = "value"


@pytest.mark.parametrize("parallel", [False, True])
def test_a_template_error_names_the_template_and_line_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool) -> None:
    monkeypatch.setattr(render, "PARALLEL_FROM", 1 if parallel else 10**9)
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    before = tree(root / "site")
    templates = copy_project(pipeline.TOOL_ROOT / "templates", root / "templates")
    claim = templates / "claim.html"
    claim.write_text(claim.read_text().replace("{{ claim.summary }}", "{{ claim.sumary }}"), encoding="utf-8")
    line = next(n for n, text in enumerate(claim.read_text().splitlines(), 1) if "claim.sumary" in text)
    run = cli("build", "--root", str(root))
    assert run.code == 1
    assert f"templates/claim.html:{line}:1: error: rendering affirmations/" in run.err
    assert "sumary" in run.err
    assert tree(root / "site") == before
    assert leftovers(root) == [], "the pages rendered before the error are not left in the spool"


@pytest.mark.parametrize("parallel", [False, True])
def test_an_editors_own_files_in_templates_are_neither_read_nor_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool) -> None:
    # Vim keeps .claim.html.swp (binary) beside a template while it is open, Emacs leaves style.css~;
    # and a project may keep a template no page uses, half written. A large site (rendered on
    # every core) used to compile them all: "'utf-8' codec can't decode byte", or a traceback.
    # The swap file and backups in static/ were published to the site.
    monkeypatch.setattr(render, "PARALLEL_FROM", 1 if parallel else 10**9)
    root = copy_project(MINI, tmp_path / "p")
    templates = copy_project(pipeline.TOOL_ROOT / "templates", root / "templates")
    swap = bytes(range(256)) * 8
    (templates / ".claim.html.swp").write_bytes(swap)
    (templates / "partials" / ".badge.html.swp").write_bytes(swap)
    (templates / "static" / ".style.css.swp").write_bytes(swap)
    (templates / "static" / "style.css~").write_text("body { color: red }", encoding="utf-8")
    (templates / "brouillon.html").write_text("{% if %}\n", encoding="utf-8")
    out = tmp_path / "site"
    run = cli("build", "--root", str(root), "--out", str(out))
    assert run.code == 0, run.err
    built = {name: data for name, data in tree(out).items() if not name.startswith(SEARCH_INDEXES)}
    golden = tree(GOLDEN)
    assert built == golden, tree_diff(golden, built)


@pytest.mark.parametrize("stage", ["render", "publish"])
def test_a_crash_while_writing_leaves_the_previous_site(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    before = tree(root / "site")
    (root / "content/budget-regional.md").write_text(
        (root / "content/budget-regional.md").read_text().replace("Le budget régional en hausse", "Nouveau titre"))
    calls = 0
    # The disk fills up after a few files: as pages are rendered into the spool, or as the
    # search index and the other files made in memory are published.
    owner, name = (Spool, "put") if stage == "render" else (Path, "write_bytes")
    real_write = getattr(owner, name)

    def failing_write(self: Any, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise OSError(28, "No space left on device")
        return real_write(self, *args)

    monkeypatch.setattr(owner, name, failing_write)
    with pytest.raises(OSError):
        build(Project.at(root))
    monkeypatch.undo()
    assert tree(root / "site") == before
    assert leftovers(root) == []


def test_a_swap_interrupted_between_renames_is_recovered(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    before = tree(root / "site")
    os.rename(root / "site", root / ".site.old")  # as if killed between the two renames
    assert cli("check", "--root", str(root)).code == 0
    assert cli("build", "--root", str(root)).code == 0
    assert tree(root / "site") == before


def test_the_output_folder_may_not_hold_the_project(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    for out in (root, tmp_path, root / "content"):
        run = cli("build", "--root", str(root), "--out", str(out))
        assert run.code == 1
        assert "choose another one" in run.err
    assert (root / "content/budget-regional.md").exists()


def test_check_writes_nothing(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    run = cli("check", "--root", str(root))
    assert run.code == 0
    assert run.out.strip() == "check: 0 error(s), 0 warning(s)"
    assert not (root / "site").exists()


def test_a_build_writes_nothing_outside_its_output_folder_and_its_cache(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    before = {p for p in tmp_path.rglob("*")}
    run = build_py("--root", str(root), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.code == 0
    new = {p for p in tmp_path.rglob("*")} - before
    allowed = (tmp_path / "out", tmp_path / ".out.cache", tmp_path / ".out.back")  # .out.back: constat/write.py
    assert new and all(any(p.is_relative_to(a) for a in allowed) for p in new), \
        sorted(str(p) for p in new if not any(p.is_relative_to(a) for a in allowed))[:5]
    assert (tmp_path / ".out.cache").is_dir(), "the cache sits beside the output folder it belongs to"


def test_two_builds_of_one_site_take_turns(tmp_path: Path) -> None:
    # The preview and a build in another terminal share site/ and its back buffer: one waits.
    root = copy_project(MINI, tmp_path / "p")
    assert cli("build", "--root", str(root)).code == 0
    article = root / "content/budget-regional.md"
    article.write_text(article.read_text("utf-8").replace("Le budget régional en hausse", "Un titre"), "utf-8")
    runs = [subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(root)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    assert [p.wait(timeout=120) for p in runs] == [0, 0, 0]
    clean = copy_project(root, tmp_path / "clean")
    assert cli("build", "--root", str(clean)).code == 0
    assert tree(root / "site") == tree(clean / "site")
    assert leftovers(root) == []


def test_a_build_removes_what_a_killed_build_left_beside_the_site(tmp_path: Path) -> None:
    # SIGKILL, or the kernel out of memory (Pagefind takes 660 MB a part), leaves Pagefind's
    # scratch folder (in the cache's folder) and the spool of rendered files beside site/: the
    # next build removes them.
    root = copy_project(MINI, tmp_path / "p")
    for left in (".site.cache/pagefind-x1y2/pages", ".site.spool/affirmations"):
        (root / left).mkdir(parents=True)
        (root / left / "index.html").write_text("half", encoding="utf-8")
    assert cli("build", "--root", str(root)).code == 0
    assert leftovers(root) == []
    assert not (root / ".site.cache/pagefind-x1y2").exists()
