"""Quality gates on the built site, as browsers, validators and search engines see it.

The real project and the mini fixture (whose base_url has a sub-folder path, and which has a
claim of every status) are each built once into a temporary folder with ``build.py --out``:

- every HTML page passes the Nu HTML Checker (vnu.jar) without error (warnings are printed);
- axe-core finds no WCAG 2.0/2.1 A/AA violation on representative pages of the real site, in
  light and dark colour schemes, at a phone and a desktop viewport (tests/browser/a11y.mjs);
- every internal link, fragment and asset resolves to a file of the site (tests/linkcheck.py);
- claim pages carry a schema.org ClaimReview exactly when their status says so, and it holds
  what search engines need; no other page carries one.

The tools live outside the repository: ``bash scripts/install-browser-tools.sh`` installs them
(.ci/run does it before ``make test``). A missing tool fails these tests with that instruction:
they are never skipped, so that CI cannot pass without them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.helpers import MINI, REPO
from tests.linkcheck import check_site

TOOLS = Path(os.environ.get("CONSTAT_TOOLS") or Path.home() / ".cache" / "constat-tools").resolve()
CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
PINNED = REPO / "scripts" / "browser-tools" / "package.json"
A11Y_SCRIPT = REPO / "tests" / "browser" / "a11y.mjs"
SEARCH_SCRIPT = REPO / "tests" / "browser" / "search.mjs"
INSTALL = "run `bash scripts/install-browser-tools.sh` (tools go to $CONSTAT_TOOLS, default ~/.cache/constat-tools)"
VIEWPORTS = ("320x640", "375x812", "1280x800")
COLOUR_SCHEMES = ("light", "dark")
MAX_CLAIM_REVIEWED = 75  # Google's fact-check guidelines: claimReviewed under 75 characters
SCHEMA_ORG = ("https://schema.org", "https://schema.org/")
MEDIA_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript",
               ".json": "application/json", ".wasm": "application/wasm", ".xml": "application/xml",
               ".svg": "image/svg+xml"}


# --- the built sites ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    key: str
    label: str
    rating: int | None
    claim_review: bool


@dataclass(frozen=True)
class BuiltSite:
    name: str
    project: Path
    root: Path
    base_url: str
    statuses: dict[str, Status]  # in the order of statuses.yaml

    @property
    def base_path(self) -> str:
        return urlsplit(self.base_url).path or "/"

    def html_pages(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*.html"))

    def claim_pages(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob("affirmations/*/*/index.html")
                      if p.parent.parent.name != "page")  # affirmations/page/2/: the list's second page

    def claim_source(self, page: str) -> dict[str, Any]:
        """The claim file a claim page comes from: affirmations/<article>/<claim>/ <- claims/<article>/<claim>.yaml."""
        _, article, claim, _ = page.split("/")
        data: dict[str, Any] = yaml.safe_load((self.project / "claims" / article / f"{claim}.yaml").read_text("utf-8"))
        data["_article"] = article
        return data

    def article_front_matter(self, article: str) -> dict[str, Any]:
        text = (self.project / "content" / f"{article}.md").read_text("utf-8")
        _, front, _ = text.split("---\n", 2)
        data: dict[str, Any] = yaml.safe_load(front)
        return data


def build_site(name: str, project: Path, out: Path) -> BuiltSite:
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "build", "--root", str(project), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"the {name} project does not build:\n{done.stdout}{done.stderr}", pytrace=False)
    site = yaml.safe_load((project / "site.yaml").read_text("utf-8"))
    statuses = {s["key"]: Status(s["key"], s["label"], s["rating"], s["claim_review"])
                for s in yaml.safe_load((project / "statuses.yaml").read_text("utf-8"))}
    return BuiltSite(name, project, out, site["base_url"], statuses)


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    return build_site("real", REPO, tmp_path_factory.mktemp("real") / "site")


@pytest.fixture(scope="module")
def mini_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    return build_site("mini", MINI, tmp_path_factory.mktemp("mini") / "site")


@pytest.fixture(params=["real", "mini"])
def site(request: pytest.FixtureRequest) -> BuiltSite:
    built: BuiltSite = request.getfixturevalue(f"{request.param}_site")
    return built


class _SiteHandler(SimpleHTTPRequestHandler):
    """Serves the built folder under the base path, as the public server would."""

    base_path = "/"
    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return MEDIA_TYPES.get(os.path.splitext(path)[1].lower()) or super().guess_type(path)

    def translate_path(self, path: str) -> str:
        if not path.startswith(self.base_path):
            return os.path.join(self.directory, ".outside-the-base-path")  # a 404
        return super().translate_path("/" + path[len(self.base_path):])

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def served(root: Path, base_path: str) -> Iterator[str]:
    """http://127.0.0.1:<free port> serving a built site under its base path (no trailing slash)."""
    handler = type("Handler", (_SiteHandler,), {"base_path": base_path})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def real_site_url(real_site: BuiltSite) -> Iterator[str]:
    with served(real_site.root, real_site.base_path) as url:
        yield url


