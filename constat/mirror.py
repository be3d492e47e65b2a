"""The back buffer of a first build, and its catch-up after a template edit, made by a program of
its own once the site is in place.

``python -I mirror.py SITE BACK [RECORD]``: BACK is an empty folder; it gets the folders of SITE
and a second name (a hard link) of each of its files. The build that starts it hands it BACK's
lock (forking.start_holding): it is let go when this program ends, whole or not, and a build
waits for it before touching the back buffer (constat/write.py, ``wait_for_mirror``). A back
buffer left half made is no harm: the next build keeps what it can vouch for (``write._adopt``).

Once every link is made, it writes RECORD (JSON, replaced in one rename, so that it exists only
for a whole back buffer): the back folder's identity, the digest of the paths it linked
(``paths_digest``) and each folder's modification time. With it the next build has the back
buffer's manifest (``write.recorded``, ``write.with_record``: the site's files, whose second
names these are, and these folders) and checks it as it checks any manifest, instead of walking
the back buffer to find what it holds (1 s of the first edit after a clean build, at 10,000
claims).

``python -I mirror.py --catch-up SITE BACK RECORD LISTING`` (``catch_up``): after a template
edit, the files of BACK that the edit changed in SITE replaced by second names of SITE's, and
RECORD says which, with their folders' times (``write.with_record`` makes the manifest from it).

A program rather than a forked copy of the build, which would copy each page of the build's
memory it wrote to; it imports nothing of Constat (run with ``-I``, its own folder is not even
on the path), so it starts in some 20 ms.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable


def paths_digest(paths: Iterable[str]) -> str:
    """What a back buffer's record says of the files linked: the hash of their sorted paths."""
    return hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()


def mirror(site: str, back: str, record: str | None = None) -> None:
    folders, files = [""], []

    def unreadable(error: OSError) -> None:
        raise error  # a folder left out would be a back buffer without it: no record then

    for folder, _, names in os.walk(site, onerror=unreadable):  # a folder before the folders in it
        rel = folder[len(site) + 1:]
        target = back + folder[len(site):]
        if folder != site:
            os.mkdir(target)
            folders.append(rel)
        for name in names:
            os.link(f"{folder}/{name}", f"{target}/{name}")
            files.append(f"{rel}/{name}" if rel else name)
    if record:
        _record(back, record, {"files": paths_digest(files)}, folders)


def catch_up(site: str, back: str, record: str, listing: str) -> None:
    """Each path of the file ``listing`` (one a line) in BACK replaced by a second name of the
    same path in SITE: after a template edit, the back buffer holds thousands of pages older
    than the site's, which the next build would otherwise replace first (a second at 10,000
    claims). Then RECORD: those paths, and their folders' times."""
    with open(listing, encoding="utf-8") as f:
        paths = f.read().split("\n")
    for rel in paths:
        tmp = f"{back}/{rel}.constat-tmp"  # as write._link_over names it
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.link(f"{site}/{rel}", tmp)
        os.replace(tmp, f"{back}/{rel}")
    _record(back, record, {"paths": paths}, sorted({rel.rpartition("/")[0] for rel in paths}))
    os.unlink(listing)  # its paths are in the record now (some 700 KB at 10,000 claims)


def _record(back: str, record: str, linked: dict[str, object], folders: list[str]) -> None:
    st = os.lstat(back)
    times = {rel: os.lstat(f"{back}/{rel}" if rel else back).st_mtime_ns for rel in folders}
    with open(f"{record}.tmp", "w", encoding="utf-8") as f:
        json.dump({"folder": [st.st_dev, st.st_ino], **linked, "folders": times}, f)
    os.replace(f"{record}.tmp", record)


if __name__ == "__main__":
    if sys.argv[1] == "--catch-up":
        catch_up(*sys.argv[2:6])
    else:
        mirror(*sys.argv[1:4])
