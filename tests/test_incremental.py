"""Incremental builds: whatever the cache holds, site/ gets exactly the bytes of a clean build.

Issue 7, item 4. The build keeps a cache beside the output folder (``site/`` → ``.site.cache/``)
and re-renders only what changed. These tests hold it to one rule: after any sequence of edits,
the incremental result is byte for byte what a clean build of the same inputs gives, files that
did not change keep their modification time, a failed build leaves the previous site alone, and
a cache that is damaged, stale or older than the site is never trusted.

A failing example prints the edits applied, in order, with the file each one touched.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from constat import pipeline
from constat.cache import read, read_state
from constat.pipeline import TOOL_ROOT, Project, Report, build
from tests.helpers import MINI, cli, copy_project, tree, tree_diff

# --- projects, clean builds, snapshots ---------------------------------------------------------


def new_project(dest: Path) -> Path:
    """The mini fixture with its own copy of the templates (a project's templates/ is used first)."""
    root = copy_project(MINI, dest)
    shutil.copytree(TOOL_ROOT / "templates", root / "templates")
    return root


def cache_folder(root: Path) -> Path:
    out = root / "site"
    return out.parent / f".{out.name}.cache"


def cache_files(root: Path) -> list[Path]:
    cache = cache_folder(root)
    return [p for p in sorted(cache.rglob("*")) if p.is_file()] if cache.is_dir() else []


Snapshot = dict[str, tuple[bytes, int]]
"""Every file of an output folder: its bytes and its modification time in nanoseconds."""


def snapshot(out: Path) -> Snapshot:
    if not out.is_dir():
        return {}
    return {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


def problem_lines(report: Report) -> tuple[str, ...]:
    return tuple(p.format() for p in report.problems)


@dataclass(frozen=True)
class Outcome:
    failed: bool
    problems: tuple[str, ...]
    site: dict[str, bytes]


def input_digest(folder: Path) -> str:
    """A hash of every file and folder (empty ones count: an empty claims folder is an input)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix().encode()
        if path.is_dir():
            digest.update(b"D" + rel + b"\0")
        else:
            data = path.read_bytes()
            digest.update(b"F" + rel + b"\0" + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def clean_build_in(folder: str) -> Outcome:
    """Run in the clean-build process: build a fresh copy of the inputs, with no site/ and no cache."""
    copy = Path(folder)
    assert not (copy / "site").exists() and not cache_folder(copy).exists()
    report = build(Project.at(copy))
    return Outcome(report.failed, problem_lines(report), tree(copy / "site"))


class CleanBuilds:
    """Clean builds of a project's inputs, in a process of their own: no state of the incremental
    builds (module-level tables, say) can leak into the reference.

    The same inputs always give the same site (test_build.py checks it), so outcomes are kept by
    the hash of the inputs: examples share many states, starting with the fixture itself.
    """

    def __init__(self) -> None:
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.done: dict[str, Outcome] = {}

    def start(self, root: Path) -> Callable[[], Outcome]:
        """Copy the inputs now and start building them; call the result to wait for the outcome."""
        scratch = Path(tempfile.mkdtemp(prefix="constat-clean-"))
        copy = copy_project(root, scratch / "p")  # leaves out site/ and every .site.* folder
        key = input_digest(copy)
        if key in self.done:
            shutil.rmtree(scratch)
            return lambda: self.done[key]
        future = self.pool.submit(clean_build_in, str(copy))

        def outcome() -> Outcome:
            if key not in self.done:
                try:
                    self.done[key] = future.result()
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
            return self.done[key]
        return outcome


@pytest.fixture(scope="module")
def clean_builds() -> Iterator[CleanBuilds]:
    builds = CleanBuilds()
    yield builds
    builds.pool.shutdown(cancel_futures=True)


OVERLAP = False
"""Run the clean build while the incremental one runs. It would halve the time of this file, but
two builds at once load the machine enough that Pagefind, terminated by its Python API as soon as
it replies to WriteFiles, sometimes leaves an index file empty (constat/search.py reads it back):
about one build in 30 with both cores busy, which would fail these tests for a reason that is not
the cache's. Turn it on once the search stage waits for Pagefind to finish writing."""


_BUILDS = itertools.count()


def build_both(root: Path, clean_builds: CleanBuilds) -> tuple[Report, Outcome]:
    """The incremental build in place (its cache reused), and a clean build of the same inputs.

    Two builds in three start as a new process does, from the cache on disk (the memo's tables and
    journal), one of them as build.py runs (``lean``: its process ends with the build); the third
    reuses the memo this process kept, as the preview server does."""
    clean = clean_builds.start(root)
    if not OVERLAP:
        clean()
    turn = next(_BUILDS) % 3
    if turn < 2:
        pipeline._IN_PROCESS.clear()
    report = build(Project.at(root), lean=turn == 0)
    if turn == 0:
        pipeline._IN_PROCESS.clear()  # nothing of a process that ended
    return report, clean()


def assert_same_as_clean(root: Path, clean_builds: CleanBuilds, context: str = "") -> None:
    """Build in place; the build succeeds and gives the bytes of a clean build."""
    report, clean = build_both(root, clean_builds)
    assert not report.failed, "\n".join(problem_lines(report))
    assert not clean.failed, "\n".join(clean.problems)
    built = tree(root / "site")
    assert built == clean.site, f"incremental site != clean build{context}\n{site_diff(clean.site, built)}"


def site_diff(clean: dict[str, bytes], built: dict[str, bytes]) -> str:
    """tree_diff of the pages (golden/ is the clean build); the search index's files only by name."""
    index = sorted(name for name in clean.keys() | built.keys()
                   if name.startswith("pagefind/") and clean.get(name) != built.get(name))
    pages = tree_diff({k: v for k, v in clean.items() if not k.startswith("pagefind/")},
                      {k: v for k, v in built.items() if not k.startswith("pagefind/")})
    return pages + ("\nsearch index files that differ: " + ", ".join(index) if index else "")


def describe_changes(before: Snapshot, after: Snapshot) -> str:
    lines = [f"gone: {n}" for n in sorted(before.keys() - after.keys())]
    lines += [f"new: {n}" for n in sorted(after.keys() - before.keys())]
    for name in sorted(before.keys() & after.keys()):
        if before[name][0] != after[name][0]:
            lines.append(f"bytes changed: {name}")
        elif before[name][1] != after[name][1]:
            lines.append(f"same bytes, new mtime: {name}")
    return "\n".join(lines[:60])


def rewritten_unchanged(before: Snapshot, after: Snapshot) -> list[str]:
    """Files with the same bytes as before whose modification time moved: they were rewritten."""
    return sorted(name for name, (data, mtime) in after.items()
                  if name in before and before[name][0] == data and before[name][1] != mtime)


# --- the edits -------------------------------------------------------------------------------


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000), encoding="utf-8")


def parses(path: Path) -> bool:
    try:
        return isinstance(read_yaml(path), dict)
    except yaml.YAMLError:
        return False


def split_article(text: str) -> tuple[dict[str, Any], str]:
    """Front matter (parsed) and body of an article written as the fixture's are."""
    assert text.startswith("---\n"), text[:40]
    end = text.index("\n---\n", 3)
    front = yaml.safe_load(text[4:end + 1])
    assert isinstance(front, dict)
    return front, text[end + 5:]


def join_article(front: dict[str, Any], body: str) -> str:
    return "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=10_000) + "---\n" + body