def project_copy(dest: Path, search: str) -> Path:
    """The dossier's project in ``dest``, with site.yaml's ``search:`` set to ``search``."""
    dest.mkdir()
    for name in ("site.yaml", "statuses.yaml", "content", "claims"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, dest / name)
    with (dest / "site.yaml").open("a", encoding="utf-8") as f:
        f.write(f"search:\n  {search}\n")
    return dest


@pytest.fixture(scope="module")
def pagefind_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """The dossier with Pagefind's search index (site.yaml's search.engine: pagefind)."""
    project = project_copy(tmp_path_factory.mktemp("pagefind") / "project", "engine: pagefind")
    return build_site("real, Pagefind's index", project, project / "site")


@pytest.fixture(scope="module")
def pagefind_site_url(pagefind_site: BuiltSite) -> Iterator[str]:
    with served(pagefind_site.root, pagefind_site.base_path) as url:
        yield url


def search_page(built: BuiltSite, url: str, a11y: list[str], queries: list[str]) -> dict[str, Any]:
    """What the search page shows for each query, in Chromium (tests/browser/search.mjs)."""
    done = subprocess.run([a11y[0], str(SEARCH_SCRIPT), f"{url}{built.base_path}recherche/", *queries],
                          capture_output=True, text=True, timeout=300, env=tool_env())
    if done.returncode != 0:
        pytest.fail(f"search.mjs exited {done.returncode}:\n{done.stderr[-4000:]}", pytrace=False)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


# --- the tools ---------------------------------------------------------------------------------


def require_npm_tools(*names: str) -> None:
    """The npm tools are installed at their pinned versions, or the test fails saying how to install them."""
    pinned: dict[str, str] = json.loads(PINNED.read_text("utf-8"))["dependencies"]
    problems = []
    for name in names:
        manifest = TOOLS / "node_modules" / name / "package.json"
        if not manifest.is_file():
            problems.append(f"{name} is not installed in {TOOLS}/node_modules")
        elif (version := json.loads(manifest.read_text("utf-8"))["version"]) != pinned[name]:
            problems.append(f"{name} {version} is installed but {pinned[name]} is pinned")
    if problems:
        pytest.fail("; ".join(problems) + f": {INSTALL}", pytrace=False)


def require_command(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"`{name}` is not on PATH: {INSTALL}", pytrace=False)
    return found


@pytest.fixture(scope="module")
def vnu() -> list[str]:
    """The command line of the Nu HTML Checker."""
    java = require_command("java")
    require_npm_tools("vnu-jar")
    jar = TOOLS / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
    if not jar.is_file():
        pytest.fail(f"no {jar}: {INSTALL}", pytrace=False)
    return [java, "-Xss1024k", "-jar", str(jar)]


@pytest.fixture(scope="module")
def a11y() -> list[str]:
    """The command line of the accessibility audit."""
    node = require_command("node")
    require_npm_tools("playwright-core", "axe-core")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM} (set CHROMIUM to use another): {INSTALL}", pytrace=False)
    return [node, str(A11Y_SCRIPT)]


def tool_env() -> dict[str, str]:
    return {**os.environ, "CONSTAT_TOOLS": str(TOOLS), "CHROMIUM": str(CHROMIUM)}


# --- 1. HTML validity --------------------------------------------------------------------------


