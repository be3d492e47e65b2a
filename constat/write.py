"""Stage 5, write: put a rendered site in place so that nobody ever sees half of it.

The first build writes a staging folder beside the output folder and renames it into place,
then makes a second copy of the site, the back buffer (``.site.back/`` beside ``site/``), of
hard links to the same files. Later builds bring it up to date (only the files
that differ are written or linked, only the files that are gone are deleted), then exchange
it with ``site/`` in one ``renameat2(RENAME_EXCHANGE)``. Readers of ``site/`` see the old
site or the new one, never a mix; if anything fails before the exchange, ``site/`` has not
been touched. Files whose bytes did not change stay the same file (same inode, same
modification time), so rsync and CDNs see no change.

A manifest records, for every file of both folders, its hash and what ``stat`` said right
after it was written: a file whose stat still matches is trusted without being read. Anything
that does not match (a file edited by hand, a folder with files added) is read and compared.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from constat.forking import held_elsewhere, start_holding
from constat.memo import digest
from constat.spool import Spool, Spooled, check_output_path, is_safe, move, remove

_RENAME_EXCHANGE = 2
T = TypeVar("T")
R = TypeVar("R")


class Entry(NamedTuple):
    """A file as the manifest knows it (a named tuple: the state holds 25,000 of them at 10,000
    claims, read and written by every build in 30 ms, against 50 ms as a dataclass)."""

    sha: str
    size: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, sha: str, path: Path) -> Entry:
        st = path.stat()
        return cls(sha, st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass
class Manifest:
    """Every file of one folder, by relative path, and the modification time of every sub-folder."""

    files: dict[str, Entry] = field(default_factory=dict)
    dirs: dict[str, int] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (in the cache's state, which every build reads and writes) as columns of plain
        # values: a named tuple is pickled through a Python call each. At 10,000 claims the state
        # holds two manifests of 24,000 files: 40 ms to write them, now 4; 41 ms to read, now 24.
        files = self.files.values()
        return (_manifest, (list(self.files), [e.sha for e in files], [e.size for e in files],
                            [e.mtime_ns for e in files], [e.ino for e in files], self.dirs))

    def verified(self, folder: Path) -> tuple[dict[str, Entry], bool]:
        """(the entries whose file is as recorded, whether the folder holds nothing else)."""
        return self.verdict(folder, self.check(folder))

    def check(self, folder: Path) -> tuple[list[str], bool] | None:
        """What ``verified`` needs to know, small enough to come back from another process: the
        files not as recorded, and whether every folder is; None when there is no folder."""
        if not folder.is_dir():
            return None
        base = f"{folder}/"
        # os.lstat on strings: 22,000 files in a tenth of a second
        changed = [rel for rel, e in self.files.items() if not _as_recorded(base + rel, e)]
        return changed, not changed and all(_mtime(base + d if d else str(folder)) == t for d, t in self.dirs.items())

    def verdict(self, folder: Path, checked: tuple[list[str], bool] | None) -> tuple[dict[str, Entry], bool]:
        """``verified``'s answer from what ``check`` found."""
        if checked is None:
            return {}, False
        changed, folders = checked
        bad = set(changed)
        good = {rel: e for rel, e in self.files.items() if rel not in bad} if bad else dict(self.files)
        return good, bool(self.dirs) and folders and len(good) == len(self.files)

    @classmethod
    def scan(cls, folder: Path, files: dict[str, Entry]) -> Manifest:
        dirs = {""} | {rel.rpartition("/")[0] for rel in files}
        for d in list(dirs):
            while d:
                d = d.rpartition("/")[0]
                dirs.add(d)
        base = f"{folder}/"
        return cls(dict(files), {d: _mtime(base + d if d else str(folder)) for d in sorted(dirs)})


def _manifest(paths: list[str], shas: list[str], sizes: list[int], mtimes: list[int], inos: list[int],
              dirs: dict[str, int]) -> Manifest:
    """A Manifest from the columns its ``__reduce__`` pickles."""
    return Manifest(dict(zip(paths, map(Entry._make, zip(shas, sizes, mtimes, inos, strict=True)), strict=True)),
                    dirs)


