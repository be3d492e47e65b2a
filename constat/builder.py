"""The preview's builds, in a process of their own, so that they render on every core.

A process that runs threads cannot fork safely (a thread may hold a lock that the child then
waits for forever), and the preview runs several: the watcher, the server, one per open page.
So its builds ran in one process, on one core: a template edit at 10,000 claims took about
10 s in the preview against 5 s with `build.py`. Now `build.py serve` forks one builder process
before any thread starts; it runs no thread of its own, and its builds fork their workers as
`build.py` does. The builds, and the first looks at edits (which start from the model of the
last build, which the builder keeps), run there; the preview's process keeps what its server
needs and tells the builder what to do over a pipe.

A save stops the build under way (see pipeline.build's ``interrupt``) through a count of saves
in memory shared with the builder, which the watcher thread increments and the builder only
reads: no lock that a process could die holding. Where forking is not possible, or once the
builder is gone (killed, out of memory), the preview builds in its own process, as before.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from constat.forking import can_fork
from constat.pipeline import Project, Report, build
from constat.search import Interrupt


def preview_build(project: Project, *, search_later: bool, model: bool, interrupt: Interrupt | None) -> Report:
    """A build as the preview makes them, in the builder or in its own process: warnings do not
    fail it, and its memo is kept in memory for the next one (see pipeline.build)."""
    return build(project, strict=False, save_memo=False, search_later=search_later, model=model, interrupt=interrupt)


class BuilderGone(Exception):
    """The builder process ended: the preview builds in its own process from now on."""


class BuildFailed(Exception):
    """The build in the builder raised ``kind`` (the name of the exception) with this message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SavedSince:
    """A build's ``interrupt`` in the builder: set once the preview has seen a save after ``seen``."""

    def __init__(self, count: Any, seen: int) -> None:
        self.count, self.seen = count, seen

    def is_set(self) -> bool:
        return bool(self.count.value != self.seen)


class Builder:
    """The preview's side of the builder process (``start`` forks it)."""

    def __init__(self, pid: int, conn: Connection, count: Any) -> None:
        self.pid, self.conn, self.count = pid, conn, count
        self.closed = False

    @classmethod
    def start(cls, project: Project) -> Builder | None:
        """The builder, forked now; None where this process cannot fork (it runs threads already)."""
        if not can_fork():
            return None
        count = multiprocessing.get_context("fork").RawValue("q", 0)
        mine, theirs = multiprocessing.Pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to be had: the preview builds in its own
            mine.close()
            theirs.close()
            return None
        if pid == 0:  # the builder: it never returns
            mine.close()
            _serve_builds(theirs, project, count)
        theirs.close()
        return cls(pid, mine, count)

    def saved(self) -> None:
        """One more save (the watcher thread, alone, calls it): it stops the build under way."""
        self.count.value += 1

    @property
    def saves(self) -> int:
        return int(self.count.value)

    def build(self, *, search_later: bool) -> tuple[str, Any]:
        """("built", the report, without its model), ("interrupted", None) or ("error", (kind, message));
        a save counted after now stops it."""
        return self._ask(("build", (search_later, self.saves)))

    def first_look(self, changed: Iterable[Path], viewed: list[str]) -> dict[str, bytes]:
        """preview.first_look, on the model of the builder's last build (nothing before the first)."""
        kind, pages = self._ask(("look", (list(changed), viewed)))
        return pages if kind == "pages" else {}

    def _ask(self, message: tuple[str, Any]) -> tuple[str, Any]:
        try:
            self.conn.send(message)
            reply: tuple[str, Any] = self.conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise BuilderGone from exc
        return reply

    def close(self) -> None:
        """Stop the builder (as a stop signal stops a build: Pagefind and the workers with it) and wait for it."""
        if self.closed:
            return  # its process id may be another process's by now
        self.closed = True
        self.conn.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        with contextlib.suppress(ChildProcessError):  # already waited for
            while os.waitpid(self.pid, os.WNOHANG)[0] == 0:
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    return
                time.sleep(0.02)


def _serve_builds(conn: Connection, project: Project, count: Any) -> None:
    """The builder's loop: a build or a first look for each message, until the pipe closes or a
    stop signal comes (what the build under way does with it: constat/cli.py)."""
    from constat import preview
    from constat.search import Interrupted

    model = None
    try:
        while True:
            try:
                kind, args = conn.recv()
            except EOFError:
                break
            reply: tuple[str, Any]
            if kind == "build":
                search_later, seen = args
                try:
                    report = preview_build(project, search_later=search_later, model=model is None,
                                           interrupt=SavedSince(count, seen))
                except Interrupted:
                    reply = ("interrupted", None)
                except Exception as exc:  # the preview must survive anything and say what happened
                    reply = ("error", (type(exc).__name__, str(exc)))
                else:
                    model = report.model or model
                    reply = ("built", replace(report, model=None))
            else:
                changed, viewed = args
                try:
                    pages = preview.first_look(project.root, project.templates, model, changed, viewed) \
                        if model is not None else {}
                except Exception:  # the build that follows reports whatever this met
                    pages = {}
                reply = ("pages", pages)
            if reply[0] == "built":
                # The collector is paused during a build (pipeline.no_cycle_collector); its first
                # run after it goes over what the build made (some 70 ms at 10,000 claims). In the
                # preview's own process the server's threads set it off while the editor looked at
                # the page; here, where nothing runs between requests, it fell on the next save's
                # first look. Run now, before the build is reported done.
                gc.collect()
            conn.send(reply)
    except (KeyboardInterrupt, OSError):  # a stop signal, or the preview gone
        pass
    finally:
        os._exit(0)