SUMMARIES = [
    "Le chiffre est exact, mais il date de 2022.",
    "Les comptes publiés donnent 7 %, pas davantage.",
    "Rien ne permet de l’affirmer ; la source citée ne le dit pas.",
    "C’est vrai « à peu près » : l’écart reste faible !",
]
VERDICTS = [
    "Le rapport annuel donne **3 %** de hausse.",
    "Voir [le compte rendu](https://mairie.example/compte-rendu) du conseil.\n\nLe chiffre porte sur l’année entière.",
    "Les sources consultées ne permettent pas de conclure ; nous mettrons cette page à jour.",
]
TAGS = ["Budget", "Transports", "Économie", "Sport", "Écoles", "Équipements publics"]
SPEAKERS = [
    ("Paul Témoin", "président du conseil régional"),
    ("Marie Exemple", "maire de Villeneuve-sur-Test"),
    ("Lucie Martin", "adjointe aux transports"),
    ("Jean-Pierre Nouveau", "conseiller municipal d’opposition"),
    ("marie exemple", "maire"),  # the same page as "Marie Exemple": invalid while both spellings are used
]
TITLES = [
    "Le budget régional en forte hausse",
    "Conseil municipal : « un bilan solide », selon la maire",
    "Villeneuve-sur-Test : que vaut le bilan ?",
    "L’école, le pont et la piscine",
]
ARTICLE_SUMMARIES = [
    "Article fictif, mis à jour : la séance a été reportée.",
    "Un article **imaginaire**, pour les tests ; rien n’y est vrai.",
    "Compte rendu fictif d’une séance : chiffres, promesses et dates.",
]
PARAGRAPHS = [
    "Le journal rappelle que le budget de l’an dernier était de 2 000 millions.",
    "Interrogée, l’opposition parle d’un « bilan en trompe-l’œil ».",
    "Voir aussi [le compte rendu](https://mairie.example/compte-rendu) de la séance.",
    "La séance a duré *trois heures* ; le vote a eu lieu à 22 h 30.",
]
HTML_SNIPPETS = [
    "<!-- relu par la rédaction -->\n",
    "{# une note pour la rédaction, qui ne change aucune page #}\n",
    '<p class="note">Mise à jour : « nouvelles sources » !</p>\n',
    "<p>{{ site.title }} — édition spéciale</p>\n",
    '<h1 class="bandeau">Dossier spécial : Villeneuve-sur-Test</h1>\n',  # changes the search index
]
TEMPLATE_SPOTS = [  # (template, text after which the snippet goes; "" = at the start)
    ("base.html", "<body>\n"),
    ("claim.html", "{% block main %}\n"),
    ("listing.html", "{% block main %}\n"),
    ("home.html", "{% block main %}\n"),
    ("article.html", "{% block main %}\n"),
    ("partials/claim-card.html", '<li class="card">\n'),
    ("partials/status-badge.html", ""),
    ("partials/badge.html", ""),  # rendered by the passages() function of article pages, not included
    ("partials/icons.html", ""),  # a macro library: text outside the macros prints nowhere
    ("feed.xml", "?>\n"),
    ("static/style.css", ""),
]
BASE_URLS = ["https://verif.example/dossier/", "https://verif.example/", "https://autre.example/archives/2015/"]
SITE_TITLES = ["Mini Constat, le dossier", "Vérifications : Villeneuve-sur-Test", "Le Constat fictif"]
SITE_DESCRIPTIONS = ["Un site de test, toujours fictif.", "Des affirmations vérifiées « pour de faux » !"]
INTRODUCTIONS = ["Trois articles *fictifs*, toujours pour les tests.", "Le dossier complet ; voir la méthodologie."]
LABEL_SUFFIXES = [" (révisé)", " !", " ou presque"]
NEW_ARTICLES = [  # (slug stem, front matter, body, claim)
    ("transports-urbains", {
        "title": "Les bus de Villeneuve-sur-Test", "publisher": "Le Courrier fictif", "published": "2024-06-10",
        "language": "fr", "summary": "Article fictif sur les bus d’une ville imaginaire.",
    }, "Lucie Martin, adjointe aux transports, le 8 juin 2024 :\n\n"
       "> Les bus passent toutes les dix minutes. La fréquentation a doublé en un an.\n", {
        "quote": "La fréquentation a doublé en un an", "speaker": "Lucie Martin",
        "speaker_role": "adjointe aux transports", "said_on": "2024-06-08", "status": "trompeur",
        "summary": "La fréquentation a doublé, mais parce que le réseau a doublé.",
        "verdict": "Le rapport du réseau compte **deux fois plus de lignes** qu’en 2023.",
        "sources": [{"title": "Rapport annuel du réseau", "url": "https://bus.example/rapport",
                     "publisher": "Régie des transports"}],
        "reviewed_on": "2024-06-12", "tags": ["Transports"],
    }),
    ("marche-couvert", {
        "title": "Le marché couvert rouvre", "publisher": "La Gazette d’Exemple", "published": "2024-02-01",
        "language": "fr", "summary": "Article fictif : la réouverture d’un marché imaginaire.",
    }, "Le journal écrit : « le marché accueille 40 commerçants ».\n", {
        "quote": "le marché accueille 40 commerçants", "speaker": "La Gazette d’Exemple", "speaker_role": "média",
        "said_on": "2024-02-01", "status": "en-cours", "summary": "Nous attendons la liste des exposants.",
        "verdict": "La mairie n’a pas encore publié la liste.", "reviewed_on": "2024-02-03",
    }),
]


@dataclass(frozen=True)
class Edit:
    """One edit, as data: ``target`` picks the file among those that exist when it is applied
    (modulo their number), ``choice`` the new value or the variant."""

    kind: str
    target: int
    choice: int


VALID_KINDS = [
    "claim-summary", "claim-verdict", "claim-status", "claim-tag", "claim-speaker", "article-title",
    "article-summary", "article-paragraph", "template", "static-file", "site", "statuses", "claim-add",
    "claim-rename", "claim-delete", "article-add", "article-rename", "article-delete", "stray-file", "nothing",
]
INVALID_KINDS = ["claim-break", "article-break", "template-break"]
KINDS = VALID_KINDS * 2 + INVALID_KINDS + ["repair"] * 4
"""Mostly valid edits; a few break the inputs on purpose (as do some choices of speaker, rename and
article-rename), and "repair" puts back what they broke."""

edits = st.builds(Edit, st.sampled_from(KINDS), st.integers(0, 99), st.integers(0, 99))