def test_every_page_passes_the_nu_html_checker(site: BuiltSite, vnu: list[str]) -> None:
    assert site.html_pages(), "the build wrote no page"
    done = subprocess.run([*vnu, "--skip-non-html", "--format", "json", "--stdout", str(site.root)],
                          capture_output=True, text=True, timeout=600, env=tool_env())
    if done.returncode not in (0, 1):
        pytest.fail(f"vnu exited {done.returncode}:\n{done.stderr}{done.stdout[:2000]}", pytrace=False)
    messages: list[dict[str, Any]] = json.loads(done.stdout)["messages"]

    def describe(m: dict[str, Any]) -> str:
        url = str(m.get("url", ""))
        where = url.removeprefix(f"file:{site.root}/") if url.startswith("file:") else url
        line = m.get("firstLine", m.get("lastLine", "?"))
        extract = " ".join(str(m.get("extract", "")).split())
        return f"{where}:{line}.{m.get('firstColumn', '?')}: {m.get('message')}" + (f"  [{extract}]" if extract else "")

    warnings = [describe(m) for m in messages if m.get("type") == "info"]
    errors = [describe(m) for m in messages if m.get("type") != "info"]  # "error" and "non-document-error"
    for warning in warnings:
        print(f"vnu warning: {warning}")
    assert not errors, f"{len(errors)} vnu error(s) in the {site.name} site:\n" + "\n".join(errors)


# --- 2. accessibility --------------------------------------------------------------------------


def a11y_pages(site: BuiltSite) -> dict[str, str]:
    """The audited pages by role, as site paths: home, an article, a claim, a listing, methodology, search."""
    claims = site.claim_pages()
    articles = sorted(p.relative_to(site.root).as_posix() for p in site.root.glob("articles/*/index.html"))
    assert articles and claims, f"the {site.name} site has no article page or no claim page to audit"

    def rated(page: str) -> bool:
        status = site.statuses.get(site.claim_source(page)["status"])
        return status is not None and status.rating is not None

    claim = next((page for page in claims if rated(page)), claims[0])  # a rated claim shows the most
    links = {f'href="{site.base_path}{page.removesuffix("index.html")}"' for page in claims}
    listings = [f"verdicts/{key}/index.html" for key in site.statuses]
    listing = next((page for page in listings if (site.root / page).is_file()
                    and any(link in (site.root / page).read_text("utf-8") for link in links)), None)
    assert listing, "no /verdicts/<status>/ page lists a claim"
    pages = {"home": "index.html", "article": articles[0], "claim": claim, "listing": listing,
             "methodologie": "methodologie/index.html"}
    # The search page is being written: it is audited as soon as the build produces it.
    if (site.root / "recherche" / "index.html").is_file():
        pages["recherche"] = "recherche/index.html"
    return {role: site.base_path + page.removesuffix("index.html") for role, page in pages.items()}


def test_axe_finds_no_accessibility_violation(real_site: BuiltSite, real_site_url: str, a11y: list[str]) -> None:
    pages = a11y_pages(real_site)
    paths = list(pages.values())
    done = subprocess.run([*a11y, real_site_url, *paths], capture_output=True, text=True, timeout=900,
                          env={**tool_env(), "A11Y_TAGS": "wcag2a,wcag2aa,wcag21a,wcag21aa",
                               "A11Y_VIEWPORTS": ",".join(VIEWPORTS), "A11Y_SCHEMES": ",".join(COLOUR_SCHEMES)})
    if done.returncode not in (0, 1):
        pytest.fail(f"a11y.mjs exited {done.returncode}:\n{done.stderr[-4000:]}", pytrace=False)
    report = json.loads(done.stdout)
    assert report["axe"] == json.loads(PINNED.read_text("utf-8"))["dependencies"]["axe-core"]
    views = {(p["path"], p["viewport"], p["colorScheme"]) for p in report["pages"]}
    expected = {(path, viewport, scheme) for path in paths for viewport in VIEWPORTS for scheme in COLOUR_SCHEMES}
    assert views == expected, f"page-views audited {sorted(views)}, expected {sorted(expected)}"
    wrong_scheme = [p["url"] for p in report["pages"] if "prefersDark" in p
                    and p["prefersDark"] != (p["colorScheme"] == "dark")]
    assert not wrong_scheme, f"the colour scheme emulation did not take on {wrong_scheme}"

    role = {path: name for name, path in pages.items()}
    found = []
    for page in report["pages"]:
        for v in page["violations"]:
            found.append(f"{role[page['path']]} {page['path']} [{page['viewport']} {page['colorScheme']}] "
                         f"{v['id']} ({v.get('impact')}): {v['help']}")
            for node in v["nodes"]:
                summary = " ".join(str(node.get("failureSummary") or "").split())
                found.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:200]}\n      {summary[:400]}")
    assert not found, f"axe-core {report['axe']} violations ({', '.join(report['tags'])}):\n" + "\n".join(found)


