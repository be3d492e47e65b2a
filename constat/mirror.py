"""The back buffer of a first build, made by a program of its own once the site is in place.

``python -I mirror.py SITE BACK``: BACK is an empty folder; it gets the folders of SITE and a
second name (a hard link) of each of its files. The build that starts it hands it BACK's lock
(forking.start_holding): it is let go when this program ends, whole or not, and a build waits
for it before touching the back buffer (constat/write.py, ``wait_for_mirror``). A back buffer
left half made is no harm: the next build keeps what it can vouch for (``write._adopt``).

A program rather than a forked copy of the build, which would copy each page of the build's
memory it wrote to; it imports nothing of Constat (run with ``-I``, its own folder is not even
on the path), so it starts in some 20 ms.
"""

from __future__ import annotations

import os
import sys


def mirror(site: str, back: str) -> None:
    for folder, _, files in os.walk(site):  # a folder before the folders in it
        target = back + folder[len(site):]
        if folder != site:
            os.mkdir(target)
        for name in files:
            os.link(f"{folder}/{name}", f"{target}/{name}")


if __name__ == "__main__":
    mirror(sys.argv[1], sys.argv[2])