class Workspace:
    """A project being edited: applies edits and remembers how to undo the deliberate breakages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.broken: dict[str, bytes | None] = {}
        """Files an invalid edit touched: their last good bytes, or None when they must go."""
        self.serial = 0

    def apply(self, edit: Edit) -> str:
        """Apply ``edit``; return what it did, in words, for the failure message."""
        method = getattr(self, "edit_" + edit.kind.replace("-", "_"))
        description: str = method(edit.target, edit.choice)
        return description

    # helpers

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def fresh(self, stem: str) -> str:
        self.serial += 1
        return f"{stem}-{self.serial}"

    def articles(self) -> list[Path]:
        return sorted((self.root / "content").glob("*.md"))

    def claims(self) -> list[Path]:
        """Claim files that parse: the others are left alone until a repair."""
        return [p for p in sorted((self.root / "claims").glob("*/*.yaml")) if parses(p)]

    def statuses(self) -> list[dict[str, Any]]:
        data = read_yaml(self.root / "statuses.yaml")
        assert isinstance(data, list)
        return data

    def keep_good(self, path: Path) -> None:
        self.broken.setdefault(self.rel(path), path.read_bytes() if path.exists() else None)

    def moved(self, old: Path, new: Path) -> None:
        before, after = self.rel(old), self.rel(new)
        for key in list(self.broken):
            if key == before or key.startswith(before + "/"):
                self.broken[after + key[len(before):]] = self.broken.pop(key)

    def gone(self, path: Path) -> None:
        for key in list(self.broken):
            if key == self.rel(path) or key.startswith(self.rel(path) + "/"):
                del self.broken[key]

    def edit_claim_field(self, target: int, change: str, edit: Any) -> str:
        claims = self.claims()
        if not claims:
            return "no claim left to edit"
        path = claims[target % len(claims)]
        data = read_yaml(path)
        edit(data)
        write_yaml(path, data)
        return f"{self.rel(path)}: {change}"

    def edit_article_front(self, target: int, key: str, value: str) -> str:
        articles = self.articles()
        if not articles:
            return "no article left to edit"
        path = articles[target % len(articles)]
        front, body = split_article(path.read_text(encoding="utf-8"))
        front[key] = value
        path.write_text(join_article(front, body), encoding="utf-8")
        return f"{self.rel(path)}: {key} = {value!r}"

    # the edits, one method per kind

    def edit_claim_summary(self, target: int, choice: int) -> str:
        text = SUMMARIES[choice % len(SUMMARIES)]
        return self.edit_claim_field(target, f"summary = {text!r}", lambda d: d.__setitem__("summary", text))

    def edit_claim_verdict(self, target: int, choice: int) -> str:
        if choice % 2:
            addition = "\n\nMise à jour : la région a confirmé ces chiffres."
            return self.edit_claim_field(target, "verdict: a paragraph appended",
                                         lambda d: d.__setitem__("verdict", str(d["verdict"]).rstrip() + addition))
        text = VERDICTS[choice // 2 % len(VERDICTS)]
        return self.edit_claim_field(target, f"verdict = {text!r}", lambda d: d.__setitem__("verdict", text))

    def edit_claim_status(self, target: int, choice: int) -> str:
        keys = [s["key"] for s in self.statuses()]
        key = keys[choice % len(keys)]
        return self.edit_claim_field(target, f"status = {key}", lambda d: d.__setitem__("status", key))

    def edit_claim_tag(self, target: int, choice: int) -> str:
        tag = TAGS[choice % len(TAGS)]

        def toggle(data: dict[str, Any]) -> None:
            tags = [t for t in data.get("tags") or [] if t != tag]
            if len(tags) == len(data.get("tags") or []):
                tags.append(tag)
            if tags:
                data["tags"] = tags
            else:
                data.pop("tags", None)
        return self.edit_claim_field(target, f"tag {tag!r} added or removed", toggle)

    def edit_claim_speaker(self, target: int, choice: int) -> str:
        name, role = SPEAKERS[choice % len(SPEAKERS)]
        claims = self.claims()
        if claims and name == "marie exemple":
            self.keep_good(claims[target % len(claims)])

        def change(data: dict[str, Any]) -> None:
            data["speaker"], data["speaker_role"] = name, role
            data.pop("speaker_url", None)
        return self.edit_claim_field(target, f"speaker = {name!r}", change)

    def edit_article_title(self, target: int, choice: int) -> str:
        return self.edit_article_front(target, "title", TITLES[choice % len(TITLES)])

    def edit_article_summary(self, target: int, choice: int) -> str:
        return self.edit_article_front(target, "summary", ARTICLE_SUMMARIES[choice % len(ARTICLE_SUMMARIES)])

    def edit_article_paragraph(self, target: int, choice: int) -> str:
        articles = self.articles()
        if not articles:
            return "no article left to edit"
        path = articles[target % len(articles)]
        text = path.read_text(encoding="utf-8")
        paragraph = PARAGRAPHS[choice % len(PARAGRAPHS)]
        path.write_text(text.rstrip("\n") + "\n\n" + paragraph + "\n", encoding="utf-8")
        return f"{self.rel(path)}: paragraph appended: {paragraph!r}"

    def edit_template(self, target: int, choice: int) -> str:
        name, anchor = TEMPLATE_SPOTS[target % len(TEMPLATE_SPOTS)]
        path = self.root / "templates" / name
        if name.endswith(".css"):
            snippet = f"/* relu, version {choice} */\n"
        elif name.endswith(".xml"):
            snippet = f"<!-- relu, version {choice} -->\n"
        else:
            snippet = HTML_SNIPPETS[choice % len(HTML_SNIPPETS)]
        text = path.read_text(encoding="utf-8")
        assert anchor in text, f"{name} no longer holds {anchor!r}"
        path.write_text(text.replace(anchor, anchor + snippet, 1) if anchor else snippet + text, encoding="utf-8")
        return f"templates/{name}: inserted {snippet!r}"

    def edit_static_file(self, target: int, choice: int) -> str:
        path = self.root / "templates" / "static" / f"extra-{target % 2}.css"
        if path.exists() and choice % 2:
            path.unlink()
            return f"{self.rel(path)} deleted"
        existed = path.exists()
        path.write_text(f".extra-{choice} {{ color: #222; }}\n", encoding="utf-8")
        return f"{self.rel(path)} {'changed' if existed else 'added'}"

    def edit_site(self, target: int, choice: int) -> str:
        path = self.root / "site.yaml"
        data = read_yaml(path)
        field = choice % 4
        if field == 0:
            data["title"] = value = SITE_TITLES[target % len(SITE_TITLES)]
        elif field == 1:
            data["description"] = value = SITE_DESCRIPTIONS[target % len(SITE_DESCRIPTIONS)]
        elif field == 2:
            data["dossier"]["introduction"] = value = INTRODUCTIONS[target % len(INTRODUCTIONS)]
        else:  # every link changes
            data["base_url"] = value = BASE_URLS[target % len(BASE_URLS)]
        write_yaml(path, data)
        return f"site.yaml: {['title', 'description', 'dossier.introduction', 'base_url'][field]} = {value!r}"

    def edit_statuses(self, target: int, choice: int) -> str:
        path = self.root / "statuses.yaml"
        data = self.statuses()
        status = data[target % len(data)]
        if choice % 2:
            status["label"] = str(status["label"]) + LABEL_SUFFIXES[choice // 2 % len(LABEL_SUFFIXES)]
            change = f"label = {status['label']!r}"
        else:
            status["description"] = str(status["description"]).rstrip() + " Voir **la méthodologie**."
            change = "description: a sentence appended"
        write_yaml(path, data)
        return f"statuses.yaml, status {status['key']}: {change}"

    def edit_claim_add(self, target: int, choice: int) -> str:
        claims = self.claims()
        if not claims:
            return "no claim left to copy"
        source = claims[target % len(claims)]
        copy = source.with_name(self.fresh(source.stem.split("-")[0] + "-copie") + ".yaml")
        if choice % 2:
            data = read_yaml(source)
            data["summary"] = SUMMARIES[choice % len(SUMMARIES)]
            write_yaml(copy, data)
        else:
            copy.write_bytes(source.read_bytes())
        return f"{self.rel(copy)} added, a copy of {self.rel(source)}"

    def edit_claim_rename(self, target: int, choice: int) -> str:
        claims = self.claims()
        if not claims:
            return "no claim left to rename"
        source = claims[target % len(claims)]
        if choice % 5 == 4:  # a name that is no slug: invalid until repaired
            dest = source.with_name(self.fresh("Copie_Affirmation") + ".yaml")
            good = self.broken.pop(self.rel(source), source.read_bytes())
            source.rename(dest)
            self.broken[self.rel(source)] = good
            self.broken[self.rel(dest)] = None
        else:
            dest = source.with_name(self.fresh(source.stem.split("-")[0] + "-renommee") + ".yaml")
            source.rename(dest)
            self.moved(source, dest)
        return f"{self.rel(source)} renamed {dest.name}"

    def edit_claim_delete(self, target: int, choice: int) -> str:
        claims = self.claims()
        if not claims:
            return "no claim left to delete"
        path = claims[target % len(claims)]
        path.unlink()
        self.gone(path)
        return f"{self.rel(path)} deleted"

    def edit_article_add(self, target: int, choice: int) -> str:
        stem, front, body, claim = NEW_ARTICLES[target % len(NEW_ARTICLES)]
        slug = self.fresh(stem)
        article = self.root / "content" / f"{slug}.md"
        article.write_text(join_article(dict(front), body), encoding="utf-8")
        folder = self.root / "claims" / slug
        folder.mkdir()
        write_yaml(folder / "premiere-affirmation.yaml", yaml.safe_load(yaml.safe_dump(claim)))  # a deep copy
        return f"{self.rel(article)} added, with {self.rel(folder)}/premiere-affirmation.yaml"

    def edit_article_rename(self, target: int, choice: int) -> str:
        articles = self.articles()
        if not articles:
            return "no article left to rename"
        source = articles[target % len(articles)]
        dest = source.with_name(self.fresh(source.stem.split("-")[0] + "-renomme") + ".md")
        source.rename(dest)
        self.moved(source, dest)
        folder = self.root / "claims" / source.stem
        if not folder.is_dir():
            return f"{self.rel(source)} renamed {dest.name} (it had no claims)"
        if choice % 5 == 4:  # the claims folder forgotten: orphan claims, until a repair removes them
            return f"{self.rel(source)} renamed {dest.name}, but not its claims folder"
        folder.rename(folder.with_name(dest.stem))
        self.moved(folder, folder.with_name(dest.stem))
        return f"{self.rel(source)} renamed {dest.name}, with its claims folder"

    def edit_article_delete(self, target: int, choice: int) -> str:
        articles = self.articles()
        if not articles:
            return "no article left to delete"
        path = articles[target % len(articles)]
        path.unlink()
        self.gone(path)
        folder = self.root / "claims" / path.stem
        if folder.is_dir():
            shutil.rmtree(folder)
            self.gone(folder)
        return f"{self.rel(path)} deleted, with its claims"

    def edit_stray_file(self, target: int, choice: int) -> str:
        folders = sorted(p for p in (self.root / "claims").iterdir() if p.is_dir())
        variant = choice % 3
        if variant == 0 and folders:  # an editor's swap file: ignored without a word
            path = folders[target % len(folders)] / f".{self.fresh('brouillon')}.yaml.swp"
        elif variant == 1 and folders:  # not a claim: a warning
            path = folders[target % len(folders)] / f"{self.fresh('notes')}.txt"
        else:
            path = self.root / "content" / f"{self.fresh('notes')}.txt"
        path.write_text("à relire\n", encoding="utf-8")
        return f"{self.rel(path)} added (not an input)"

    def edit_nothing(self, target: int, choice: int) -> str:
        return "nothing changed"

    def edit_claim_break(self, target: int, choice: int) -> str:
        claims = self.claims()
        variant = choice % 3
        if variant == 2 or not claims:
            folders = sorted(p for p in (self.root / "claims").iterdir() if p.is_dir())
            if not folders:
                return "no claims folder to add a broken claim to"
            path = folders[target % len(folders)] / f"{self.fresh('brouillon')}.yaml"
            self.keep_good(path)
            path.write_text("quote: « une citation\nspeaker: [Marie Exemple\nstatus: faux\n", encoding="utf-8")
            return f"{self.rel(path)} added with a YAML syntax error"
        path = claims[target % len(claims)]
        self.keep_good(path)
        text = path.read_text(encoding="utf-8")
        if variant == 0:
            text += "note: [à relire\n"
        else:
            text = text.replace("\nstatus:", "\n\tstatus:", 1)
        path.write_text(text, encoding="utf-8")
        return f"{self.rel(path)}: YAML syntax error ({['unclosed [', 'tab indent'][variant]})"

    def edit_article_break(self, target: int, choice: int) -> str:
        articles = self.articles()
        if not articles:
            return "no article left to break"
        path = articles[target % len(articles)]
        self.keep_good(path)
        front, body = split_article(path.read_text(encoding="utf-8"))
        body = "\n".join("> (passage retiré)" if line.startswith(">") else line for line in body.split("\n"))
        path.write_text(join_article(front, body), encoding="utf-8")
        return f"{self.rel(path)}: quoted passage removed (its claims' quotes are no longer found)"

    def edit_template_break(self, target: int, choice: int) -> str:
        variant = choice % 3
        name, anchor = TEMPLATE_SPOTS[target % len(TEMPLATE_SPOTS)]
        if variant == 0 and name.endswith(".html"):
            snippet = "{% if %}\n"
        elif variant == 1:
            name, anchor, snippet = "claim.html", "{% block main %}\n", "{{ claim.sumary }}\n"
        else:
            name, anchor, snippet = "base.html", "<body>\n", "{{ pas_defini }}\n"
        path = self.root / "templates" / name
        self.keep_good(path)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(anchor, anchor + snippet, 1) if anchor else snippet + text, encoding="utf-8")
        return f"templates/{name}: inserted {snippet!r} (a template error)"

    def edit_repair(self, target: int, choice: int) -> str:
        done = []
        for rel, good in sorted(self.broken.items()):
            path = self.root / rel
            if good is None:
                path.unlink(missing_ok=True)
                done.append(f"{rel} removed")
            elif path.parent.is_dir():
                path.write_bytes(good)
                done.append(f"{rel} restored")
        self.broken.clear()
        articles = {p.stem for p in self.articles()}
        for folder in sorted((self.root / "claims").iterdir()):
            if folder.is_dir() and folder.name not in articles:
                shutil.rmtree(folder)
                done.append(f"orphan folder {self.rel(folder)} removed")
        return "repair: " + (", ".join(done) or "nothing was broken")


# --- 1. the property: any sequence of edits ----------------------------------------------------


def history(log: list[str]) -> str:
    return "\n\nwhat was done, in order:\n" + "\n".join(f"  {line}" for line in log)


def vocabulary_of(site: dict[str, bytes]) -> dict[str, int]:
    """Each word of the pages the search covers, with the number of pages that have it."""
    from constat.search import indexed_part, is_indexed, page_words

    counts: dict[str, int] = {}
    for name, data in site.items():
        if is_indexed(name, data):
            for word in page_words(indexed_part(data)):
                counts[word] = counts.get(word, 0) + 1
    return counts


def build_and_compare(ws: Workspace, clean_builds: CleanBuilds, log: list[str], previous: Snapshot) -> Snapshot:
    """Build in place (cache reused) and clean; compare; return the site now published."""
    try:
        report, clean = build_both(ws.root, clean_builds)
    except Exception as exc:
        exc.add_note(history(log))
        raise
    mine = problem_lines(report)
    assert report.failed == clean.failed, (
        f"incremental build failed={report.failed}, clean build failed={clean.failed}\n"
        "incremental:\n" + "\n".join(mine) + "\nclean:\n" + "\n".join(clean.problems) + history(log))
    assert mine == clean.problems, (
        "the incremental build reports other problems than a clean build\nincremental:\n" + "\n".join(mine)
        + "\nclean:\n" + "\n".join(clean.problems) + history(log))
    now = snapshot(ws.root / "site")
    event("build failed, as it should" if report.failed else "build succeeded")
    if report.failed:
        assert now == previous, ("a failed build must leave the previous site exactly as it was\n"
                                 + describe_changes(previous, now) + history(log))
        return previous
    built = {name: data for name, (data, _) in now.items()}
    assert built == clean.site, "incremental site != clean build\n" + site_diff(clean.site, built) + history(log)
    parts = json.loads(built.get("pagefind/parts.json", b'{"parts": []}'))["parts"]
    if len(parts) > 1:  # the vocabulary page, never published
        assert read_state(ws.root / "site").vocabulary == vocabulary_of(built), (
            "the vocabulary kept for the next build is not the published pages' words" + history(log))
    touched = rewritten_unchanged(previous, now)
    assert not touched, ("files whose bytes did not change were rewritten (new mtime):\n"
                         + "\n".join(touched[:30]) + history(log))
    return now


EVERY_KIND = [  # one example that every run tries, so that each kind of edit is checked every time
    [Edit("claim-summary", 0, 0), Edit("claim-verdict", 1, 1), Edit("claim-status", 2, 6), Edit("article-title", 0, 1)],
    [Edit("claim-tag", 3, 1), Edit("claim-speaker", 4, 2), Edit("article-summary", 1, 1),
     Edit("article-paragraph", 0, 3), Edit("site", 0, 0)],
    [Edit("template", 1, 2), Edit("template", 0, 4)],  # templates only: every page, and its search title
    [Edit("template", 7, 1), Edit("static-file", 0, 0), Edit("statuses", 6, 1)],
    [Edit("claim-add", 0, 1), Edit("claim-rename", 5, 0), Edit("claim-delete", 2, 0), Edit("stray-file", 0, 1),
     Edit("article-add", 0, 0)],
    [Edit("article-rename", 0, 0), Edit("claim-break", 0, 1), Edit("template-break", 0, 0)],
    [Edit("repair", 0, 0), Edit("article-break", 1, 0)],
    [Edit("repair", 0, 0), Edit("article-delete", 0, 0), Edit("nothing", 0, 0)],
]

EACH_TEMPLATE_ALONE = [[Edit("template", n, 0)] for n in range(len(TEMPLATE_SPOTS))]
"""Pages are keyed by the templates they use: each template edited alone must re-render its users."""


@pytest.mark.parametrize("search", ["", "engine: pagefind", "engine: pagefind\n  part_pages: 2"],
                         ids=["constat-search-index", "pagefind-one-index", "pagefind-index-in-parts"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.lists(edits, min_size=1, max_size=3), min_size=1, max_size=5))
@example(steps=EVERY_KIND)
@example(steps=EACH_TEMPLATE_ALONE)
def test_any_sequence_of_edits_builds_incrementally_to_the_bytes_of_a_clean_build(
        clean_builds: CleanBuilds, search: str, steps: list[list[Edit]]) -> None:
    """After each step (one to a few edits, as an editor saves several files or git switches branch)
    the site is built in place and compared with a clean build of the same inputs: with Constat's
    own search index, which an edit updates in place (constat/lexicon.py), with Pagefind's, and
    with Pagefind's in parts of 2 pages (site.yaml's search.part_pages), as a large site has it."""
    with tempfile.TemporaryDirectory(prefix="constat-incremental-") as tmp:
        ws = Workspace(new_project(Path(tmp) / "p"))
        if search:
            with (ws.root / "site.yaml").open("a", encoding="utf-8") as f:
                f.write(f"search:\n  {search}\n")
        log = ["first build of tests/fixtures/mini, with its own copy of templates/"
               + (f", site.yaml's search: {search}" if search else "")]
        published = build_and_compare(ws, clean_builds, log, {})
        assert published, "the fixture builds"
        if not search:
            assert "recherche/index/pages.json" in published and "pagefind/parts.json" not in published
        else:
            parts = json.loads(published["pagefind/parts.json"][0])["parts"]
            assert (len(parts) > 1) == ("part_pages" in search), parts
        for n, step in enumerate(steps, 1):
            for edit in step:
                log.append(f"step {n}, {edit!r}: {ws.apply(edit)}")
                event(f"edit: {edit.kind}")
            log.append(f"step {n}: build")
            published = build_and_compare(ws, clean_builds, log, published)


# --- 2. a corrupt cache is rebuilt, never trusted ---------------------------------------------

DAMAGES = ["truncated-to-half", "emptied", "bytes-overwritten-in-the-middle", "random-bytes", "one-file-deleted",
           "folder-replaced-by-an-empty-file"]


def damage_cache(root: Path, damage: str, rng: random.Random) -> None:
    cache = cache_folder(root)
    files = cache_files(root)
    assert files, "a cache to damage"
    if damage == "folder-replaced-by-an-empty-file":
        shutil.rmtree(cache)
        cache.write_bytes(b"")
        return
    if damage == "one-file-deleted":
        max(files, key=lambda p: p.stat().st_size).unlink()
        return
    for path in files:
        data = path.read_bytes()
        if damage == "truncated-to-half":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "emptied":
            path.write_bytes(b"")
        elif damage == "bytes-overwritten-in-the-middle":
            middle = len(data) // 2
            path.write_bytes(data[:middle] + b"\x00\xff garbage \xfe" + data[middle + 13:])
        elif damage == "random-bytes":
            path.write_bytes(rng.randbytes(max(len(data), 64)))
        else:
            raise AssertionError(damage)


def set_summary(root: Path, claim: str, text: str) -> None:
    path = root / "claims" / claim
    data = read_yaml(path)
    data["summary"] = text
    write_yaml(path, data)


def assert_cache_written(root: Path) -> None:
    assert cache_files(root), f"the build keeps a cache in {cache_folder(root).name}/ beside site/, with files in it"


def test_the_vocabulary_is_counted_again_when_site_no_longer_has_the_pages_it_counted(
        tmp_path: Path, clean_builds: CleanBuilds) -> None:
    # A search in parts needs the site's vocabulary, which a build brings up to date from the last
    # build's count: the words of the pages that changed are taken off as site/ has them. A page
    # edited there by hand is not the page counted: every page's words are then counted again,
    # including those of pages rendered again with the same text (here, by a template edit
    # outside it).
    root = new_project(tmp_path / "p")
    with (root / "site.yaml").open("a", encoding="utf-8") as f:
        f.write("search:\n  engine: pagefind\n  part_pages: 2\n")
    assert not build(Project.at(root)).failed
    assert read_state(root / "site").vocabulary == vocabulary_of(tree(root / "site"))
    page = root / "site/affirmations/budget-regional/emplois-300/index.html"
    added = "<p>Mot-ajouté-à-la-main</p></article>".encode()
    page.write_bytes(page.read_bytes().replace(b"</article>", added, 1))
    set_summary(root, "budget-regional/emplois-300.yaml", "La région publie enfin un décompte : 120 emplois.")
    rendered_again(root, 1)  # before the element the search reads: its pages' text is the same
    pipeline._IN_PROCESS.clear()
    assert_same_as_clean(root, clean_builds, " (a page edited by hand, a claim and a template edited)")
    vocabulary = read_state(root / "site").vocabulary
    assert vocabulary == vocabulary_of(tree(root / "site")) and "mot-ajouté-à-la-main" not in vocabulary


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupt_cache_is_detected_and_rebuilt(tmp_path: Path, clean_builds: CleanBuilds, damage: str) -> None:
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    assert_cache_written(root)
    rng = random.Random(damage)
    for edit in (False, True):
        damage_cache(root, damage, rng)
        if edit:
            set_summary(root, "budget-regional/deficit-moitie.yaml", "Le déficit a baissé d’un quart.")
        # A traceback fails the test as surely as a wrong page.
        assert_same_as_clean(root, clean_builds, f" (cache {damage}, {'then an edit' if edit else 'no edit'})")
        assert_cache_written(root)


_KEYS = st.one_of(st.text(max_size=12), st.tuples(st.sampled_from(["verdict", "x"]), st.text(max_size=8)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(_KEYS, st.text(alphabet="abcdefghijklmnopqrstuvwxyzéè« »", min_size=8, max_size=40),
                               max_size=12), data=st.data())
def test_a_keyed_table_gives_back_its_entries_and_drops_only_a_damaged_one(
        tmp_path_factory: pytest.TempPathFactory, entries: dict[Any, str], data: st.DataObject) -> None:
    # The converted Markdown and the pages' words stay in their file and are read value by value
    # (constat/cache.py, KeyedTable): each value carries its own checksum, so a damaged value is
    # missing (and computed again by the build), never wrong, and the others still serve.
    from constat import cache
    out = tmp_path_factory.mktemp("keyed") / "site"
    cache._write_table(out, "html", entries)
    table = cache._read_table(out, "html")
    assert dict(table) == entries and len(table) == len(entries)
    if not entries:
        return
    victim = data.draw(st.sampled_from(sorted(entries, key=repr)))
    start, size, _ = table.index[victim]  # type: ignore[attr-defined]
    path = cache.folder(out) / "memo-html"
    raw = bytearray(path.read_bytes())
    raw[start + data.draw(st.integers(0, size - 1))] ^= 0x01  # most often a letter for another: still a pickle
    path.write_bytes(bytes(raw))
    damaged = cache._read_table(out, "html")
    assert damaged.get(victim, "missing") == "missing"
    assert {k: damaged[k] for k in damaged if k != victim} == {k: v for k, v in entries.items() if k != victim}
    index_start = len(raw) - cache._TRAILER.size - 1
    raw[index_start] ^= 0xFF  # the index itself damaged: nothing of the table is trusted
    path.write_bytes(bytes(raw))
    assert dict(cache._read_table(out, "html")) == {}


_SHARED_TEXT = st.sampled_from(["quote", "speaker", "trompeur", "2022-01-01", "Le Monde", ""])
_YAML_LIKE = st.recursive(st.one_of(_SHARED_TEXT, st.text(max_size=30), st.integers(), st.booleans(), st.none()),
                          lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                  st.dictionaries(_SHARED_TEXT, inner, max_size=4)),
                          max_leaves=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(st.text(max_size=10), _YAML_LIKE, max_size=40), run=st.integers(1, 7),
       data=st.data())
def test_a_table_written_in_runs_reads_back_whole_or_not_at_all(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, entries: dict[str, Any],
        run: int, data: st.DataObject) -> None:
    # The parsed YAML is written in runs of entries, each pickle writing once the objects its
    # entries share (constat/cache.py, write's ``shared``): it must read back equal, whatever
    # the number of runs, and a damaged byte anywhere must make the whole table untrusted.
    from constat import cache
    monkeypatch.setattr(cache, "_RUN", run)
    entries = {k: _shared(v) for k, v in entries.items()}
    out = tmp_path_factory.mktemp("runs") / "site"
    cache.write(out, "memo-yaml", entries, shared=True)
    assert cache.read(out, "memo-yaml") == entries
    path = cache.folder(out) / "memo-yaml"
    raw = bytearray(path.read_bytes())
    start = len(cache._header()) + cache._CHECK
    raw[data.draw(st.integers(start, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    path.write_bytes(bytes(raw))
    assert cache.read(out, "memo-yaml") is None
    path.write_bytes(bytes(raw[:data.draw(st.integers(start, len(raw) - 1))]))
    assert cache.read(out, "memo-yaml") is None


def _shared(value: Any) -> Any:
    """``value`` with its texts interned, as the YAML loader makes them (one object for each)."""
    if isinstance(value, dict):
        return {sys.intern(k): _shared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    return sys.intern(value) if isinstance(value, str) else value


def test_the_parsed_yaml_keeps_the_keys_and_short_texts_its_files_share_once(tmp_path: Path) -> None:
    # 10,000 claims write "speaker_role", a status, the same names and dates again and again: the
    # loader and the saved table keep each once (at 10,000 claims: 24 MB less at a claim edit).
    from constat import cache
    root = copy_project(MINI, tmp_path / "p")
    assert not build(Project.at(root)).failed
    table = cache._read_table(root / "site", "yaml")
    docs = [v for v in table.values() if isinstance(v, dict) and "verdict" in v]
    assert len(docs) >= 2
    texts = [t for doc in docs for t in (*doc, doc["status"])]
    assert len({id(t) for t in texts}) < len(texts) // 2, "each key and status is one object in the saved table"
    assert len({id(t) for t in texts}) == len(set(texts))


def first_reads(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, slot: str) -> list[str]:
    """The paths of the objects of ``cls`` (load.Document, load.ArticleFile) whose property ``name``
    is read from now on for the first time: what the build did not have at hand (``slot`` UNREAD)."""
    from constat import load
    reads: list[str] = []
    real = getattr(cls, name).fget

    def read(obj: Any) -> Any:
        if getattr(obj, slot) is load.UNREAD:
            reads.append(obj.path)
        return real(obj)

    monkeypatch.setattr(cls, name, property(read))
    return reads


def tables_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the memo's tables read from their files from now on, in order."""
    from constat import cache
    read: list[str] = []
    real = cache._read_table
    monkeypatch.setattr(cache, "_read_table", lambda out, name: read.append(name) or real(out, name))
    return read


