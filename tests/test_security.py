"""Hostile input: nothing an input file says gets out of its place in any output, or stalls the build."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import MINI, REPO, build_py, cli, copy_project, leftovers, tree

MARK = "pwned"
"""Every payload calls alert("pwned…"): if that ever lands in live markup, a page runs it."""
TEXT_PAYLOADS = [
    f'<script>alert("{MARK}1")</script>',
    f'"><img src=x onerror=alert("{MARK}2")>',
    f"'><svg onload=alert('{MARK}3')>",
    f'</script><script>alert("{MARK}4")</script><!--',
    f"{{{{ '{MARK}5' }}}}{{% raw %}}",
    f'=HYPERLINK("https://evil.example","{MARK}6")',
    f"javascript:alert('{MARK}7')",
    f"]]><x>{MARK}8</x>",
]
"""For plain-text fields: all of it must come out as text."""
MARKDOWN_PAYLOADS = [
    f'&lt;script&gt;alert("{MARK}9")&lt;/script&gt;',
    f'`</script><script>alert("{MARK}10")</script>`',
    f"\\<img src=x onerror=alert('{MARK}11')>",
]
"""For Markdown fields: constructions Markdown keeps as text (raw HTML and bad links are refused)."""


def _payload(n: int) -> str:
    return TEXT_PAYLOADS[n % len(TEXT_PAYLOADS)]


def _rewrite(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6), encoding="utf-8")


def hostile_project(root: Path) -> Path:
    """The mini fixture with a payload in every field of every kind of input file."""
    copy_project(MINI, root)
    counter = iter(range(10**6))

    def site(d: dict[str, Any]) -> None:
        d["title"] = "Mini " + _payload(next(counter))
        d["description"] = _payload(next(counter))
        d["publisher"]["name"] = _payload(next(counter))
        d["licence"]["name"] = _payload(next(counter))
        d["dossier"]["title"] = _payload(next(counter))
        d["dossier"]["introduction"] = " ".join(MARKDOWN_PAYLOADS)

    _rewrite(root / "site.yaml", site)

    def statuses(d: list[dict[str, Any]]) -> None:
        for status in d:
            status["label"] = status["label"] + " " + _payload(next(counter))
            status["description"] = status["description"] + " " + " ".join(MARKDOWN_PAYLOADS)

    _rewrite(root / "statuses.yaml", statuses)
    for article in sorted((root / "content").glob("*.md")):
        _, front, body = article.read_text(encoding="utf-8").split("---\n", 2)
        data = yaml.safe_load(front)
        for key in ("title", "publisher", "summary"):
            data[key] = _payload(next(counter))
        data["authors"] = [_payload(next(counter))]
        body += "\n" + "\n\n".join(MARKDOWN_PAYLOADS) + "\n"
        article.write_text("---\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6)
                           + "---\n" + body, encoding="utf-8")
    for claim in sorted((root / "claims").glob("*/*.yaml")):
        def change(d: dict[str, Any], claim: Path = claim) -> None:
            for key in ("speaker_role", "summary", "note", "reviewed_by"):
                d[key] = _payload(next(counter))
            d["speaker"] = "Orateur " + _payload(next(counter))
            d["short_claim"] = _payload(next(counter))[:70]
            d["tags"] = [_payload(next(counter))]
            d["verdict"] = "\n\n".join(MARKDOWN_PAYLOADS)
            d["context"] = MARKDOWN_PAYLOADS[0]
            for source in d.get("sources") or []:
                source["title"], source["publisher"] = _payload(next(counter)), _payload(next(counter))
                source["excerpt"] = _payload(next(counter))
            if d.get("figures"):
                d["figures"]["unit"] = _payload(next(counter))
            for correction in d.get("corrections", []):
                correction["text"] = MARKDOWN_PAYLOADS[1]
            if claim.stem == "pont-travaux":  # a quote that is itself a payload, found in its article
                d["quote"] = f'</script><script>alert("{MARK}10")</script>'

        _rewrite(claim, change)
    return root


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _live_markup_problems(name: str, html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    found = []
    for tag, attrs in parser.elements:
        if tag in ("iframe", "object", "embed", "img", "style", "base", "frame", "link") and not (
                tag == "link" and attrs.get("rel") in ("stylesheet", "canonical", "alternate", "icon")):
            found.append(f"{name}: <{tag}>")
        if tag == "script" and not (attrs.get("type") == "application/ld+json"
                                    or (attrs.get("type") == "module" and str(attrs.get("src")).endswith(
                                        "/static/search.js"))):
            found.append(f"{name}: a script that is not ours: {attrs}")
        found += [f"{name}: <{tag} {a}=…>" for a in attrs if a.startswith("on")]
        for attribute in ("href", "src", "action", "content"):
            value = (attrs.get(attribute) or "").strip().lower()
            if value.startswith(("javascript:", "data:", "vbscript:")):
                found.append(f"{name}: <{tag} {attribute}={value[:40]}>")
    for script in parser.scripts:
        data = json.loads(script)  # the JSON-LD still parses: no value broke out of it
        assert isinstance(data, dict)
    if f'alert("{MARK}' in html.replace("&quot;", "\u0000").split("<!--")[0] and "<script>alert" in html:
        found.append(f"{name}: a payload as live markup")
    return found


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = hostile_project(tmp_path_factory.mktemp("hostile") / "p")
    run = cli("build", "--root", str(root))
    assert run.code == 0, run.err
    return root / "site"


def test_no_payload_survives_in_any_html_page(hostile_site: Path) -> None:
    pages = sorted(hostile_site.rglob("*.html"))
    problems = [p for page in pages
                for p in _live_markup_problems(str(page.relative_to(hostile_site)), page.read_text("utf-8"))]
    assert problems == []
    claim = (hostile_site / "affirmations/conseil-municipal/piscine-1200-entrees/index.html").read_text("utf-8")
    assert f"&lt;script&gt;alert(&#34;{MARK}1&#34;)&lt;/script&gt;" in claim or \
        f"&lt;script&gt;alert(&quot;{MARK}1&quot;)&lt;/script&gt;" in claim or \
        f'&lt;script&gt;alert("{MARK}1")&lt;/script&gt;' in claim, "payloads are shown, as text"
    assert "'pwned5' }}" in claim.replace("&#39;", "'"), "input is never rendered as a template"
    review = json.loads(claim.split('<script type="application/ld+json">')[1].split("</script>")[0])
    assert MARK in json.dumps(review), "the payload is in the JSON-LD as data"


def test_no_payload_survives_in_the_feeds_the_data_or_the_search_index(hostile_site: Path) -> None:
    for name in ("feed.xml", "sitemap.xml"):
        root = ET.parse(hostile_site / name).getroot()  # well-formed: nothing broke out
        assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] in ("script", "x")]
    data = json.loads((hostile_site / "donnees/affirmations.json").read_text("utf-8"))
    assert any(MARK in json.dumps(c) for c in data["claims"])
    for row in csv.reader(io.StringIO((hostile_site / "donnees/affirmations.csv").read_text("utf-8"))):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), f"a spreadsheet would run {cell[:40]}"
    fragments = list((hostile_site / "recherche/index/f").glob("*.json"))
    assert fragments
    for fragment in fragments:
        record = json.loads(fragment.read_text("utf-8"))
        # The search page shows index text with textContent only; the index must stay data.
        assert isinstance(record["text"], str) and isinstance(record["title"], str)
    assert any(MARK in fragment.read_text("utf-8") for fragment in fragments), "the payload is there, as text"
    for name in ("search.js", "lexicon.js"):
        script = (REPO / "templates/static" / name).read_text("utf-8")
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script, name


def test_dangerous_links_in_every_markdown_field_are_refused_at_their_line(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    claim = root / "claims/budget-regional/emplois-300.yaml"
    claim.write_text(claim.read_text("utf-8").replace(
        "verdict: Il faudrait", "verdict: Voir [ceci](javascript:alert(1)). Il faudrait")
        + "corrections:\n  - date: 2024-05-04\n    text: '[x](vbscript:msgbox(1))'\n", "utf-8")
    site = root / "site.yaml"
    site.write_text(site.read_text("utf-8").replace(
        "introduction: Deux articles", "introduction: Voir [a](data:text/html,x). Deux articles"), "utf-8")
    run = cli("check", "--root", str(root))
    assert run.code == 1
    assert [line.split(": error:")[0] for line in run.problem_lines] == [
        "claims/budget-regional/emplois-300.yaml:7:10", "claims/budget-regional/emplois-300.yaml:12:11",
        "site.yaml:15:17"]
    assert all("[unsafe-url]" in line for line in run.problem_lines)


def _check_within(root: Path, seconds: float) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "check", "--root", str(root)],
                          capture_output=True, text=True, timeout=seconds * 4)
    assert time.monotonic() - started < seconds, "refused quickly"
    return done


@pytest.mark.parametrize(("name", "content"), [
    ("billion-laughs", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 10)}]\n" for n in range(20))),
    ("deep-nesting", "quote: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("deep-mappings", "".join("  " * n + f"k{n}:\n" for n in range(2000))),
    ("huge-file", "quote: " + "x" * 2_000_000 + "\n"),
    ("long-string", "quote: " + "x" * 900_000 + "\n"),
    ("many-keys", "".join(f"k{n}: v\n" for n in range(100_000))),
    ("markdown-brackets", "verdict: '" + "[" * 20_000 + "x'\n"),
    ("markdown-tags", "verdict: '" + "<a " * 20_000 + "'\n"),
    ("markdown-lists", "verdict: |\n" + "".join("  " + "    " * n + "* x\n" for n in range(500))),
    ("python-tag", "quote: !!python/object/apply:os.system ['touch /tmp/constat-pwned']\n"),
])
def test_hostile_yaml_is_refused_quickly_with_a_position(tmp_path: Path, name: str, content: str) -> None:
    root = copy_project(MINI, tmp_path / "p")
    target = root / "claims/budget-regional/emplois-300.yaml"
    target.write_text(content, encoding="utf-8")
    done = _check_within(root, 10)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "claims/budget-regional/emplois-300.yaml:" in done.stderr
    assert not Path("/tmp/constat-pwned").exists()


def test_symlinked_input_folders_are_refused(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    outside = tmp_path / "outside"
    (root / "claims").rename(outside)
    (root / "claims").symlink_to(outside)
    run = cli("check", "--root", str(root))
    assert run.code == 1
    assert "claims:1:1: error: claims/ is a symbolic link" in run.err


def test_a_build_killed_at_any_moment_leaves_a_whole_site(tmp_path: Path) -> None:
    """SIGKILL at spread moments of a build: site/ is always the old or the new site, whole."""
    root = copy_project(MINI, tmp_path / "p")
    assert build_py("--root", str(root)).code == 0
    old = tree(root / "site")
    article = root / "content/budget-regional.md"
    article.write_text(article.read_text("utf-8").replace("Le budget régional en hausse", "Un autre titre"), "utf-8")
    assert build_py("--root", str(root), "--out", str(tmp_path / "reference")).code == 0
    new = tree(tmp_path / "reference")
    assert new != old
    outcomes = set()
    for delay in (0.05, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 3.0):
        process = subprocess.Popen([sys.executable, str(REPO / "build.py"), "--root", str(root)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        now = tree(root / "site") if (root / "site").exists() else None
        if now is None:  # killed between two renames where no atomic exchange exists
            assert (root / ".site.old").is_dir()
            assert cli("check", "--root", str(root)).code == 0
            now = old
        assert now in (old, new), f"after a kill at {delay} s, site/ is neither the old nor the new site"
        outcomes.add("old" if now == old else "new")
        if now == new:  # start each try from the old site again
            assert build_py("--root", str(root), "--out", str(tmp_path / "scratch")).code == 0
            (root / "site").rename(tmp_path / f"done-{delay}")
            copy_old = tmp_path / f"old-{delay}"
            copy_old.mkdir()
            for name, data in old.items():
                (copy_old / name).parent.mkdir(parents=True, exist_ok=True)
                (copy_old / name).write_bytes(data)
            copy_old.rename(root / "site")
    assert build_py("--root", str(root)).code == 0
    assert tree(root / "site") == new
    assert leftovers(root) == [], "the next build cleans up what a killed one left"
    assert "old" in outcomes, "some kills landed before the swap"


def test_an_address_that_urlsplit_cannot_parse_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # Found by tests/test_fuzz.py: "https://[host" made urllib raise "Invalid IPv6 URL".
    root = copy_project(MINI, tmp_path / "p")
    claim = root / "claims/conseil-municipal/piscine-1200-entrees.yaml"
    claim.write_text(claim.read_text("utf-8").replace("url: https://mairie.example", "url: https://[mairie.example"),
                     "utf-8")
    run = cli("check", "--root", str(root))
    assert run.code == 1
    assert run.problem_lines == ['claims/conseil-municipal/piscine-1200-entrees.yaml:15:10: error: '
                                 '"https://[mairie.example/piscine/registre" is not a usable web address: it needs '
                                 'a host name and no spaces (encode a space as %20) [bad-url]']
