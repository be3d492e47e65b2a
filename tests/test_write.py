"""Stage 5: publishing replaces the folder whole, keeps unchanged files, never writes outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from constat.spool import UnsafePath
from constat.write import publish


def test_publish_creates_replaces_and_removes(tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = publish({"index.html": b"a", "old/index.html": b"gone soon", "static/s.css": b"x"}, out)
    assert (first.written, first.unchanged, first.removed) == (3, 0, 0)
    kept = (out / "static/s.css").stat()
    second = publish({"index.html": b"b", "static/s.css": b"x"}, out)
    assert (second.written, second.unchanged, second.removed) == (1, 1, 1)
    assert (out / "index.html").read_bytes() == b"b"
    assert not (out / "old").exists()
    assert (out / "static/s.css").stat().st_mtime_ns == kept.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.back", "site"], \
        "no staging or old folder is left; the back buffer stays for the next build"


@pytest.mark.parametrize("bad", ["../escape.html", "/etc/passwd", "a/../../b", "a\\..\\b", "", "a//b"])
def test_paths_outside_the_site_are_refused_and_nothing_is_written(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "site"
    publish({"index.html": b"before"}, out)
    with pytest.raises(UnsafePath):
        publish({"index.html": b"after", bad: b"x"}, out)
    assert (out / "index.html").read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"], "nothing written: not even a back buffer"