def test_a_claim_edit_reads_no_other_claims_data_and_builds_the_clean_bytes(
        tmp_path: Path, clean_builds: CleanBuilds, monkeypatch: pytest.MonkeyPatch) -> None:
    # An unchanged claim's model comes from the memo's `claims` table and its names from the
    # checks: the parsed YAML of every claim (29 MB at 10,000 claims) is not read, and no claim's
    # data either (load.Document.data). A change of the scale remakes every claim from its data.
    from constat import load
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    tables = tables_read(monkeypatch)
    reads = first_reads(monkeypatch, load.Document, "data", "_data")
    bodies = first_reads(monkeypatch, load.ArticleFile, "body", "_body")
    pipeline._IN_PROCESS.clear()  # a new process, as build.py is: the memo is read from disk
    set_summary(root, "budget-regional/emplois-300.yaml", "La région publie enfin un décompte : 120 emplois.")
    assert_same_as_clean(root, clean_builds, " (a claim edited)")
    assert "claims" in tables and "yaml" not in tables and reads == [], (tables, reads)
    assert bodies == ["content/budget-regional.md"], "the edited claim's article alone, for its quote"

    pipeline._IN_PROCESS.clear()
    statuses = read_yaml(root / "statuses.yaml")
    statuses[0]["label"] = str(statuses[0]["label"]) + " (révisé)"
    write_yaml(root / "statuses.yaml", statuses)
    (cache_folder(root) / "memo-yaml").unlink()  # lost: the claims' data is their files parsed again
    assert_same_as_clean(root, clean_builds, " (a new scale, the parsed YAML lost)")
    assert len(reads) == len(list((root / "claims").glob("*/*.yaml"))), "every claim remade from its data"


