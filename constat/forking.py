"""When work may be shared between forked processes, and between how many."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
from collections.abc import Iterator


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def can_fork() -> bool:
    """More than one core, and no other thread running (the preview server runs some), which a fork
    would copy mid-work."""
    return cores() > 1 and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


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
