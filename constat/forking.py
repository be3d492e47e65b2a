"""Work done beside the build's own process: forked workers (when, and how many), programs of its own
that outlive it, and what the machine has for them (cores, memory)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import multiprocessing.pool
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_CGROUP_MEMORY = [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
                  ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")]
"""Where a control group's memory limit and use are read (the process's own group, as a
container mounts it)."""


def available_memory() -> int | None:
    """Bytes of memory this process's work may still take: the system's MemAvailable, or less
    when a control group (a container, a CI job) has a limit; None where Linux does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            found = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo.read(), re.MULTILINE)
    except OSError:
        return None
    if found is None:
        return None
    available = int(found[1]) * 1024
    for limit, usage in _CGROUP_MEMORY:
        try:
            with open(limit, encoding="ascii") as a, open(usage, encoding="ascii") as b:
                cap, used = a.read().strip(), b.read().strip()
        except OSError:
            continue
        if cap.isdigit() and used.isdigit() and int(cap) < 1 << 60:  # "max", or v1's "no limit"
            available = min(available, max(0, int(cap) - int(used)))
        break
    return available


def start_holding(argv: list[str], folders: list[str]) -> subprocess.Popen[bytes]:
    """Start ``argv``, a program of its own that works on ``folders`` once this process has gone
    on, and hand it a lock (flock) on each: let go when it ends, whole or not, so that another
    build can tell it is at work (``held_elsewhere``). Started as a new program, not forked: a
    forked copy of a build copies each page of memory the build then writes to. In a session of
    its own: a Ctrl+C meant for the next command in the terminal does not stop it. OSError when
    it cannot be started (nothing is then locked)."""
    locks: list[int] = []
    try:
        for folder in folders:
            locks.append(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
            fcntl.flock(locks[-1], fcntl.LOCK_EX)
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=locks, start_new_session=True)
    finally:
        for fd in locks:  # the program holds them now, or nobody
            os.close(fd)


def held_elsewhere(folder: Path | str, *, wait: bool = False) -> bool:
    """Whether a program started by ``start_holding`` is still at work on ``folder``; with
    ``wait``, return once it is not (False). False for a folder that cannot be opened, or on a
    file system without locks (where no program could have been handed one)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        pass
    finally:
        os.close(fd)
    return False


def can_fork() -> bool:
    """More than one core, and no other thread running (the preview server runs some), which a fork
    would copy mid-work."""
    return cores() > 1 and threading.active_count() == 1 and hasattr(os, "fork")


_MAX_FD = 1 << 20
"""Above any file descriptor a process here has (os.closerange closes them with one system call)."""

_STOPS = {signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])}


@contextlib.contextmanager
def stopped_like_ctrl_c(flag: threading.Event | None = None) -> Iterator[None]:
    """A stop signal (``kill``, a closed terminal) does what Ctrl+C does: the build stops its
    workers and Pagefind, removes its scratch folders and leaves the previous site as it was.
    Python's default for these signals is to die on the spot, leaving Pagefind running. Forked
    workers start with the system's handling instead (``_worker_start``).

    ``flag`` (the preview's): Ctrl+C and the stop signals also set it. The KeyboardInterrupt they
    raise lands wherever the main thread is: inside an object's finalizer (``__del__``, run by
    the cycle collector, which the preview runs between builds), Python prints it and carries
    on, and the preview went on serving after a SIGTERM. Its loop, which looks at the flag
    twice a second, ends all the same."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        assert flag is not None
        flag.set()
        signal.default_int_handler(signum, frame)

    handler = signal.default_int_handler if flag is None else interrupted
    before = {s: signal.signal(s, handler) for s in (*_STOPS, *([signal.SIGINT] if flag is not None else []))}
    try:
        yield
    finally:
        for s, previous in before.items():
            signal.signal(s, previous)


WAIT_STEP = 0.25
"""How long the main thread waits at a time for the threads it started (``results``). The
system gives a signal sent to the build to any of its threads that does not block it, and Python
runs the handler in the main thread, once that runs Python code again: waiting without a
timeout for Pagefind's threads, it did not until Pagefind was done, and a stop signal that went
to one of them stopped nothing (tests/test_serve.py)."""


