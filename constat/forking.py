"""When work may be shared between forked processes, and between how many."""

from __future__ import annotations

import multiprocessing
import os
import threading


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def can_fork() -> bool:
    """More than one core, and no other thread running (the preview server runs some), which a fork
    would copy mid-work."""
    return cores() > 1 and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
