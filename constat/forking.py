"""When work may be shared between forked processes, and between how many."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.pool
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def can_fork() -> bool:
    """More than one core, and no other thread running (the preview server runs some), which a fork
    would copy mid-work."""
    return cores() > 1 and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


_MAX_FD = 1 << 20
"""Above any file descriptor a process here has (os.closerange closes them with one system call)."""

_STOPS = {signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])}


@contextlib.contextmanager
def pool() -> Iterator[multiprocessing.pool.Pool]:
    """Forked workers, one per core, that a stop signal ends on the spot.

    The build's own process turns SIGTERM and SIGHUP into Ctrl+C (constat/cli.py), and forked
    workers inherit that; the pool ends its workers with SIGTERM. A worker must die of it, never
    raise: so each worker starts with the system's handling of those signals. They are blocked
    from before the fork until then: a signal that came in between used to be lost (the child
    clears the signals Python had noted), leaving a worker the pool waited for forever.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        workers = multiprocessing.get_context("fork").Pool(cores(), initializer=_worker_start)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    with workers:
        yield workers


def _worker_start() -> None:
    for stop in _STOPS:
        signal.signal(stop, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


class Aside(Generic[T]):
    """``work`` done in a forked process while this one goes on; ``result()`` waits for it.

    For work that is mostly system calls and whose answer is small (checking the output folders
    against their manifests, bringing the back buffer up to the site). Where forking is not
    safe, or the child fails or is killed, ``result()`` does the work here instead: the answer
    is the same, only later (the work must bear being done twice). The work runs in a
    grandchild, which the system reaps: an answer never asked for leaves no zombie."""

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.fd = -1
        if not can_fork():
            return
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            read, write = os.pipe()
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            return
        if pid == 0:  # dies of a stop signal or Ctrl+C, never raises; writes its answer and goes
            try:
                os.close(read)
                if os.fork():
                    os._exit(0)  # the child leaves at once; its child does the work
                for stop in (*_STOPS, signal.SIGINT):
                    signal.signal(stop, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                view = memoryview(pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL))
                # The work done, let go of every file the build holds open (its lock among them)
                # before a write that waits for as long as the answer is not read.
                os.closerange(3, write)
                os.closerange(write + 1, _MAX_FD)
                while view:
                    view = view[os.write(write, view):]
            finally:
                os._exit(0)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(write)
        os.waitpid(pid, 0)
        self.fd = read

    def result(self) -> T:
        if self.fd >= 0:
            chunks = []
            try:
                while chunk := os.read(self.fd, 1 << 16):
                    chunks.append(chunk)
            finally:
                self.close()
            try:
                return pickle.loads(b"".join(chunks))  # type: ignore[no-any-return]
            except Exception:  # nothing or half an answer: the child failed; the work is done here
                pass
        return self.work()

    def close(self) -> None:
        """Drop the answer if it was not read (a child still writing it stops)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()
