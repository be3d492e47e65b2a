"""The editor's preview: build, serve site/ on 127.0.0.1, rebuild on save, reload the browser.

The server is for one editor's machine. It binds the loopback address only, serves nothing
outside the output folder whatever the request says, and adds two things to the pages it
serves (never to the files in site/, which stay byte-identical to a plain build): a small
script that reloads the page after each rebuild (and tells the server which page is open, for
the first look at a template edit: constat/preview.py), and, while the inputs have errors, a
panel listing them above the last good site.
"""

from __future__ import annotations

import contextlib
import faulthandler
import html
import http.server
import mimetypes
import queue
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from constat import preview
from constat.builder import Builder, BuilderGone, BuildFailed, preview_build
from constat.forking import stopped_like_ctrl_c
from constat.load import Inputs, editors_own
from constat.model import Dossier
from constat.pipeline import Project, Report
from constat.problems import Problem, Severity

HOST = "127.0.0.1"
"""Never another address: the preview shows unpublished work and runs no access control."""
EVENTS = "/__constat/events"
WATCHED = ("content", "claims", "templates", "site.yaml", "statuses.yaml")
BUILDER_GONE = "the builder process has ended: the preview builds in its own process now, on one core"

_RELOAD_SCRIPT = """<script>
(() => { const s = new EventSource("%s?page=" + encodeURIComponent(location.pathname)); let last = null;
  s.onmessage = (e) => { if (last !== null && e.data !== last) location.reload(); last = e.data; }; })();
</script>"""


@dataclass
class BuildState:
    """The outcome of the latest build, shared between the watcher and the request threads."""

    generation: int = 0
    """Counts builds: a change tells the open pages to reload."""
    problems: list[Problem] = field(default_factory=list)
    failed: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)
    building: threading.Lock = field(default_factory=threading.Lock)
    """Held through a build and its recording: a page and the error panel over it always agree."""
    model: tuple[Inputs, Dossier] | None = None
    """What site/ was last built from: the first look at the next edit starts from it."""
    viewed: Counter[str] = field(default_factory=Counter)
    """The pages open in a browser (output paths, with how many tabs show each), as their reload
    script tells: a template edit shows them first."""
    first: dict[str, bytes] = field(default_factory=dict)
    """Pages of the edited claims and articles rendered ahead of the build (constat/preview.py), served until
    the build has published: output path → bytes."""

    def record(self, report: Report | None, error: str | None = None) -> None:
        with self.changed:
            self.generation += 1
            self.first = {}
            if report is not None and report.model is not None:
                self.model = report.model
            self.problems = list(report.problems) if report else []
            self.failed = error is not None or (report is not None and report.failed)
            if error:
                self.problems.append(Problem("build", 1, 1, "internal", error))
            self.changed.notify_all()

    def show_first(self, pages: dict[str, bytes]) -> None:
        with self.changed:
            self.generation += 1
            self.first = pages
            self.changed.notify_all()


def first_look(project: Project, state: BuildState, changes: Iterable[tuple[Any, str]],
               say: Callable[[str], None], builder: Builder | None = None) -> None:
    """Show the pages of edited claims and articles before the build (constat/preview.py), when it
    can; in the ``builder``, which has the model, when there is one."""
    builder = builder if builder is not None and not builder.closed else None
    changed = sorted({Path(p) for _, p in changes if _may_be_input(project, Path(p))})
    if state.failed or (state.model is None and builder is None) or not changed \
            or any(not path.exists() for path in changed):  # a file deleted (or renamed away) waits for the build
        return
    with state.changed:
        viewed = list(state.viewed)  # a page no tab shows any more is taken out (PreviewHandler._events)
    try:
        if builder is not None:
            pages = builder.first_look(changed, viewed)
        else:
            assert state.model is not None
            pages = preview.first_look(project.root, project.templates, state.model, changed, viewed)
    except BuilderGone:
        say(BUILDER_GONE)
        return
    except Exception:  # the build that follows reports whatever this met
        return
    if pages:
        state.show_first(pages)
        shown = sorted(pages, key=lambda rel: (not rel.startswith("articles/"), rel))
        more = f" and {len(shown) - 2} more" if len(shown) > 3 else ""
        say(f"first look: {', '.join(shown[:2] if more else shown)}{more}; the build follows")


