"""How soon the preview (`build.py serve`) shows a save: seconds from writing the file to the
server answering with the edited page, as an editor's browser would ask for it.

bench/run.py calls ``measure_preview`` on a site it has just built. Three saves, each waiting for
the one before to show:

- a claim saved, the preview idle: the claim's page;
- the same claim saved again as soon as that shows, while the build that follows the first save
  is still running (an editor who fixes a typo at once): its page again;
- an article saved a little after that build, while the preview brings the search index up to
  date (on a large site it takes seconds, and a save stops it): the article's page;
- a page template saved while a browser shows a claim's page (its reload script tells the
  server which page is open, as here): that page, rendered with the template as saved.

The preview shows such pages before its build (constat/preview.py); these figures are what an
editor waits, whatever the build behind them takes. A benchmark, not a test.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

SHOWN_WITHIN = 60.0
"""Seconds after which a save that does not show counts as not shown (the figure is then this)."""


class _Server:
    """`build.py serve` on a free port, its output lines read as they come."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([*cmd, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, text=True, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.base = self.wait_for(r"on (http://127\.0\.0\.1:\d+/\S*) ")[1]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 600.0) -> re.Match[str]:
        """Until the preview prints a line matching ``pattern``."""
        end = time.perf_counter() + timeout
        while (left := end - time.perf_counter()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.log.append(line)
            if found := re.search(pattern, line):
                return found
            if self.proc.poll() is not None and self.lines.empty():
                break
        raise RuntimeError(f"the preview never said /{pattern}/:\n" + "\n".join(self.log[-20:]))

    def shown(self, path: str, marker: str, saved: float) -> float:
        """Seconds from ``saved`` until the page at ``path`` holds ``marker``."""
        url = self.base.rstrip("/") + "/" + path.lstrip("/")
        while (now := time.perf_counter()) - saved < SHOWN_WITHIN:
            try:
                with urllib.request.urlopen(url, timeout=SHOWN_WITHIN) as answer:
                    if marker in answer.read().decode("utf-8", "replace"):
                        return time.perf_counter() - saved
            except (urllib.error.URLError, OSError):
                pass  # between two builds: asked again
            time.sleep(max(0.0, 0.02 - (time.perf_counter() - now)))
        return SHOWN_WITHIN

    @contextlib.contextmanager
    def viewing(self, path: str) -> Iterator[None]:
        """A browser showing the page at ``path``: subscribed to the server's events, as the page's
        reload script is (the server renders the open pages first after a template edit)."""
        parts = urllib.parse.urlsplit(self.base)
        events = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
        try:
            shown_at = parts.path.rstrip("/") + path  # location.pathname, as the reload script sends it
            events.request("GET", parts.path.rstrip("/") + "/__constat/events?page=" + urllib.parse.quote(shown_at))
            answer = events.getresponse()
            if not answer.fp.readline().startswith(b"data: "):
                raise RuntimeError("the preview's event stream did not answer")
            yield
        finally:
            events.close()

    def wait_for_build(self, timeout: float = 600.0) -> None:
        """Until the preview says a build is over."""
        self.wait_for(r"^(rebuilt|\d+ error)", timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def page_of(source: Path) -> str:
    """The site path of a claim's or an article's page (the converted corpus keeps file names as slugs)."""
    if source.suffix == ".md":
        return f"/articles/{source.stem}/"
    return f"/affirmations/{source.parent.name}/{source.stem}/"


def measure_preview(cmd: Sequence[str], env: dict[str, str],
                    edit_claim: Callable[[], str], edit_article: Callable[[], str], edit_template: Callable[[], str],
                    claim: Path, article: Path) -> list[tuple[str, float]]:
    """The saves above, as (key, seconds until shown); ``edit_*`` save a file and return a text
    that its page then shows (``edit_template``: the claim's page)."""
    server = _Server(cmd, env)  # serving once its first build is over (nothing to do on a site just built)
    try:
        times: list[tuple[str, float]] = []
        marker, saved = edit_claim(), time.perf_counter()
        times.append(("preview-claim", server.shown(page_of(claim), marker, saved)))
        marker, saved = edit_claim(), time.perf_counter()  # the first save's build still runs
        times.append(("preview-claim-during-build", server.shown(page_of(claim), marker, saved)))
        for _ in range(2):  # the second save's first look, whether the first's build ended or stopped for it
            server.wait_for("^first look")
        server.wait_for_build()  # then the second save's build
        time.sleep(1.5)  # idle since 1 s: the search index is being brought up to date, if it had to be
        marker, saved = edit_article(), time.perf_counter()
        times.append(("preview-article-after-build", server.shown(page_of(article), marker, saved)))
        server.wait_for_build()
        with server.viewing(page_of(claim)):
            marker, saved = edit_template(), time.perf_counter()
            times.append(("preview-template", server.shown(page_of(claim), marker, saved)))
            server.wait_for_build()
        return times
    finally:
        server.stop()