# --- 2b. search, as a reader uses it ------------------------------------------------------------


def indexed_text(site: BuiltSite) -> dict[str, str]:
    """Each page the search covers (its URL path) → the text of its data-pagefind-body element, in lower case."""
    pages = {}
    for page in site.html_pages():
        html = (site.root / page).read_text("utf-8")
        start = html.find("data-pagefind-body")
        if start >= 0:
            text = re.sub(r"<[^>]+>", " ", html[html.index(">", start) + 1:])
            pages[site.base_path + page.removesuffix("index.html")] = " ".join(text.split()).lower()
    return pages


@pytest.mark.parametrize("engine", ["pagefind", "constat"])
def test_the_search_page_finds_every_page_holding_a_word(engine: str, request: pytest.FixtureRequest,
                                                         a11y: list[str]) -> None:
    # Words a handful of the dossier's pages hold, a word none holds, and one with an accent typed
    # without it (both indexes fold diacritics): what a reader types in the search page, in
    # Chromium, with Pagefind's index and with Constat's own (site.yaml's search.engine).
    prefix = "pagefind_site" if engine == "pagefind" else "real_site"
    built: BuiltSite = request.getfixturevalue(prefix)
    queries = {"perquisitions": "perquisitions", "Kerry": "kerry", "Molenbeek": "molenbeek", "Etat": "état"}
    if engine == "constat":  # which finds a word's singular and plural alike (docs/search-index.md)
        queries["perquisitions"] = "perquisition"
    answers = search_page(built, request.getfixturevalue(f"{prefix}_url"), a11y, [*queries, "zyxwvu"])
    pages = indexed_text(built)
    for query, word in queries.items():
        answer = answers[query]
        assert not answer["errors"], f"script errors while searching {query!r}: {answer['errors']}"
        found = [r["href"] for r in answer["results"]]
        holding = {url for url, text in pages.items() if re.search(rf"\b{word}", text)}
        assert holding, f"no page of the dossier holds {word!r}: pick another word"
        assert set(found[:len(holding)]) == holding or len(found) == 30, (
            f"{query!r}: the pages holding the word come first; found {found}, expected {sorted(holding)}")
        assert all(href in pages for href in found), f"{query!r}: a result is not a page of the site: {found}"
        count = len(found)
        assert answer["status"] == (f"{count} résultat{'s' if count > 1 else ''} pour «\u00a0{query}\u00a0»"
                                    if count < 30 else answer["status"]), answer["status"]
        loaded = "pagefind-entry.json" if engine == "pagefind" else "recherche/index/pages.json"
        assert any(r.endswith(loaded) for r in answer["requests"]), "the index was loaded"
        for result in answer["results"]:  # a window of words: French spacing makes « : » one of them
            excerpt = result["excerpt"].strip()
            assert excerpt and not re.match(r"[:;!?,.»)\]…]", excerpt) and not re.search(r"[«(\[]$", excerpt), (
                f"{query!r}: {result['href']}: an excerpt starts with the end of a phrase or ends opening one: "
                f"{excerpt!r}")
    assert answers["zyxwvu"]["results"] == []
    assert answers["zyxwvu"]["status"] == "Aucun résultat pour «\u00a0zyxwvu\u00a0»."