def _as_recorded(path: str, entry: Entry) -> bool:
    """Whether the file at ``path`` is as ``entry`` recorded it (what Manifest.check looks at)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns and st.st_ino == entry.ino


def _mtime(path: Path | str) -> int:
    try:
        return os.lstat(path).st_mtime_ns
    except OSError:
        return -1


CATCH_UP_FROM = 256
"""Stale files from which the back buffer is caught up aside (a template edit's worth): fewer
(the pages of the last claim edit) publishing writes over where they are, the back buffer's own."""

CATCH_UP_AFTER_FROM = 256
"""Stale files from which the build that leaves them in the back buffer starts a program that
catches it up once the build returns (``catch_up_aside``); the next build then need not."""

Found = tuple[list[str], bool] | None
"""What Manifest.check found: the files not as recorded, and whether every folder is; None: no folder."""


class Checked:
    """The site and its back buffer checked against their manifests (Manifest.check), in a forked
    process while the build loads, checks and models its inputs: 50,000 lstat calls at 10,000
    claims, a tenth of a second of a claim edit, that nothing else needs until the pages are keyed.

    That process then brings the back buffer up to the site (``_catch_up``), as publishing would
    have to: after a template edit at 10,000 claims, the next build's back buffer holds 10,000
    pages older than the site's, and replacing them by second names of the site's took a second
    of the claim edit that followed (freeing their blocks, mostly). The site's answer comes
    first, as soon as it is known: the build needs it to render, the back buffer's only to publish."""

    def __init__(self, out: Path, site: Manifest | None, back: Manifest | None, *, aside: bool = True,
                 catch_up: bool = True) -> None:
        """``aside``: in a forked process, which pays once the build has more to do than answer
        that nothing changed; else here, when asked, and for the site only (publishing checks
        the back buffer, if it comes to that). ``catch_up``: bring the back buffer up to the
        site meanwhile; not when the build is likely to write most pages again (a template
        edited), which publishing does anyway, while the build renders on both cores."""
        from constat.forking import Aside

        self.out, self.site, self.back, self.catch_up = out, site, back, catch_up
        self.back_dir = back_folder(out)
        self.aside = Aside(self._check_site, self._check_back) if aside and site is not None else None

    def _check_site(self) -> Found:
        return self.site.check(self.out) if self.site is not None else None

    def _check_back(self) -> tuple[Found, dict[str, Entry] | None, Recorded | None] | None:
        """What the back buffer's manifest says of it, what was caught up, and what a program of
        the last build's recorded (``recorded``), which the manifest checked takes in."""
        back = self.back
        wait_for_mirror(self.back_dir)  # at once, unless a program of the last build's is still at work
        with_record_of = recorded(self.out, self.site, back) if self.site is not None else None
        if with_record_of is not None and self.site is not None:
            back = with_record(self.site, back, with_record_of)
        if back is None:
            return None
        found = back.check(self.back_dir)
        return found, self._catch_up(back, found) if self.catch_up else {}, with_record_of

    def _catch_up(self, back: Manifest, back_found: Found) -> dict[str, Entry] | None:
        """The files of the back buffer, trusted and whole, that held another version than the
        site's and are now second names of the site's files (as publishing does it; most of the
        time goes to the file system freeing the older versions' blocks). A file publishing
        writes anyway is caught up for nothing: a build changes a few files, or renders them all.
        Why links rather than copies: docs/architecture.md, "publishing is a swap".

        None when one could not be linked (a full disk): the back buffer may hold a file its
        manifest does not know (the link made aside); it is then trusted for nothing, and made
        again."""
        if self.site is None:
            return {}
        back_files, closed = back.verdict(self.back_dir, back_found)
        if not closed:
            return {}  # publishing makes a new back buffer
        stale = [(rel, entry) for rel, entry in self.site.files.items()
                 if (held := back_files.get(rel)) is not None and held.sha != entry.sha]
        if len(stale) < CATCH_UP_FROM:
            return {}
        done = {}
        for rel, entry in stale:
            source, target = f"{self.out}/{rel}", f"{self.back_dir}/{rel}"
            if not _as_recorded(source, entry):  # the site's answer is the build's, not this stage's
                continue  # edited by hand: publishing sees to it
            try:
                _link_over(source, target)
            except OSError:
                return None
            done[rel] = entry  # the site's file, under a second name
        return done

    @cached_property
    def site_verified(self) -> tuple[dict[str, Entry], bool]:
        if self.site is None:
            return {}, False
        found = self.aside.result(0) if self.aside is not None else self._check_site()
        return self.site.verdict(self.out, found)

    @cached_property
    def _back_answer(self) -> tuple[Found, dict[str, Entry] | None] | None:
        answer = self.aside.result(1) if self.aside is not None else None
        if answer is None:
            return None
        found, caught_up, with_record_of = answer
        if with_record_of is not None and self.site is not None:  # the back buffer's manifest from now on
            self.back = with_record(self.site, self.back, with_record_of)
        return found, caught_up

    @cached_property
    def back_verified(self) -> tuple[dict[str, Entry], bool] | None:
        """None: not checked (publish_site checks it). Asked for before ``back``, which it may set."""
        if self._back_answer is None or self.back is None:
            return None
        found, caught_up = self._back_answer
        if caught_up is None:
            return {}, False  # it may hold a link made aside: publishing makes a new back buffer
        files, closed = self.back.verdict(self.back_dir, found)
        return {**files, **caught_up}, closed

    def back_after(self) -> tuple[bool, Manifest | None]:
        """For a build that publishes nothing (an input error): whether the back buffer changed
        since its manifest was made (caught up, or a catch-up that failed), and its manifest now,
        for the next build to trust it (None: the next build makes it again)."""
        answer = self._back_answer
        if answer is None or answer[1] == {}:
            return False, None
        verified = self.back_verified
        if verified is None or not verified[1]:
            return True, None
        return True, Manifest.scan(self.back_dir, verified[0])


@dataclass(frozen=True)
class WriteReport:
    written: int
    """Files new or changed."""
    unchanged: int
    removed: int
    """Files of the previous site that the new one no longer has."""


@dataclass
class Written:
    report: WriteReport
    site: Manifest
    back: Manifest | None
    """The back buffer after this build, or None when there is none to trust."""


def publish(files: Mapping[str, bytes | Spooled], out: Path) -> WriteReport:
    """Replace the folder ``out`` by exactly ``files``: all of them or, on any failure, none.

    Without the previous build's manifests, every file already there is read to be compared."""
    return publish_site(files, out).report


def publish_site(files: Mapping[str, bytes | Spooled], out: Path, *, keep: dict[str, str] | None = None,
                 site: Manifest | None = None, back: Manifest | None = None,
                 verified: tuple[dict[str, Entry], bool] | None = None,
                 back_verified: tuple[dict[str, Entry], bool] | None = None, spool: Spool | None = None) -> Written:
    """``files`` (path → bytes, or a file in ``spool``, which is moved) plus ``keep`` (path → hash
    of a file already in ``out``, not rendered again). The spool must hold nothing but files of ``files``:
    for a first build it becomes the staging folder.

    ``site`` and ``back`` are the manifests the previous build returned; without them every file
    already there is read to be compared. ``verified`` and ``back_verified``: what their
    ``verified`` says, when it was found already (class Checked).
    """
    keep = keep or {}
    out = out.resolve()
    for rel in [*files, *keep]:
        if not is_safe(rel):
            check_output_path(rel)  # raises
    recover(out)
    staging, old, back_dir = out.parent / f".{out.name}.staging", out.parent / f".{out.name}.old", back_folder(out)
    wait_for_mirror(back_dir)
    if back_verified is None and site is not None and (found := recorded(out, site, back)) is not None:
        back = with_record(site, back, found)  # what a program of the last build's did (not seen by Checked)
    if staging.exists():
        shutil.rmtree(staging)
    if not out.is_dir():
        return _first(files, out, staging, back_dir, spool)

    trusted, closed = verified if verified is not None else (site or Manifest()).verified(out)
    trusted = dict(trusted)
    wanted: dict[str, str] = {}
    for rel, sha in keep.items():
        if trusted.get(rel, Entry("", 0, 0, 0)).sha != sha:
            raise ValueError(f"{rel} was kept but is not in the output folder as recorded")
        wanted[rel] = sha
    data: dict[str, bytes | Spooled] = {}
    for rel, content in files.items():
        sha = content.sha if isinstance(content, Spooled) else digest(content)
        wanted[rel] = sha
        if rel not in trusted and _same_bytes(out / rel, content):
            trusted[rel] = Entry.of(sha, out / rel)  # there already, as a clean build would write it
        if trusted.get(rel, Entry("", 0, 0, 0)).sha != sha:
            data[rel] = content
    present = set(trusted) if closed else {p.relative_to(out).as_posix() for p in _files(out)}
    gone = present - wanted.keys()
    if not data and not gone and closed:
        return Written(WriteReport(0, len(wanted), 0), Manifest.scan(out, trusted),
                       _back_as_is(back, back_dir, back_verified))

    back_files = _prepare_back(back_dir, back, out, trusted, back_verified)
    try:
        new_site = _update(back_dir, back_files, wanted, data, out, trusted)
        _swap(back_dir, out, old)
        with contextlib.suppress(OSError):  # it described the folder now served (and two swaps later, wrongly)
            mirror_record(out).unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(back_dir, ignore_errors=True)  # half updated: the next build makes a new one
        raise
    # The exchanged folder is now the back buffer: the previous site, as far as it was trusted.
    previous_back = None
    if closed and back_dir.is_dir():
        # The site just swapped out, untouched since it was verified: its folders are as its
        # manifest recorded them (the rename may change the top one's time).
        same = site is not None and site.files.keys() == trusted.keys()
        previous_back = (Manifest(dict(trusted), {**site.dirs, "": _mtime(back_dir)}) if same and site
                         else Manifest.scan(back_dir, trusted))
    shutil.rmtree(old, ignore_errors=True)
    report = WriteReport(len(data), len(wanted) - len(data), len(gone))
    return Written(report, Manifest.scan(out, new_site), previous_back)


def _back_as_is(back: Manifest | None, back_dir: Path,
                back_verified: tuple[dict[str, Entry], bool] | None) -> Manifest | None:
    """The back buffer's manifest when nothing is published: as recorded, or as Checked caught it up."""
    if back is None or back_verified is None or back_verified[0] == back.files:
        return back
    return Manifest.scan(back_dir, back_verified[0]) if back_verified[1] else None


def _first(files: Mapping[str, bytes | Spooled], out: Path, staging: Path, back_dir: Path,
           spool: Spool | None) -> Written:
    """No site yet: the staging folder (the spool, which has the rendered files in place, plus the
    files made in memory) is renamed into place."""
    if back_dir.exists():
        shutil.rmtree(back_dir)
    entries: dict[str, Entry] = {}
    made: set[Path] = set()
    try:
        spooled = spool.folder if spool is not None and spool.tree and spool.folder.is_dir() else None
        if spooled is not None:
            spooled.rename(staging)
        else:
            staging.mkdir(parents=True)
        jobs = []
        for rel in sorted(files):
            target, content = staging / rel, files[rel]
            if spooled is not None and isinstance(content, Spooled) and content.path == f"{spooled}/{rel}":
                entries[rel] = Entry.of(content.sha, target)  # there already
                continue
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            jobs.append((rel, target))
        for rel, entry in _in_threads(lambda job: (job[0], _write_new(job[1], files[job[0]])), jobs):
            entries[rel] = entry
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    entries = dict(sorted(entries.items()))
    return Written(WriteReport(len(files), 0, 0), Manifest.scan(out, entries), _mirror(out, back_dir, entries))


def _mirror(out: Path, back_dir: Path, entries: dict[str, Entry]) -> Manifest | None:
    """The back buffer of a first build: hard links to every file of the site just published, so
    that the first edit after it costs what the next ones do. Making its folders is most of it
    (12,000 folders at 10,000 claims: 0.4 to 1.6 s here), which the first edit paid before.
    A large site's is made by a program of its own (``_mirror_aside``) while the build returns:
    its manifest is then None, and the next build has it from what the program recorded
    (``recorded``; or, without a record it can trust, keeps what it finds linked: ``_adopt``). None
    too when it cannot be made whole: the next build makes it."""
    if len(entries) >= MIRROR_ASIDE_FROM and _mirror_aside(out, back_dir):
        return None
    try:
        linked = _prepare_back(back_dir, None, out, entries)
        if len(linked) == len(entries):
            return Manifest.scan(back_dir, linked)
    except OSError:
        pass
    shutil.rmtree(back_dir, ignore_errors=True)
    return None


MIRROR_ASIDE_FROM = 2000
"""Files from which a first build's back buffer is made aside: a program's start (some 20 ms)
is worth it. Every build in a continuous integration job is a first build, whose back buffer
nothing will use."""

_MIRRORS: list[subprocess.Popen[bytes]] = []
"""The programs making a back buffer that this process started (reaped when the next starts)."""


def _mirror_aside(out: Path, back_dir: Path) -> bool:
    """Start constat/mirror.py on ``back_dir``, made empty here, holding its lock; False when it
    cannot be (the back buffer is then made here)."""
    record = mirror_record(out)
    try:
        record.unlink(missing_ok=True)  # an earlier back buffer's
        back_dir.mkdir()
    except OSError:
        return False
    try:
        _start_mirror([str(out), str(back_dir), str(record)], back_dir)
    except OSError:
        with contextlib.suppress(OSError):
            back_dir.rmdir()
        return False
    return True


def _start_mirror(arguments: list[str], back_dir: Path) -> None:
    """Start constat/mirror.py with ``arguments``, handing it the back buffer's lock; OSError
    when it cannot be started."""
    started = start_holding([sys.executable, "-I", str(Path(__file__).with_name("mirror.py")), *arguments],
                            [str(back_dir)])
    _MIRRORS[:] = [*(running for running in _MIRRORS if running.poll() is None), started]


def back_folder(out: Path) -> Path:
    """The back buffer of the output folder ``out``: beside it."""
    return out.parent / f".{out.name}.back"


def mirror_record(out: Path) -> Path:
    """Where constat/mirror.py says what it made: in the build cache's folder."""
    from constat.cache import folder  # (constat.cache imports this module)

    return folder(out) / "mirror.json"


Recorded = tuple[list[str] | None, dict[str, int]]
"""What a record of constat/mirror.py says: the paths of the back buffer that are now second
names of the site's files (None: all of the site's files), and the times of their folders."""


def recorded(out: Path, site: Manifest, back: Manifest | None) -> Recorded | None:
    """What constat/mirror.py recorded, when it describes this back buffer: made after the first
    build whose site's manifest is ``site`` (``back`` None: there is no other manifest), or caught
    up after the build whose manifests are ``site`` and ``back``. None without such a record, or
    while the program is still at work (Checked waits for it first): the build then keeps what
    it finds linked (_adopt), or catches up itself (Checked._catch_up).
    Trusted no more than any manifest (``with_record``): Checked looks at every file and
    folder it names, and a file added since changes its folder's time."""
    import json

    from constat.mirror import paths_digest

    back_dir = back_folder(out)
    if held_elsewhere(back_dir):
        return None
    try:
        record = json.loads(mirror_record(out).read_bytes())
        st = os.lstat(back_dir)
        if record["folder"] != [st.st_dev, st.st_ino]:
            return None
        folders = {str(rel): int(t) for rel, t in record["folders"].items()}
        if back is None:
            return (None, folders) if record.get("files") == paths_digest(site.files) else None
        paths = record.get("paths")
        if not isinstance(paths, list) or not all(p in site.files and p in back.files for p in paths):
            return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # no record, or not one this writes
        return None
    return paths, folders


def with_record(site: Manifest, back: Manifest | None, found: Recorded) -> Manifest:
    """The back buffer's manifest once constat/mirror.py did what it recorded (``recorded``):
    its files second names of the site's (the same inodes, sizes and times), its folders' times."""
    paths, folders = found
    if paths is None or back is None:
        return Manifest(dict(site.files), folders)
    return Manifest({**back.files, **{rel: site.files[rel] for rel in paths}}, {**back.dirs, **folders})


def catch_up_aside(out: Path, site: Manifest | None, back: Manifest | None) -> None:
    """Start constat/mirror.py --catch-up on the back buffer's files that hold another version
    than the site's, when there are CATCH_UP_AFTER_FROM or more (a template edit): the next build then
    finds them caught up, unless it starts at once (it then waits for the program, which holds
    the back buffer's lock). Nothing when the program cannot be started: Checked catches up.
    Called once the build has written all it writes: started as soon as the site was published,
    the program's 20,000 changes to the file system slowed down the build's saving of its
    cache (a template edit at 10,000 claims took some 0.5 s more)."""
    if site is None or back is None:
        return
    stale = [rel for rel, entry in site.files.items() if (held := back.files.get(rel)) is not None
             and held.sha != entry.sha]
    if len(stale) < CATCH_UP_AFTER_FROM:
        return
    record, back_dir = mirror_record(out), back_folder(out)
    listing = record.with_name("mirror-paths")
    with contextlib.suppress(OSError):
        record.unlink(missing_ok=True)  # an earlier back buffer's
        listing.write_text("\n".join(stale), encoding="utf-8")
        _start_mirror(["--catch-up", str(out), str(back_dir), str(record), str(listing)], back_dir)


def wait_for_mirror(back_dir: Path) -> None:
    """Return once no program is making the back buffer (``_mirror_aside``): at once, nearly
    always. Publishing calls it before it touches the back buffer."""
    held_elsewhere(back_dir, wait=True)


def _prepare_back(back_dir: Path, back: Manifest | None, out: Path, trusted: dict[str, Entry],
                  verified: tuple[dict[str, Entry], bool] | None = None) -> dict[str, Entry]:
    """The back buffer's files as the manifest can vouch for them; when it cannot vouch for the
    whole folder, what can be kept of it (``_adopt``), or a fresh one of hard links."""
    good: dict[str, Entry] = {}
    if back is not None:
        good, closed = verified if verified is not None else back.verified(back_dir)
        if closed:
            return good
    if back_dir.is_dir() and not back_dir.is_symlink():
        try:
            return _adopt(back_dir, out, trusted, good)
        except OSError:
            pass  # made again below
    remove(back_dir)
    back_dir.mkdir(parents=True)
    made: set[Path] = {back_dir}
    linked: dict[str, Entry] = {}
    for rel, entry in trusted.items():
        target = back_dir / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        try:
            os.link(out / rel, target)
            linked[rel] = entry
        except OSError:
            pass  # no hard links here: the update writes a copy
    return linked


def _adopt(back_dir: Path, out: Path, trusted: dict[str, Entry], good: dict[str, Entry]) -> dict[str, Entry]:
    """A back buffer without a manifest that vouches for all of it: after ``build.py --fresh``, or
    a new version of Constat, which both ignore the cache, or a file in it changed by hand. What
    it can still vouch for (``good``: as recorded) and the files that are second names of the
    site's trusted files (the same inode: the same bytes) are kept; anything else is removed, so
    that the folder holds exactly the entries returned. Removing the folder and linking it all
    again took 1.5 s of the first claim edit after a fresh build, at 10,000 claims."""
    same_disk = os.lstat(back_dir).st_dev == os.lstat(out).st_dev  # else an inode says nothing
    kept: dict[str, Entry] = {}

    def walk(folder: str, prefix: str) -> bool:
        """Keep what can be kept in ``folder``; True when nothing is left in it."""
        with os.scandir(folder) as listing:
            found = list(listing)
        empty = True
        for item in found:
            rel = prefix + item.name
            st = item.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if walk(item.path, rel + "/"):
                    os.rmdir(item.path)
                else:
                    empty = False
                continue
            entry = good.get(rel)
            site = trusted.get(rel)
            if entry is None and same_disk and site is not None and stat.S_ISREG(st.st_mode) \
                    and st.st_ino == site.ino:
                entry = site
            if entry is None:
                os.unlink(item.path)
            else:
                kept[rel] = entry
                empty = False
        return empty

    walk(str(back_dir), "")
    return kept


def _update(back_dir: Path, back_files: dict[str, Entry], wanted: dict[str, str], data: dict[str, bytes | Spooled],
            out: Path, trusted: dict[str, Entry]) -> dict[str, Entry]:
    """Make the back buffer hold exactly ``wanted``; return its entries."""
    result: dict[str, Entry] = {}
    made: set[Path] = set()
    jobs: list[tuple[str, Path, bool]] = []
    for rel, sha in wanted.items():
        current = back_files.get(rel)
        same = trusted.get(rel)
        if same is not None and same.sha == sha:  # unchanged since the site now served: the same file
            if current is None or current.ino != same.ino:  # (Checked may have linked it already)
                if current is None:  # else the file is there, and so is its folder
                    _ensure_parent(back_dir / rel, made)
                _link_over(f"{out}/{rel}", f"{back_dir}/{rel}")
            result[rel] = same
        elif current is not None and current.sha == sha:
            result[rel] = current
        else:
            target = back_dir / rel  # a path made only for the files that change: 12,000 cost 30 ms
            if current is None:  # else the file is there, and so is its folder
                _ensure_parent(target, made)
            result[rel] = Entry(sha, 0, 0, 0)  # its place; the entry comes with the write below
            # The back buffer's own file (not the one site/ serves): overwritten where it is.
            jobs.append((rel, target, current is not None and (same is None or current.ino != same.ino)))
    for rel, entry in _in_threads(
            lambda job: (job[0], _write_over(job[1], data[job[0]], result[job[0]].sha, own=job[2])), jobs):
        result[rel] = entry
    for rel in back_files.keys() - wanted.keys():  # the back buffer holds exactly back_files
        path = back_dir / rel
        path.unlink(missing_ok=True)
        _prune(path.parent, back_dir)
    return result


WRITERS = 4
"""Threads writing files: the system calls (create, write, rename, stat) let go of the GIL, and
creating thousands of files is mostly waiting for them. Folders are made first, in order."""


def _in_threads(work: Callable[[T], R], jobs: list[T]) -> list[R]:
    """``work`` over ``jobs``, in order; the first exception is raised here once they all stopped."""
    if len(jobs) < 64:
        return [work(job) for job in jobs]
    # In runs of jobs: a future per file cost more than writing it over (40 µs against 25).
    runs = [jobs[n:n + 64] for n in range(0, len(jobs), 64)]
    from concurrent.futures import ThreadPoolExecutor  # 4 ms of imports a build needs only here

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return [result for done in pool.map(lambda run: [work(job) for job in run], runs) for result in done]


def _write_new(target: Path, content: bytes | Spooled) -> Entry:
    if isinstance(content, Spooled):
        move(content, target)
        return Entry.of(content.sha, target)
    target.write_bytes(content)
    return Entry.of(digest(content), target)


def _write_over(target: Path, content: bytes | Spooled, sha: str, *, own: bool = False) -> Entry:
    """Replace ``target``. When it is the back buffer's ``own`` file, its bytes are written over
    where they are: the back buffer is not served, and a build that stops half-way leaves it
    unverifiable, so the next build makes it again. Replacing it by a new file costs the file
    system freeing the old one's blocks, then allocating the new one's (1.0 s against 0.35 s for
    10,000 pages here). Any other file is written aside (or taken from the spool), then renamed
    over it: never a half-written file, and never a change to a file site/ shares."""
    if own and _overwrite(target, content.read() if isinstance(content, Spooled) else content):
        return Entry.of(sha, target)
    if isinstance(content, Spooled):
        move(content, target)
        return Entry.of(sha, target)
    tmp = target.with_name(target.name + ".constat-tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    return Entry.of(sha, target)


def _overwrite(target: Path, data: bytes) -> bool:
    """Write ``data`` over the regular file ``target`` if it has no other name; else False."""
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return False
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, len(data))
        return True
    finally:
        os.close(fd)


def _ensure_parent(target: Path, made: set[Path]) -> None:
    if target.parent not in made:
        if target.parent.exists() and not target.parent.is_dir():
            target.parent.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        made.add(target.parent)


def _link_over(source: str, target: str) -> None:
    """``target`` replaced by a second name of ``source`` (a copy where there are no hard links).
    Paths as strings: publishing may link thousands of files."""
    tmp = target + ".constat-tmp"
    try:
        os.link(source, tmp)
    except OSError:  # a killed build's left-over, or no hard links here
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
    os.replace(tmp, target)


def _prune(folder: Path, top: Path) -> None:
    while folder != top:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _files(folder: Path) -> list[Path]:
    found = []
    for dirpath, _, names in os.walk(folder):
        found += [Path(dirpath, n) for n in names]
    return found


def recover(out: Path) -> None:
    """Finish a swap that a killed process left half done: the previous site comes back."""
    old = out.parent / f".{out.name}.old"
    if not out.exists() and old.is_dir():
        old.rename(out)


def _same_bytes(path: Path, content: bytes | Spooled) -> bool:
    try:
        if not path.is_file() or path.is_symlink():
            return False
        data = content.read() if isinstance(content, Spooled) else content
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _swap(staging: Path, out: Path, old: Path) -> None:
    """Make ``staging`` the new ``out``, and ``out`` the new ``staging``, atomically where the system allows it."""
    if _exchange(staging, out):
        return
    # No atomic exchange: three renames. A crash between them leaves ``old``, which recover() restores.
    out.rename(old)
    staging.rename(out)
    old.rename(staging)


def _exchange(a: Path, b: Path) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): both names swap in one step, so ``b`` always exists."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)