def test_a_claim_file_changed_while_its_data_is_read_again_stops_the_build_with_a_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The model reads an unchanged claim's data only when it must remake it (here its model and
    # data were lost from the cache); from the file if the memo let go of it. Edited between the
    # build's first look and that read, the file is not the one the build read: the build stops
    # with a problem saying so, publishes nothing, and no traceback.
    from constat import load, validate
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    before = tree(root / "site")
    pipeline._IN_PROCESS.clear()
    set_summary(root, "conseil-municipal/piscine-1200-entrees.yaml", "La piscine a accueilli 1 200 personnes.")
    for table in ("memo-claims", "memo-yaml"):
        (cache_folder(root) / table).unlink()
    real_validate = validate.validate

    def validate_then_edit(inputs: load.Inputs) -> Any:
        found = real_validate(inputs)
        set_summary(root, "budget-regional/emplois-300.yaml", "Modifié pendant la construction.")
        return found

    monkeypatch.setattr(validate, "validate", validate_then_edit)
    monkeypatch.setattr(pipeline, "validate", validate_then_edit, raising=False)
    report = build(Project.at(root))
    assert report.failed
    assert [p.code for p in report.problems] == ["changed-during-build"], problem_lines(report)
    assert report.problems[0].path == "claims/budget-regional/emplois-300.yaml"
    assert tree(root / "site") == before, "the previous site is left as it was"


def damage_every_converted_text(root: Path) -> int:
    """Flip a byte of every value of the saved converted Markdown (each then fails its checksum)."""
    from constat import cache

    path = cache_folder(root) / "memo-html"
    index = cache._read_keyed(root / "site", "memo-html").index
    raw = bytearray(path.read_bytes())
    for start, size, _ in index.values():
        raw[start + size // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    return len(index)


def rendered_again(root: Path, n: int) -> None:
    """Every claim and article page rendered again (a comment in their templates' main block)."""
    for name in ("claim.html", "article.html"):
        path = root / "templates" / name
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("{% block main %}\n", f"{{% block main %}}\n<!-- {n} -->\n", 1), encoding="utf-8")


def test_markdown_whose_converted_entry_is_damaged_is_converted_again_from_its_file(
        tmp_path: Path, clean_builds: CleanBuilds, monkeypatch: pytest.MonkeyPatch) -> None:
    # The model keeps no Markdown of verdicts and articles (38 MiB at 10,000 claims), only the key of
    # its HTML in the memo: an entry found damaged when a page shows it is converted again from the
    # file, which must still be the file the build read, else the build stops and says so.
    from constat import render

    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    pipeline._IN_PROCESS.clear()  # a new process, as build.py is: the memo is read from disk
    assert damage_every_converted_text(root) > 10
    rendered_again(root, 1)
    assert not build(Project.at(root)).failed
    assert_same_as_clean(root, clean_builds, " (every converted text damaged)")

    pipeline._IN_PROCESS.clear()
    damage_every_converted_text(root)
    rendered_again(root, 2)
    claim = root / "claims/budget-regional/emplois-300.yaml"
    before = snapshot(root / "site")
    real_render = render.render_site

    def render_site(*args: Any, **kwargs: Any) -> Any:  # an editor saves the claim while the build runs
        data = read_yaml(claim)
        data["verdict"] = "**Faux.** Corrigé pendant la construction du site."
        write_yaml(claim, data)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(render, "render_site", render_site)
    report = build(Project.at(root))
    assert report.failed
    assert [p.format() for p in report.problems] == [
        "claims/budget-regional/emplois-300.yaml:1:1: error: the file changed while the site was being built: "
        "build again [changed-during-build]"]
    assert snapshot(root / "site") == before, "nothing published"
    monkeypatch.setattr(render, "render_site", real_render)
    assert not build(Project.at(root)).failed
    assert b"Corrig\xc3\xa9 pendant la construction" in (
        root / "site/affirmations/budget-regional/emplois-300/index.html").read_bytes()
    assert_same_as_clean(root, clean_builds, " (the build after the file that changed)")