def test_constat_s_own_index_finds_what_pagefind_finds_and_reads_french_elisions(
        real_site: BuiltSite, real_site_url: str, pagefind_site: BuiltSite, pagefind_site_url: str,
        a11y: list[str]) -> None:
    # Words as the pages write them: Constat's own index finds every page Pagefind finds. Then
    # what it does better for French: « état d'urgence » finds the pages that say it (Pagefind
    # takes « d'urgence » for one word and finds two), and a word no page has is not answered with
    # pages that share its first letters (Pagefind gives « chiffrement » the pages with « chiffres »),
    # but a query that finds nothing is answered for the nearest words, said so (« Molenbeak »).
    # A feminine finds its masculine, as Pagefind's stemmer has it: « européenne » the pages that
    # say « européens », « juges administratifs » the one that says « administration »; and a
    # plural in -aux its singular: « bilatéraux » the pages that say « bilatéral ». Words that no
    # page has together (« NYPD Molenbeek ») are answered by the pages with the most of them.
    same = ["perquisitions", "perquisition", "Kerry", "Molenbeek", "Cazeneuve", "Jambon", "128 perquisitions",
            "territoire", "Etat islamique", "américains", "juges administratifs", "européenne"]
    pagefind = search_page(pagefind_site, pagefind_site_url, a11y, same)
    own = search_page(real_site, real_site_url, a11y,
                      [*same, "état d'urgence", "chiffrement", "Molenbeak", "bilatéraux", "NYPD Molenbeek"])
    for query in same:
        theirs, ours = ({r["href"] for r in found[query]["results"]} for found in (pagefind, own))
        assert theirs and len(theirs) < 30, f"{query!r}: compare whole answers, not their first 30"
        assert theirs <= ours, f"{query!r}: Pagefind finds {sorted(theirs - ours)}, Constat's index does not"
    pages = indexed_text(real_site)
    for query, said in [("état d'urgence", r"[ée]tat d['’]urgence"), ("chiffrement", r"\bchiffrement"),
                        ("bilatéraux", r"\bbilat[ée]ra(?:l|le|ls|les|ux)\b")]:
        holding = {url for url, text in pages.items() if re.search(said, text)}
        found = {r["href"] for r in own[query]["results"]}
        assert holding and holding <= found, f"{query!r}: not found: {sorted(holding - found)}"
        if query == "chiffrement":
            assert found == holding, f"{query!r}: pages without the word: {sorted(found - holding)}"
    # A word misspelt, which no page has: answered for the nearest word of the site, as written there.
    holding = {url for url, text in pages.items() if re.search(r"\bmolenbeek", text)}
    assert holding and {r["href"] for r in own["Molenbeak"]["results"]} == holding
    count = f"{len(holding)} résultat{'s' if len(holding) > 1 else ''}"
    assert own["Molenbeak"]["status"] == (
        f"Aucun résultat pour «\u00a0Molenbeak\u00a0». {count} pour «\u00a0Molenbeek\u00a0»\u00a0:")
    # Words that no page has together: the pages with either, each saying which word it lacks.
    nypd = {url for url, text in pages.items() if re.search(r"\bnypd", text)}
    assert nypd and holding and not nypd & holding
    answer = own["NYPD Molenbeek"]
    assert {r["href"]: r["missing"] for r in answer["results"]} == {
        **{url: "Mot absent de cette page\u00a0: «\u00a0Molenbeek\u00a0»" for url in nypd},
        **{url: "Mot absent de cette page\u00a0: «\u00a0NYPD\u00a0»" for url in holding}}
    assert answer["status"] == (f"Aucune page n’a tous les mots de «\u00a0NYPD Molenbeek\u00a0». "
                                f"{len(nypd | holding)} résultats avec une partie d’entre eux\u00a0:")
    assert not any(r["missing"] for query in same for r in own[query]["results"])


def test_an_index_in_parts_answers_as_one_index(pagefind_site: BuiltSite, pagefind_site_url: str, a11y: list[str],
                                                tmp_path: Path) -> None:
    # A large site's index comes in parts (constat/search.py): here the dossier in parts of ten
    # pages (site.yaml's search.part_pages). A word one part lacks, a misspelt word, two words
    # that no page holds together: the merged parts must give what the single index gives, and
    # the vocabulary page never shows.
    from constat import search
    from constat.pipeline import Project, build

    queries = ["perquisitions", "Kerry", "Molenbeek", "Molenbeak", "Molenbeek perquisitions", "Cazeneuve",
               "état d'urgence", "Jambon"]

    single = search_page(pagefind_site, pagefind_site_url, a11y, queries)
    root = project_copy(tmp_path / "project", "engine: pagefind\n  part_pages: 10")
    project = Project.at(root)
    report = build(project)
    assert not report.failed, [p.format() for p in report.problems]
    index = json.loads((project.out / search.PARTS_FILE).read_text("utf-8"))
    assert len(index["parts"]) > 2 and index["hidden"]
    assert not (project.out / search.VOCABULARY_PAGE).exists()
    with served(project.out, pagefind_site.base_path) as url:
        parted = search_page(pagefind_site, url, a11y, queries)
    for query in queries:
        assert not parted[query]["errors"], parted[query]["errors"]
        assert parted[query]["status"] == single[query]["status"], query
        assert (sorted(r["href"] for r in parted[query]["results"])
                == sorted(r["href"] for r in single[query]["results"])), query
        assert len(single[query]["results"]) < 30, f"{query!r}: compare whole answers, not their first 30"
        parts = {folder for folder in index["parts"] for request in parted[query]["requests"]
                 if request.startswith(f"{pagefind_site.base_path}{folder}index/")}
        assert parts == set(index["parts"]), f"{query!r}: every part is searched"
    assert any(single[q]["results"] for q in queries) and not single["Molenbeek perquisitions"]["results"]