def results(futures: list[Future[R]]) -> list[R]:
    """Each future's result, in order, once all are done; the first failure raised as it comes
    (the caller stops the others), a stop signal within WAIT_STEP whichever thread it went to."""
    from concurrent.futures import FIRST_EXCEPTION, wait

    running: set[Future[R]] | list[Future[R]] = futures
    while running:
        done, running = wait(running, timeout=WAIT_STEP, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()  # raises its failure
    return [future.result() for future in futures]


@contextlib.contextmanager
def pool(processes: int | None = None) -> Iterator[multiprocessing.pool.Pool]:
    """Forked workers, one per core unless told how many, that a stop signal ends on the spot.

    The build's own process turns SIGTERM and SIGHUP into Ctrl+C (constat/cli.py), and forked
    workers inherit that; the pool ends its workers with SIGTERM. A worker must die of it, never
    raise: so each worker starts with the system's handling of those signals. They are blocked
    from before the fork until then: a signal that came in between used to be lost (the child
    clears the signals Python had noted), leaving a worker the pool waited for forever.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        import multiprocessing  # here: 15 ms of a build that forks no worker (nothing to do, a claim edit)

        workers = multiprocessing.get_context("fork").Pool(processes or cores(), initializer=_worker_start)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    with workers:
        yield workers



def shared(work: Callable[[T], R], jobs: list[T]) -> list[R]:
    """``work(job)`` for every job, results in the jobs' order: in this process and meanwhile in
    cores() - 1 forked workers (``work`` is pickled by name; what it reads it inherits). Each
    process takes the next job no process has taken yet (_Queue), until none is left: one that
    is done early takes more, rather than wait for the others. Given every other job in advance,
    the processes ended their shares up to 1.3 s apart in a clean build at 10,000 claims (of
    11 s rendering), one core idle meanwhile.

    Not one worker per core with this process waiting: a forked worker copies each page of
    memory it writes to, even for a reference count, and a build's work touches most of them
    (each render worker held 170–190 MB of its own at 10,000 claims); one worker fewer took 60 MB
    off a build's peak (this process's own writes then copy pages too)."""
    step = cores()
    with _Queue(len(jobs)) as queue, pool(step - 1) as workers:  # the queue first: the workers inherit it
        # As many tasks as jobs, each taking one job if any is left: each result comes back as its
        # job is done, and the pool's thread here unpickles it meanwhile.
        task = (work, jobs, queue.fd)
        pending = workers.map_async(_take_job, [task] * len(jobs), chunksize=1)
        done = dict(iter(partial(_take_job, task), None))  # this process's, until none is left
        done.update(taken for taken in pending.get() if taken is not None)
    return [done[n] for n in range(len(jobs))]


class _Queue:
    """The numbers of the jobs not yet taken, in a pipe that forked processes inherit: each reads
    one number at a time (_take_job) until the pipe is empty. Every number is written, and the
    writing end closed, before any process forks: reading then ends the way a file does, and no
    worker can be left waiting for numbers that will never come. So it holds what a pipe holds
    (MOST_JOBS); a build shares a few dozen jobs a core."""

    def __init__(self, jobs: int) -> None:
        if jobs > MOST_JOBS:
            raise ValueError(f"{jobs} jobs are more than the queue holds: share them in at most {MOST_JOBS}")
        self.fd, end = os.pipe()
        try:
            numbers = memoryview(b"".join(n.to_bytes(_NUMBER, "little") for n in range(jobs)))
            while numbers:
                numbers = numbers[os.write(end, numbers):]
        finally:
            os.close(end)

    def __enter__(self) -> _Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


_NUMBER = 4
"""Bytes of a job's number in the pipe. A read of up to that many bytes from a pipe takes them
whole, and every process reads that many: a number is never split between two."""
MOST_JOBS = 16384 // _NUMBER
"""The most jobs ``shared`` takes: the numbers are written before anyone reads, and a pipe holds
16 KiB at least where there is fork (64 KiB on Linux, 16 KiB to start with on macOS)."""


def _take_job(task: tuple[Callable[[T], R], list[T], int]) -> tuple[int, R] | None:
    """The next job left in the queue (_Queue), done: its number and result; None when none is left."""
    work, jobs, fd = task
    taken = os.read(fd, _NUMBER)
    if not taken:
        return None
    n = int.from_bytes(taken, "little")
    return n, work(jobs[n])


def _worker_start() -> None:
    for stop in _STOPS:
        signal.signal(stop, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


class Aside:
    """Work done in a forked process while this one goes on, in stages, each answering as soon as
    it is done; ``result(n)`` waits for stage ``n``'s answer.

    For work that is mostly system calls and whose answers are small (checking site/ against its
    manifest, then the back buffer, bringing it up to the site). One process, the stages one
    after the other: the build runs on one core, the work on the other, and a second process
    would take from the build's. Where forking is not safe, or the child fails or is killed,
    ``result(n)`` does stage ``n`` here instead: the answer is the same, only later (a stage must
    bear being done twice, and not need what a stage before it did in the child). The work runs
    in a grandchild, which the system reaps: an answer never asked for leaves no zombie."""

    def __init__(self, *stages: Callable[[], Any]) -> None:
        self.stages = stages
        self.fds: list[int] = []
        self.answers: dict[int, Any] = {}
        if not can_fork():
            return
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        pipes: list[tuple[int, int]] = []
        try:
            for _ in stages:
                pipes.append(os.pipe())
            pid = os.fork()
        except OSError:
            for fds in pipes:
                for fd in fds:
                    os.close(fd)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            return
        if pid == 0:  # dies of a stop signal or Ctrl+C, never raises; writes its answers and goes
            try:
                for read, _ in pipes:
                    os.close(read)
                if os.fork():
                    os._exit(0)  # the child leaves at once; its child does the work
                for stop in (*_STOPS, signal.SIGINT):
                    signal.signal(stop, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                for n, (stage, (_, write)) in enumerate(zip(stages, pipes, strict=True)):
                    view = memoryview(pickle.dumps(stage(), protocol=pickle.HIGHEST_PROTOCOL))
                    if n == len(stages) - 1:
                        # The work done, let go of every file the build holds open (its lock among
                        # them) before a write that waits for as long as the answer is not read.
                        os.closerange(3, write)
                        os.closerange(write + 1, _MAX_FD)
                    while view:
                        view = view[os.write(write, view):]
                    os.close(write)
            finally:
                os._exit(0)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for _, write in pipes:
            os.close(write)
        os.waitpid(pid, 0)
        self.fds = [read for read, _ in pipes]

    def result(self, stage: int = 0) -> Any:
        for n in range(stage + 1):  # in order: an answer larger than a pipe holds stops the child until read
            if n not in self.answers:
                self.answers[n] = self._read(n)
        return self.answers[stage]

    def _read(self, n: int) -> Any:
        fd = self.fds[n] if n < len(self.fds) else -1
        if fd >= 0:
            chunks = []
            try:
                while chunk := os.read(fd, 1 << 16):
                    chunks.append(chunk)
            finally:
                os.close(fd)
                self.fds[n] = -1
            try:
                return pickle.loads(b"".join(chunks))
            except Exception:  # nothing or half an answer: the child failed; the stage is done here
                pass
        return self.stages[n]()

    def close(self) -> None:
        """Drop the answers not read (a child still writing one stops)."""
        for n, fd in enumerate(self.fds):
            if fd >= 0:
                os.close(fd)
                self.fds[n] = -1

    def __del__(self) -> None:
        self.close()


def give_back_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; nothing elsewhere).

    Python's objects of more than 512 bytes (most texts) come from the C heap, which keeps what is
    freed among what is still used. Tables let go of in the middle of a build (cache.save_early)
    stayed in the process, and a worker forked then shares them, then copies those it writes to.
    At 10,000 claims: 30 MiB less at the peak of a clean build."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)