_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
"""The suffix of a file the build may read (.yaml, .md, .html, .css…), not of a temporary file."""


def _editors_own(path: Path) -> bool:
    """A file of the editor's that the build passes over: a swap, lock or backup file, or the
    temporary file of an atomic save (``name.yaml___jb_tmp___``, Emacs' ``#name.md#``), whose
    suffix is no file type. A name without a suffix (``sed -i``'s ``sedXXXXXX``, a folder renamed
    away) may still be an input's: it is not counted here."""
    return editors_own(path.name) or (path.suffix != "" and not _SUFFIX.fullmatch(path.suffix))


def _may_be_input(project: Project, path: Path) -> bool:
    """Whether a changed file may be one the build reads, rather than an editor's own: a swap or
    lock file (``.name``), a backup (``name~``) or the temporary file that an atomic save writes
    and renames over the real one (JetBrains' ``name___jb_tmp___``, ``sed -i``'s ``sedXXXXXX``).
    Those saves also report the temporary file deleted: it must not keep the edit from its first look."""
    if _editors_own(path) or not path.suffix:
        return False
    if path.parent == project.root / "content":
        return path.suffix == ".md"
    if path.parent.parent == project.root / "claims":
        return path.suffix in (".yaml", ".yml")
    return True


def rebuild(project: Project, state: BuildState, say: Callable[[str], None], *, search_later: bool = True,
            interrupt: threading.Event | None = None, builder: Builder | None = None) -> bool:
    """Build; True when the search index still has to be brought up to date (see pipeline.build).

    ``interrupt``, set by a newer save, stops the build between two of its stages (or Pagefind,
    during the idle re-index): nothing is published, and the newer save gets its first look and
    its build at once, rather than after a build it makes stale (seconds at 10,000 claims, a
    template edit's 10). The index, or the whole build, is still to be done.

    Pages are not served while a build runs (a page and the error panel over it always agree),
    except during the idle re-index (``search_later=False``): it changes no page, and takes
    seconds on a large site (a part of the index at 10,000 claims), when browsing must not stall.

    With a ``builder``, the build runs there, on every core; a save the builder is told of
    (Builder.saved) stops it (constat/builder.py)."""
    from constat.search import Interrupted

    def record(report: Report | None, error: str | None = None) -> None:
        if search_later:
            state.record(report, error)  # the lock is held through the build
        else:
            with state.building:
                state.record(report, error)

    with state.building if search_later else contextlib.nullcontext():
        try:
            report = _build(project, state, search_later, interrupt, builder, say)
        except Interrupted:
            say("search index interrupted by a save: the save first" if not search_later
                else "build interrupted by a newer save: that save first")
            return True
        except Exception as exc:  # the preview must survive anything and say what happened
            record(None, f"{exc.kind if isinstance(exc, BuildFailed) else type(exc).__name__}: {exc}")
            say(f"build failed: {exc}")
            return False
        record(report)
    if report.failed:
        say(f"{report.errors} error(s): the last good site stays served; the page shows them")
        for problem in report.problems:
            say("  " + problem.format())
    else:
        written = report.written.written if report.written else 0
        later = "; search index next" if report.search_pending else ""
        say(f"rebuilt: {report.pages} pages, {written} file(s) changed{later}")
    return report.search_pending


def _build(project: Project, state: BuildState, search_later: bool, interrupt: threading.Event | None,
           builder: Builder | None, say: Callable[[str], None]) -> Report:
    """One build: in the builder when there is one (a save counted after now stops it), else here."""
    from constat.search import Interrupted

    if builder is not None and not builder.closed:
        try:
            kind, answer = builder.build(search_later=search_later)
        except BuilderGone:
            say(BUILDER_GONE)  # built here from now on
        else:
            if kind == "interrupted":
                raise Interrupted
            if kind == "error":
                raise BuildFailed(*answer)
            assert isinstance(answer, Report)
            return answer
    return preview_build(project, search_later=search_later,
                         model=state.model is None,  # a site already built: the first look needs its model
                         interrupt=interrupt)