# --- 3. links ----------------------------------------------------------------------------------


def test_every_internal_link_anchor_and_asset_resolves(site: BuiltSite) -> None:
    assert site.html_pages(), "the build wrote no page"
    broken = check_site(site.root, site.base_url)
    assert not broken, f"{len(broken)} broken link(s) in the {site.name} site:\n" + "\n".join(map(str, broken))


# --- 4. ClaimReview ----------------------------------------------------------------------------


class _JsonLdScripts(HTMLParser):
    """The text of every <script type="application/ld+json"> of a page, with its line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[tuple[int, str]] = []
        self._current: list[str] | None = None
        self._line = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and (dict(attrs).get("type") or "").strip().lower() == "application/ld+json":
            self._current, self._line = [], self.getpos()[0]

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append((self._line, "".join(self._current)))
            self._current = None


def json_ld(page: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """The parsed JSON-LD blocks of a page with their lines, and the blocks that are not JSON."""
    parser = _JsonLdScripts()
    parser.feed(page.read_text("utf-8"))
    parser.close()
    blocks, errors = [], []
    for line, text in parser.scripts:
        try:
            blocks.append((line, json.loads(text)))
        except json.JSONDecodeError as e:
            errors.append(f"line {line + e.lineno - 1}: the JSON-LD is not JSON: {e.msg}")
    return blocks, errors


def mentions_claim_review(data: Any) -> bool:
    if isinstance(data, dict):
        kind = data.get("@type")
        if kind == "ClaimReview" or (isinstance(kind, list) and "ClaimReview" in kind):
            return True
        return any(mentions_claim_review(value) for value in data.values())
    return isinstance(data, list) and any(mentions_claim_review(item) for item in data)


def is_iso_date(value: Any) -> bool:
    """YYYY-MM-DD, or an ISO 8601 date and time."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T.+)?", value):
        return False
    try:
        (datetime if "T" in value else date).fromisoformat(value)
    except ValueError:
        return False
    return True


def non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def exact_int(value: Any, expected: int) -> bool:
    return type(value) is int and value == expected