# --- 3. a stale cache is not trusted: content, not modification times ------------------------

SAME_SIZE_EDITS = [  # (input, old text, new text of the same byte length, page that shows it)
    ("claims/conseil-municipal/piscine-1200-entrees.yaml", "en janvier.", "en juillet.",
     "affirmations/conseil-municipal/piscine-1200-entrees/index.html"),
    ("templates/claim.html", ">Notre vérification<", ">Votre vérification<",
     "affirmations/conseil-municipal/piscine-1200-entrees/index.html"),
    ("content/budget-regional.md", "title: Le budget régional en hausse", "title: Le budget régional en baisse",
     "articles/budget-regional/index.html"),
    ("site.yaml", "title: Mini Constat", "title: Mini Constaz", "index.html"),
    ("statuses.yaml", "confirment sans réserve.", "confirment sans détours.", "verdicts/vrai/index.html"),
]


def edit_behind_the_cache(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (same size) in place, then put the modification time back."""
    before = path.stat()
    data = path.read_bytes()
    assert data.count(old.encode()) == 1 and len(old.encode()) == len(new.encode())
    with path.open("r+b") as f:  # in place: same inode, same size
        f.seek(data.index(old.encode()))
        f.write(new.encode())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def shown(text: str) -> bytes:
    """The part of an edited text that the page prints."""
    return text.split(": ", 1)[-1].strip("<>").encode()


def test_inputs_changed_with_the_same_size_and_mtime_are_seen(tmp_path: Path, clean_builds: CleanBuilds) -> None:
    """A cache keyed by (size, mtime) misses these edits: it must be keyed by content."""
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    for name, old, new, page in SAME_SIZE_EDITS:
        assert shown(old) in (root / "site" / page).read_bytes()
        edit_behind_the_cache(root / name, old, new)
        assert_same_as_clean(root, clean_builds, f" ({name} changed, same size and mtime)")
        assert shown(new) in (root / "site" / page).read_bytes(), f"{name}: the change is not in {page}"


def test_a_new_site_address_changes_every_link(tmp_path: Path, clean_builds: CleanBuilds) -> None:
    # Every page, feed and open-data file holds links made from base_url; compiled templates and
    # cards are kept in the memo: a new base_url must find none of the old links there.
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    assert b'href="/dossier/articles/"' in (root / "site/index.html").read_bytes()
    site = root / "site.yaml"
    site.write_text(site.read_text("utf-8").replace("https://verif.example/dossier/",
                                                    "https://autre.example/archives/"), "utf-8")
    assert_same_as_clean(root, clean_builds, " (base_url changed)")
    page = (root / "site/index.html").read_bytes()
    assert b'href="/archives/articles/"' in page and b"/dossier/" not in page


def test_a_cache_saved_by_an_earlier_build_is_not_trusted(tmp_path: Path, clean_builds: CleanBuilds) -> None:
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    assert_cache_written(root)
    saved = tmp_path / "saved-cache"
    shutil.copytree(cache_folder(root), saved)
    claim = root / "claims/budget-regional/emplois-300.yaml"
    original = claim.read_bytes()
    set_summary(root, "budget-regional/emplois-300.yaml", "La région publie enfin un décompte : 120 emplois.")
    assert not build(Project.at(root)).failed

    # The inputs and site/ of the second build, the cache of the first.
    shutil.rmtree(cache_folder(root))
    shutil.copytree(saved, cache_folder(root))
    assert_same_as_clean(root, clean_builds, " (cache from an earlier build)")

    # The inputs and the cache of the first build, site/ of a later one.
    claim.write_bytes(original)
    shutil.rmtree(cache_folder(root))
    shutil.copytree(saved, cache_folder(root))
    assert_same_as_clean(root, clean_builds, " (inputs and cache of the first build, site/ of the second)")


@pytest.mark.parametrize("writer", ["forked", "here"])
def test_build_py_saves_and_lets_go_of_the_parsed_inputs_before_rendering(
        tmp_path: Path, clean_builds: CleanBuilds, monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    # build.py's process ends with the build (pipeline.build's lean): once the model is built and
    # checked, the loaded inputs, the memo's parsed YAML, per-file problems, folded texts and quote
    # positions are saved and let go of before rendering (56 MiB of a 606 MiB peak at 10,000
    # claims), and the converted Markdown is saved and read back from its file when a page shows
    # it (60 MiB more). The tables are written by a forked process, or here where it cannot fork;
    # the next build reads them.
    import weakref

    from constat import cache, forking, load, prefill, render
    from constat.memo import current

    forks = forking.can_fork()
    if writer == "here":
        monkeypatch.setattr(forking, "can_fork", lambda: False)
    monkeypatch.setattr(prefill, "PREFILL_FROM", 1)  # the Markdown converted before rendering, as at scale
    loaded: list[weakref.ref[load.Inputs]] = []
    real_load = load.load_project

    def load_project(root: Path) -> load.Inputs:
        inputs = real_load(root)
        loaded.append(weakref.ref(inputs))
        return inputs

    monkeypatch.setattr(load, "load_project", load_project)
    after_prefill: list[tuple[int, bool, list[str]]] = []
    real_prefill = prefill.prefill

    def prefill_then_look(*args: Any, **kwargs: Any) -> int:
        done = real_prefill(*args, **kwargs)
        if done:  # the converted Markdown went to the cache's table as it was made
            memo = current()
            after_prefill.append((len(memo.used["html"]) + len(memo.journal["html"]),
                                  getattr(memo.previous["html"], "in_file", False),
                                  sorted(p.name for p in cache_folder(root).glob("memo-html*"))))
        return done

    monkeypatch.setattr(prefill, "prefill", prefill_then_look)
    early = ("front", "yaml", "checks", "folded", "quote", "claims")
    at_render: dict[str, Any] = {}
    real_render = render.render_site

    held_later: list[dict[str, int]] = []

    def render_site(*args: Any, **kwargs: Any) -> Any:
        memo = current()
        if at_render:  # the first build's only; of the others, what the memo holds of the early tables
            held_later.append({t: len(memo.used[t]) + len(memo.previous.get(t, {})) for t in early})  # not read
            return real_render(*args, **kwargs)
        at_render["held"] = {t: len(memo.used[t]) + len(memo.journal[t]) + len(memo.previous[t]) for t in early}
        at_render["inputs alive"] = [ref() is not None for ref in loaded]
        at_render["saved"] = {t: read(root / "site", f"memo-{t}") for t in early}
        html = memo.previous["html"]
        at_render["html"] = (len(memo.used["html"]) + len(memo.journal["html"]), getattr(html, "in_file", False),
                             len(html) > 0)
        rendered = real_render(*args, **kwargs)
        at_render["html held after"] = [key for key in memo.used["html"] if key in html]  # not those computed
        return rendered

    monkeypatch.setattr(render, "render_site", render_site)
    root = new_project(tmp_path / "p")
    other = copy_project(root, tmp_path / "other")
    report = build(Project.at(root), lean=True)
    assert not report.failed and report.model is None
    assert at_render["held"] == dict.fromkeys(early, 0), "the memo let go of them"
    assert at_render["inputs alive"] == [False], "the inputs were let go of"
    assert at_render["html"] == (0, True, True), "the converted Markdown is read from its file"
    assert at_render["html held after"] == [], "what the pages showed was read from the file, not kept"
    if writer == "forked" and forks:  # prefill shares the files between processes only where it can fork
        assert after_prefill == [(0, True, ["memo-html"])], "spilled as converted, its parts gathered"
    assert not build(Project.at(other)).failed  # as the preview and the tests build: to the end, then saved
    for table in early:
        assert at_render["saved"][table] == read(other / "site", f"memo-{table}"), f"{table}: saved whole, early"
    ours, theirs = (cache._read_keyed(site, "memo-html") for site in (root / "site", other / "site"))
    assert {k: ours.raw(k) for k in ours} == {k: theirs.raw(k) for k in theirs} != {}, "html: saved whole, early"
    assert_same_as_clean(root, clean_builds, " (lean clean build)")

    pipeline._IN_PROCESS.clear()  # a new process, as build.py is: the memo is read from disk
    set_summary(root, "budget-regional/emplois-300.yaml", "La région publie enfin un décompte : 120 emplois.")
    yaml_file = read(root / "site", "memo-yaml")
    held_later.clear()
    assert not build(Project.at(root), lean=True).failed
    (memo,) = pipeline._IN_PROCESS.values()
    assert memo.misses <= CLAIM_WORK, "the edited claim's work, not every file's: the early tables were read"
    # An edit's tables are not written whole: let go of all the same, their files left as they
    # are, the edited claim's entries journaled.
    assert held_later == [dict.fromkeys(early, 0)], "an edit's early tables let go of too"
    assert read(root / "site", "memo-yaml") == yaml_file, "not rewritten"
    assert read(root / "site", "memo-journal")["yaml"], "the edit's new entries journaled"
    pipeline._IN_PROCESS.clear()
    set_summary(root, "conseil-municipal/piscine-1200-entrees.yaml", "La piscine a accueilli 1 200 personnes.")
    assert not build(Project.at(root)).failed
    (memo,) = pipeline._IN_PROCESS.values()
    assert memo.misses <= CLAIM_WORK, "nothing lost: the tables let go of are found in their files and the journal"
    assert_same_as_clean(root, clean_builds, " (edits after a lean build)")


CLAIM_WORK = 13
"""The memo's entries a claim edited makes: its file's text hash and data, its checks (alone,
against its article, the names it writes, ClaimReview), its verdict's and context's HTML, its
quote's place, its model, card, open-data row and page key."""


def test_the_cache_knows_each_library_version_as_importlib_metadata_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A library upgraded makes the cache another version's (ignored): its version is read from the
    # dist-info folders' names; an .egg-info, or a library not found, is asked of importlib.metadata.
    from importlib import metadata

    from constat import cache

    names = [*cache._LIBRARIES, "types-PyYAML", "jsonschema_specifications", "no-such-library"]

    def expected(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    assert cache.library_versions(names) == {name: expected(name) for name in names}
    first = tmp_path / "first"  # earlier on sys.path: found first, as importlib.metadata finds it
    (first / "Markdown-99.1.dist-info").mkdir(parents=True)
    (first / "Markdown-99.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: Markdown\n"
                                                                 "Version: 99.1\n")
    (first / "nh3.egg-info").mkdir()
    (first / "nh3.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: nh3\nVersion: 0.0.1\n")
    monkeypatch.syspath_prepend(str(first))
    metadata_before = {name: expected(name) for name in names}
    assert metadata_before["markdown"] == "99.1" and metadata_before["nh3"] == "0.0.1"
    assert cache.library_versions(names) == metadata_before
    before = cache.code_version.__wrapped__()  # once per process otherwise
    (first / "Markdown-99.1.dist-info").rename(first / "Markdown-99.2.dist-info")
    assert cache.code_version.__wrapped__() != before, "another version of a library: another cache"


# --- 4. an output folder edited by hand is repaired -------------------------------------------


def test_an_output_folder_edited_by_hand_is_repaired(tmp_path: Path, clean_builds: CleanBuilds) -> None:
    root = new_project(tmp_path / "p")
    out = root / "site"
    assert not build(Project.at(root)).failed
    before = snapshot(out)
    edited = ["index.html", "static/style.css", "affirmations/budget-regional/deficit-moitie/index.html"]
    (out / edited[0]).write_bytes(b"<!DOCTYPE html><p>edited by hand</p>\n")
    (out / edited[1]).unlink()
    (out / edited[2]).unlink()
    (out / "notes-de-la-redaction.html").write_bytes(b"<p>left here by hand</p>\n")
    assert_same_as_clean(root, clean_builds, " (site/ edited by hand, no input changed)")
    untouched = {name: v for name, v in before.items() if name not in edited}
    assert not rewritten_unchanged(untouched, snapshot(out)), "only the files edited by hand are written again"


def test_a_fresh_build_ignores_the_cache_and_repairs_what_the_quick_check_cannot_see(
        tmp_path: Path, clean_builds: CleanBuilds) -> None:
    # Output files are trusted when their size, mtime and inode are as recorded (as rsync does):
    # a page rewritten in place with its size and old mtime put back is not seen. --fresh is the way out.
    root = new_project(tmp_path / "p")
    page = root / "site/affirmations/conseil-municipal/piscine-1200-entrees/index.html"
    assert not build(Project.at(root)).failed
    edit_behind_the_cache(page, "Notre vérification", "Votre vérification")
    run = cli("build", "--fresh", "--root", str(root))
    assert run.code == 0
    assert b"Notre v" in page.read_bytes()
    assert_same_as_clean(root, clean_builds, " (after build --fresh)")


# --- 5. an editor's mistake does not cost the cache -------------------------------------------


def test_a_failed_build_keeps_the_converted_markdown_for_the_build_after_the_fix(
        tmp_path: Path, clean_builds: CleanBuilds, monkeypatch: pytest.MonkeyPatch) -> None:
    # A build that stops at an input error never reaches the pages: the Markdown they use must
    # survive in the cache, or the build after the fix converts the whole site again.
    import constat.markup
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    claim = root / "claims/budget-regional/emplois-300.yaml"
    original = claim.read_text(encoding="utf-8")
    claim.write_text(original.replace("summary:", "summary: [", 1), encoding="utf-8")
    assert build(Project.at(root)).failed
    converted: list[str] = []
    real = constat.markup._raw_html
    monkeypatch.setattr(constat.markup, "_raw_html", lambda text: converted.append(text) or real(text))
    claim.write_text(original, encoding="utf-8")
    data = read_yaml(claim)
    data["verdict"] = "Aucun décompte **public** ne permet de le vérifier."
    write_yaml(claim, data)
    assert_same_as_clean(root, clean_builds, " (a failed build, then the fix)")
    assert converted == [data["verdict"]], "only the edited verdict is converted again"


def test_unchanged_inputs_are_not_read_again_and_changed_ones_are(tmp_path: Path) -> None:
    # The quick check trusts a file whose size, mtime, ctime and inode are as recorded, as git does;
    # an edit with the mtime put back still changes the ctime, so it is read and seen.
    import time

    from constat.pipeline import quick_inputs
    root = new_project(tmp_path / "p")
    project = Project.at(root)
    first, seen, _ = quick_inputs(project, {}, {}, 0)
    later = time.time_ns() + 10**12  # as if recorded long after every file was last changed
    contents: dict[str, bytes] = {}
    again, _, _ = quick_inputs(project, contents, seen, later)
    assert (again, contents) == (first, {}), "nothing changed: nothing is read"
    time.sleep(0.05)  # past the file system's clock tick
    for name, old, new, _page in SAME_SIZE_EDITS:
        edit_behind_the_cache(root / name, old, new)
        now, _, _ = quick_inputs(project, contents, seen, later)
        assert now != first, f"{name} changed with the same size and mtime"
    assert sorted(contents) == sorted(str(root / name) for name, *_ in SAME_SIZE_EDITS
                                      if not name.startswith("templates/"))


def test_an_editors_swap_files_and_backups_leave_the_build_nothing_to_do(tmp_path: Path) -> None:
    # Vim writes .name.swp as soon as a file is opened, Emacs name~ on the first save: the build
    # reads neither, so they must not make the next build go through every input again.
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    claim = next((root / "claims").glob("*/*.yaml"))
    for path in (claim.with_name(f".{claim.name}.swp"), claim.with_name(f"{claim.name}~"),
                 root / "content" / ".notes.md.swp", root / "templates" / "partials" / "badge.html~",
                 root / "templates" / "static" / ".style.css.swp"):
        path.write_bytes(b"\x00\xff swap")
    hash_now, _, _ = pipeline.quick_inputs(Project.at(root))
    assert hash_now == read_state(root / "site").inputs, "the same inputs as the last build: nothing to do"


def test_claims_are_checked_again_against_a_changed_scale_of_verdicts(tmp_path: Path) -> None:
    # What a claim is checked against (its article, the scale) is remembered with the claim's
    # check: renaming a verdict in statuses.yaml, which changes no claim file, still finds the
    # claims rated with the old name.
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    statuses = read_yaml(root / "statuses.yaml")
    for status in statuses:
        if status["key"] == "faux":
            status["key"] = "errone"
    write_yaml(root / "statuses.yaml", statuses)
    report = build(Project.at(root))
    fresh = build(Project.at(copy_project(root, tmp_path / "fresh")), fresh=True)
    assert report.failed and problem_lines(report) == problem_lines(fresh)
    assert any('unknown status "faux"' in line for line in problem_lines(report))


def test_a_claim_file_parsed_before_is_not_read_again_yet_its_problems_keep_their_positions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A claim file the quick check vouches for (same size, times and inode as when its bytes were
    # hashed) comes from the cache without being read; when another file's edit gives it a
    # problem, the file is read then, and the problem is where a build without cache puts it.
    import constat.load

    monkeypatch.setattr(pipeline, "_RACY_NS", 0)  # the files were just copied: trust them at once
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    read: list[str] = []
    real = constat.load.read_text
    monkeypatch.setattr(constat.load, "read_text", lambda r, path, problems: read.append(os.fspath(path))
                        or real(r, path, problems))
    set_summary(root, "budget-regional/emplois-300.yaml", "La région publie enfin un décompte : 120 emplois.")
    assert not build(Project.at(root)).failed
    assert [p for p in read if "/claims/" in p] == [str(root / "claims/budget-regional/emplois-300.yaml")]

    article = root / "content/budget-regional.md"
    article.write_text(article.read_text("utf-8").replace("Le déficit a baissé de moitié", "Le déficit a fondu"),
                       "utf-8")
    read.clear()
    report = build(Project.at(root))
    fresh = build(Project.at(copy_project(root, tmp_path / "fresh")), fresh=True)
    assert report.failed and problem_lines(report) == problem_lines(fresh)
    assert any(line.startswith("claims/budget-regional/deficit-moitie.yaml:1:8:") for line in problem_lines(fresh))
    assert str(root / "claims/budget-regional/deficit-moitie.yaml") in read, "read for the position of its problem"


def test_a_file_changed_just_before_the_last_build_is_read_again(tmp_path: Path) -> None:
    # Within one clock tick an edit may leave every stat field as it was: files changed shortly
    # before the record was made are not trusted by the next build.
    from constat.pipeline import quick_inputs
    root = new_project(tmp_path / "p")
    project = Project.at(root)
    _, seen, at = quick_inputs(project, {}, {}, 0)
    contents: dict[str, bytes] = {}
    quick_inputs(project, contents, seen, at)
    assert str(root / "site.yaml") in contents, "just copied: read again"


def test_files_read_again_for_being_recent_are_trusted_once_a_build_with_nothing_to_do_has_seen_them_settled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A clone built at once: every file changed just before the first build, so the next one reads
    # them all again. It has nothing to do, yet it must record them, or every build after it reads
    # the whole project again (0.9 s instead of 0.4 at 10,000 claims).
    import time

    monkeypatch.setattr(pipeline, "_RACY_NS", 300_000_000)
    root = new_project(tmp_path / "p")
    project = Project.at(root)
    assert not build(project).failed
    contents: dict[str, bytes] = {}
    state = read_state(root / "site")
    pipeline.quick_inputs(project, contents, state.seen, state.seen_at)
    assert str(root / "site.yaml") in contents, "just written: the second build reads them again"
    time.sleep(0.4)
    report = build(project)
    assert not report.failed and report.written is not None and report.written.written == 0
    contents.clear()
    state = read_state(root / "site")
    pipeline.quick_inputs(project, contents, state.seen, state.seen_at)
    assert contents == {}, "settled since: the third build reads nothing"


def test_a_small_edit_appends_to_the_cache_rather_than_rewriting_it(
        tmp_path: Path, clean_builds: CleanBuilds, monkeypatch: pytest.MonkeyPatch) -> None:
    # At 10,000 claims the memo is some 130 MB: a build that changed one claim journals its few
    # new entries, and the next build (a new process) finds them there. Once the journal and the
    # entries no longer used grow past a fifth of a table, that table is written whole again.
    import constat.markup
    from constat import cache
    root = new_project(tmp_path / "p")
    claim = root / "claims/budget-regional/emplois-300.yaml"
    memo_file, journal = cache_folder(root) / "memo-html", cache_folder(root) / "memo-journal"
    converted: list[str] = []
    real = constat.markup._raw_html
    monkeypatch.setattr(constat.markup, "_raw_html", lambda text: converted.append(text) or real(text))

    def edit_and_build(verdict: str) -> None:
        pipeline._IN_PROCESS.clear()  # a new process: the memo is read from disk
        data = read_yaml(claim)
        data["verdict"] = verdict
        write_yaml(claim, data)
        converted.clear()
        assert_same_as_clean(root, clean_builds, f" (verdict {verdict!r})")
        assert converted == [verdict], "only the edited verdict is converted"

    def nothing_converted_by_a_new_process() -> None:
        pipeline._IN_PROCESS.clear()
        (root / "site" / "index.html").unlink()  # something to do, with every input as it was
        converted.clear()
        assert_same_as_clean(root, clean_builds, " (memo read back)")
        assert converted == [], "every conversion is found in the memo"

    assert not build(Project.at(root)).failed
    written = memo_file.stat().st_mtime_ns, memo_file.stat().st_ino
    edit_and_build("Aucun décompte **public** ne permet de le vérifier.")
    assert (memo_file.stat().st_mtime_ns, memo_file.stat().st_ino) == written, "the tables are not rewritten"
    assert journal.is_file(), "the new entries are journaled"
    nothing_converted_by_a_new_process()
    for n in range(2, 8):  # the mini dossier is small: a fifth of its table soon
        edit_and_build(f"Aucun décompte *public* ne le permet ({n}).")
        if (memo_file.stat().st_mtime_ns, memo_file.stat().st_ino) != written:
            break
    assert (memo_file.stat().st_mtime_ns, memo_file.stat().st_ino) != written, "the table is written whole"
    assert "html" not in (cache.read(root / "site", "memo-journal") or {}), "its journal is folded into it"
    nothing_converted_by_a_new_process()


def test_entries_journaled_for_a_table_never_read_are_folded_into_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A build can add entries to a table it never reads (memo.put); past _FOLD_AT they go into
    # the table's file, with what it held, rather than into an ever longer journal.
    from constat import cache
    from constat.memo import Memo
    out = tmp_path / "site"
    cache._write_table(out, "cards", {"old": "kept"})
    monkeypatch.setattr(cache, "_FOLD_AT", 2)
    first = cache.read_memo(out)
    first.put("cards", "a", "1")
    cache.save_memo(out, first)
    assert cache.read(out, "memo-journal") == {"cards": {"a": "1"}}, "journaled"
    second = cache.read_memo(out)
    second.put("cards", "b", "2")
    second.put("cards", "c", "3")
    cache.save_memo(out, second)
    assert dict(cache._read_table(out, "cards")) == {"old": "kept", "a": "1", "b": "2", "c": "3"}
    assert cache.read(out, "memo-journal") is None, "folded: no journal left"
    assert Memo(loader=partial(cache._read_table, out)).previous["cards"]["a"] == "1"


def test_a_keyed_table_cut_short_while_it_is_read_loses_entries_not_the_process(tmp_path: Path) -> None:
    # The preview keeps its memo between builds, keyed tables open; someone empties the cache by
    # hand. A table mapped in memory would kill the server (SIGBUS); read, its entries go missing.
    from constat import cache
    out = tmp_path / "site"
    entries = {n: f"<p>{n}</p>" * 50 for n in range(200)}
    cache._write_table(out, "html", entries)
    table = cache._read_table(out, "html")
    path = cache.folder(out) / "memo-html"
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    kept = {n: table.get(n, "missing") for n in entries}
    assert 0 < sum(v == "missing" for v in kept.values()) < len(entries)
    assert all(v in ("missing", entries[n]) for n, v in kept.items())


def test_a_keyed_table_is_not_rewritten_for_the_few_entries_a_build_adds(tmp_path: Path) -> None:
    # A claim edit reads one verdict of 11,000 and touches the others (kept without reading them):
    # its new entry is journaled, the 29 MB table is not written again.
    from constat import cache
    out = tmp_path / "site"
    cache._write_table(out, "html", {n: f"<p>{n}</p>" for n in range(100)})
    written = (cache.folder(out) / "memo-html").stat().st_ino
    memo = cache.read_memo(out)
    memo.touch("html", range(100))
    assert memo.get("html", 7, lambda: "never") == "<p>7</p>"
    assert memo.get("html", "new", lambda: "<p>new</p>") == "<p>new</p>"
    cache.save_memo(out, memo)
    assert (cache.folder(out) / "memo-html").stat().st_ino == written, "journaled, not rewritten"
    assert cache.read(out, "memo-journal") == {"html": {"new": "<p>new</p>"}}
    again = cache.read_memo(out)
    again.touch("html", range(50))  # half of them no longer in use: the table is written without them
    again.get("html", "new", lambda: "never")
    cache.save_memo(out, again)
    assert dict(cache._read_table(out, "html")) == {**{n: f"<p>{n}</p>" for n in range(50)}, "new": "<p>new</p>"}


def test_a_build_reads_only_the_tables_it_consults_and_rewrites_only_those_it_changed(
        tmp_path: Path, clean_builds: CleanBuilds, monkeypatch: pytest.MonkeyPatch) -> None:
    # The memo is one file per table. A claim edit finds its quotes in the table of quote
    # positions and never needs the folded texts of the articles; a template edit makes new
    # cards and page keys but parses no YAML and converts no Markdown: those tables stay as written.
    from constat import cache
    root = new_project(tmp_path / "p")
    assert not build(Project.at(root)).failed
    read = tables_read(monkeypatch)

    def files() -> dict[str, tuple[int, int]]:
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in cache_folder(root).glob("memo-*")}

    shown: list[Any] = []
    real_get = cache.KeyedTable.get
    monkeypatch.setattr(cache.KeyedTable, "get", lambda self, key, default=None: shown.append(key) or real_get(
        self, key, default))
    written = files()
    pipeline._IN_PROCESS.clear()  # a new process
    set_summary(root, "budget-regional/deficit-moitie.yaml", "Le déficit a baissé d’un quart.")
    assert_same_as_clean(root, clean_builds, " (a claim edited)")
    assert "quote" in read and "folded" not in read, read
    # Of the claims' converted verdicts, the edited one's, which its page shows, and none of the
    # others (their pages are not rendered): they stay in the file, all kept.
    verdicts = {key for key in shown if isinstance(key, tuple) and key[0] == "verdict"}
    assert "html" in read and len(verdicts) == 1 < len(list(root.glob("claims/*/*.yaml"))), shown
    assert files()["memo-html"] == written["memo-html"], "nothing converted, nothing dropped: not rewritten"

    before = files()
    pipeline._IN_PROCESS.clear()
    template = root / "templates/claim.html"
    template.write_text(template.read_text("utf-8").replace(">Notre vérification<", ">La vérification<"), "utf-8")
    assert_same_as_clean(root, clean_builds, " (a template edited)")
    after = files()
    assert after["memo-pages"] != before["memo-pages"], "the claim pages' keys are new: rewritten"
    assert after["memo-yaml"] == before["memo-yaml"] and after["memo-html"] == before["memo-html"], \
        "nothing parsed or converted: not rewritten"


def test_a_first_look_between_two_preview_builds_leaves_the_next_build_its_checks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # build.py serve on a site already built: its first build has nothing to do and only models
    # the inputs; a save then gets a first look (which checks the edited file, reading the table
    # of every file's checks), then the build. That build once checked every file again (11 s at
    # 10,000 claims, while the next save waited): carrying the memo over to it kept, of a table,
    # only what the build before had used, and that build had not read the table at all.
    from constat import preview, validate

    root = new_project(tmp_path / "p")
    project = Project.at(root)
    assert not build(project).failed
    pipeline._IN_PROCESS.clear()  # the preview is a new process
    started = build(project, save_memo=False, search_later=True, model=True)
    assert started.model is not None and started.written is not None and started.written.written == 0
    set_summary(root, "budget-regional/deficit-moitie.yaml", "Le déficit a baissé d’un quart.")
    edited = root / "claims/budget-regional/deficit-moitie.yaml"
    assert preview.first_look(root, project.templates, started.model, [edited]), "a first look, as the preview gives"
    checked: list[Any] = []
    real = validate._check_claim_alone
    monkeypatch.setattr(validate, "_check_claim_alone", lambda item: checked.append(item) or real(item))
    report = build(project, save_memo=False, search_later=True)
    assert not report.failed and report.written is not None and report.written.written > 0
    assert checked == [], f"{len(checked)} claim(s) checked again, though none changed since the first look"