def resolve(out: Path, base_path: str, raw: str) -> Path | None:
    """The file under ``out`` that a request path names, or None when it names nothing there.

    Decoded once, like a static host would; any ``..`` segment, NUL or backslash is refused
    outright, and the resolved real path (links followed) must still lie inside ``out``.
    """
    path = unquote(urlsplit(raw).path)
    if "\x00" in path or "\\" in path or not path.startswith(base_path):
        return None
    parts = [p for p in path[len(base_path):].split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    target = out.joinpath(*parts)
    if target.is_dir():
        target = target / "index.html"
    try:
        real = target.resolve(strict=True)
    except OSError:
        return None
    root = out.resolve()
    return real if real.is_file() and real.is_relative_to(root) else None


def error_panel(problems: Iterable[Problem]) -> str:
    items = "".join(
        f"<li><code>{html.escape(p.path)}:{p.line}:{p.column}</code> {html.escape(p.message)}</li>"
        for p in problems if p.severity is Severity.ERROR)
    return (
        '<div role="alert" style="position:sticky;top:0;z-index:99;background:#7a1010;color:#fff;'
        'padding:1rem 1.25rem;font:16px/1.45 system-ui,sans-serif;max-height:60vh;overflow:auto">'
        "<strong>La dernière modification contient des erreurs ; le site affiché est la dernière version "
        "correcte.</strong><ul style=\"margin:.5rem 0 0;padding-left:1.25rem\">"
        f"{items}</ul></div>")


class PreviewHandler(http.server.BaseHTTPRequestHandler):
    server: PreviewServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the terminal shows builds, not every request

    def do_GET(self) -> None:
        if urlsplit(self.path).path in (EVENTS, self.server.base_path.rstrip("/") + EVENTS):
            self._events()
            return
        self._file(head_only=False)

    def do_HEAD(self) -> None:
        self._file(head_only=True)

    def _file(self, *, head_only: bool) -> None:
        server = self.server
        path = urlsplit(self.path).path
        target = resolve(server.out, server.base_path, self.path)
        if target is not None and target.name == "index.html" and not path.endswith("/") \
                and not path.endswith("index.html"):
            self.send_response(301)
            self.send_header("Location", path + "/")
            self.end_headers()
            return
        first = server.state.first.get(_output_path(server.base_path, path))
        if first is not None and not server.state.failed:  # the edited claim's page, ahead of the build
            self._send(200, "text/html", self._decorate(first), head_only=head_only)
            return
        status = 200
        if target is None:
            status, target = 404, server.out / "404.html"
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        with server.state.building:
            body = target.read_bytes() if target.is_file() else b"Not found"
            if kind == "text/html":
                body = self._decorate(body)
        self._send(status, kind, body, head_only=head_only)

    def _send(self, status: int, kind: str, body: bytes, *, head_only: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _decorate(self, body: bytes) -> bytes:
        state = self.server.state
        text = body.decode("utf-8", errors="replace")
        if state.failed:
            text = text.replace("<body>", "<body>" + error_panel(state.problems), 1)
        script = _RELOAD_SCRIPT % (self.server.base_path.rstrip("/") + EVENTS)
        return text.replace("</body>", script + "</body>", 1).encode("utf-8")

    def _events(self) -> None:
        state = self.server.state
        page = _output_path(self.server.base_path, parse_qs(urlsplit(self.path).query).get("page", [""])[0])
        with state.changed:
            state.viewed[page] += 1
        try:
            self._stream(state)
        finally:
            with state.changed:
                state.viewed[page] -= 1
                if not state.viewed[page]:
                    del state.viewed[page]

    def _stream(self, state: BuildState) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen = -1
        try:
            while not self.server.stopping.is_set():
                with state.changed:
                    if state.generation == seen:
                        state.changed.wait(timeout=15)
                    generation = state.generation
                if generation != seen:
                    self.wfile.write(f"data: {generation}\n\n".encode())
                    seen = generation
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


class PreviewServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, out: Path, base_path: str, state: BuildState) -> None:
        super().__init__((HOST, port), PreviewHandler)
        self.out, self.base_path, self.state = out, base_path, state
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the browser left before the answer (a reload, a closed tab): nothing to report
        super().handle_error(request, client_address)


def _output_path(base_path: str, path: str) -> str:
    """The file under site/ a request path names when it names a page folder ("" otherwise)."""
    path = unquote(path)
    if not path.startswith(base_path) or not path.endswith("/"):
        return ""
    return path[len(base_path):] + "index.html"


def watch_paths(root: Path) -> list[Path]:
    return [root / name for name in WATCHED if (root / name).exists()]


def serve(project: Project, port: int, say: Callable[[str], None], *,
          ready: Callable[[PreviewServer], None] | None = None, stop: threading.Event | None = None) -> None:
    """Build, serve and rebuild on change until interrupted (or ``stop`` is set, for tests)."""
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        # A preview that seems stuck: `kill -USR1 <pid>` prints what each of its threads is doing.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    builder = Builder.start(project)  # before any thread: its builds fork their workers
    stop = stop or threading.Event()
    try:
        with stopped_like_ctrl_c(stop):  # a stop lost in a finalizer still ends the loop
            _serve(project, port, say, ready, stop, builder)
    finally:
        if builder is not None:
            builder.close()


def _serve(project: Project, port: int, say: Callable[[str], None], ready: Callable[[PreviewServer], None] | None,
           stop: threading.Event, builder: Builder | None) -> None:
    from watchfiles import watch  # only the preview needs a watcher

    saves: queue.Queue[set[tuple[Any, str]]] = queue.Queue()
    saved = threading.Event()
    """Set by every save: it stops the build under way (an earlier save's, or the idle re-index)."""

    def watcher() -> None:
        for changes in watch(*watch_paths(project.root), stop_event=stop, debounce=200, step=50):
            if all(_editors_own(Path(p)) for _, p in changes):
                # Only an editor's temporary, swap or backup files (an atomic save's rename still to
                # come, an autosave): no build, and none stopped for them.
                continue
            saves.put(changes)
            if builder is not None:
                builder.saved()
            saved.set()

    # Watching starts before the first build, so a save made while it runs is not missed.
    threading.Thread(target=watcher, daemon=True).start()
    state = BuildState()
    unbuilt: set[tuple[Any, str]] = set()
    pending = rebuild(project, state, say, builder=builder)
    server = PreviewServer(port, project.out, _base_path(project), state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    say(f"serving {project.out} on http://{HOST}:{server.server_address[1]}{server.base_path} "
        "(Ctrl+C to stop)")
    if ready:
        ready(server)
    try:
        while not stop.is_set():
            try:
                changes = set(saves.get(timeout=0.5))
            except queue.Empty:
                if pending:  # idle: now bring the search index up to date, unless a save comes in
                    saved.clear()
                    if saves.empty():
                        pending = rebuild(project, state, say, search_later=False, interrupt=saved, builder=builder)
                continue
            while not saves.empty():  # a burst of saves makes one rebuild
                changes |= set(saves.get_nowait())
            changes |= unbuilt  # saves whose build a newer one stopped: still shown first, then built
            first_look(project, state, changes, say, builder)
            saved.clear()
            if saves.empty():
                pending = rebuild(project, state, say, interrupt=saved, builder=builder)
                unbuilt = changes if saved.is_set() else set()  # a save came in: this build may have stopped
            else:  # the newer save first: this build would be stale before it ends
                unbuilt = changes
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.stopping.set()
        with state.changed:
            state.changed.notify_all()
        server.shutdown()
        server.server_close()


def _base_path(project: Project) -> str:
    """The base path of site.yaml's base_url, read directly: the site may not build yet."""
    import yaml

    try:
        data = yaml.safe_load((project.root / "site.yaml").read_text(encoding="utf-8"))
        url = str(data["base_url"])
        return "/" + url.split("://", 1)[1].partition("/")[2]
    except Exception:  # a broken site.yaml is reported by the build; serve at the root meanwhile
        return "/"