def claim_review_problems(data: Any, site: BuiltSite, page: str, status: Status, claim: dict[str, Any]) -> list[str]:
    """What is wrong with the ClaimReview of a claim page. Expected (Google's fact-check structured data):

    - a JSON object, "@context" "https://schema.org" (with or without the final slash), "@type" "ClaimReview";
    - "claimReviewed": non-blank text of fewer than 75 characters;
    - "reviewRating": {"@type": "Rating", "alternateName": the status label}, plus the integers "ratingValue"
      (the status rating), "bestRating" 5 and "worstRating" 1 when the status has a rating, and none of
      the three when it has none;
    - "url": base_url + the page's folder path (https://constat.example/affirmations/<article>/<claim>/);
    - "author": {"@type": "Organization" or "Person", "name": non-blank};
    - "datePublished": an ISO 8601 date (YYYY-MM-DD, or a date and time);
    - "itemReviewed": {"@type": "Claim", "author": {"@type": "Person", "name": the claim's speaker}
      ("Organization" when the speaker is the article's publisher), "datePublished": the claim's said_on,
      "appearance": a creative work, or a non-empty list of them, each with an "@type" and a "url" or "headline"}.
    """
    if not isinstance(data, dict):
        return ["the ClaimReview block is not a JSON object"]
    problems = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    expect(data.get("@context") in SCHEMA_ORG, f"@context is {data.get('@context')!r}, not https://schema.org")
    expect(data.get("@type") == "ClaimReview", f"@type is {data.get('@type')!r}, not ClaimReview")
    reviewed = data.get("claimReviewed")
    expect(non_empty_string(reviewed), f"claimReviewed is empty or not text: {reviewed!r}")
    if isinstance(reviewed, str):
        expect(len(reviewed) < MAX_CLAIM_REVIEWED,
               f"claimReviewed has {len(reviewed)} characters; it must be under {MAX_CLAIM_REVIEWED}: {reviewed!r}")
    rating = data.get("reviewRating")
    if isinstance(rating, dict):
        expect(rating.get("@type") == "Rating", f"reviewRating.@type is {rating.get('@type')!r}, not Rating")
        expect(rating.get("alternateName") == status.label,
               f"reviewRating.alternateName is {rating.get('alternateName')!r}, not the label {status.label!r}")
        if status.rating is None:
            for key in ("ratingValue", "bestRating", "worstRating"):
                expect(key not in rating, f"reviewRating.{key} is given but the status {status.key} has no rating")
        else:
            for key, value in {"ratingValue": status.rating, "bestRating": 5, "worstRating": 1}.items():
                expect(exact_int(rating.get(key), value), f"reviewRating.{key} is {rating.get(key)!r}, not {value}")
    else:
        problems.append(f"reviewRating is missing or not an object: {rating!r}")
    url = site.base_url + page.removesuffix("index.html")
    expect(data.get("url") == url, f"url is {data.get('url')!r}, not {url!r}")
    author = data.get("author")
    expect(isinstance(author, dict) and author.get("@type") in {"Organization", "Person"}
           and non_empty_string(author.get("name")), f"author is not an Organization or Person with a name: {author!r}")
    expect(is_iso_date(data.get("datePublished")), f"datePublished is not an ISO date: {data.get('datePublished')!r}")

    item = data.get("itemReviewed")
    if not isinstance(item, dict):
        return [*problems, f"itemReviewed is missing or not an object: {item!r}"]
    expect(item.get("@type") == "Claim", f"itemReviewed.@type is {item.get('@type')!r}, not Claim")
    # The speaker is a person, or the publication itself when the claim is the article's own words
    # (schema/claim.schema.json, "speaker"): then the claim's author is an Organization.
    publisher = site.article_front_matter(claim["_article"]).get("publisher")
    kind = "Organization" if claim["speaker"] == publisher else "Person"
    claim_author = item.get("author")
    expect(isinstance(claim_author, dict) and claim_author.get("@type") == kind
           and claim_author.get("name") == claim["speaker"],
           f"itemReviewed.author is not {{'@type': {kind!r}, 'name': {claim['speaker']!r}}}: {claim_author!r}")
    said_on = str(claim["said_on"])
    expect(item.get("datePublished") == said_on,
           f"itemReviewed.datePublished is {item.get('datePublished')!r}, not said_on {said_on!r}")
    appearance = item.get("appearance")
    works = appearance if isinstance(appearance, list) else [appearance]
    expect(bool(works) and all(isinstance(w, dict) and non_empty_string(w.get("@type"))
                               and (non_empty_string(w.get("url")) or non_empty_string(w.get("headline")))
                               for w in works),
           "itemReviewed.appearance is not a (list of) creative work(s) with @type and url or headline: "
           f"{appearance!r}")
    return problems


def test_claim_pages_carry_a_claim_review_exactly_when_their_status_has_one(site: BuiltSite) -> None:
    claims = site.claim_pages()
    problems: list[str] = []
    reviewed = 0
    for page in site.html_pages():
        blocks, errors = json_ld(site.root / page)
        problems += [f"{page}: {e}" for e in errors]
        reviews = [(line, data) for line, data in blocks if mentions_claim_review(data)]
        if page not in claims:
            problems += [f"{page}:{line}: a ClaimReview on a page that is not a claim page" for line, _ in reviews]
            continue
        claim = site.claim_source(page)
        status = site.statuses[claim["status"]]
        if not status.claim_review:
            problems += [f"{page}:{line}: a ClaimReview, but the status {status.key} has claim_review: false"
                         for line, _ in reviews]
            continue
        reviewed += 1
        if len(reviews) != 1:
            problems.append(f"{page}: {len(reviews)} JSON-LD blocks with a ClaimReview (status {status.key}); "
                            "exactly one expected")
            continue
        line, data = reviews[0]
        problems += [f"{page}:{line}: {p}" for p in claim_review_problems(data, site, page, status, claim)]
    assert reviewed, f"no claim page of the {site.name} site has a status with claim_review: true: nothing was checked"
    assert not problems, f"ClaimReview problems in the {site.name} site:\n" + "\n".join(problems)
