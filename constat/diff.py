"""Editorial diff: the claims and articles added, removed or changed since a git revision, for a pull request."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from constat.load import Inputs, load_project
from constat.problems import Severity

WORKING_TREE = "la version de travail"
_INPUTS = ("site.yaml", "statuses.yaml", "content", "claims")
_TEXTS = {"quote": "Citation (quote) modifiée", "short_claim": "Affirmation résumée (short_claim) modifiée",
          "summary": "Verdict en une phrase (summary) modifié", "verdict": "Explication (verdict) modifiée"}
_SHORT = ("quote", "short_claim", "summary")  # their earlier wording is quoted; an explanation is too long for that
_HANDLED = {*_TEXTS, "status", "sources", "figures", "corrections"}
_ARTICLE_FIELDS = {"title": "titre", "url": "adresse", "published": "date", "passages": "passages cités"}


@dataclass(frozen=True)
class ClaimEntry:
    """A claim added or removed, with its quote and verdict label on the side that has it."""

    article: str
    slug: str
    quote: str
    verdict: str


@dataclass(frozen=True)
class ClaimChange:
    """A claim on both sides whose content differs."""

    article: str
    slug: str
    quote: str
    verdict: tuple[str, str] | None
    """(label before, label now) when the status changed."""
    fields: tuple[str, ...]
    """Which of quote, short_claim, summary, verdict, figures changed, in that order."""
    sources_added: tuple[str, ...]
    sources_removed: tuple[str, ...]
    sources_edited: tuple[str, ...]
    """URLs kept whose title, publisher, date or excerpt changed."""
    new_corrections: tuple[tuple[str, str], ...]
    """(date, text) of each correction that was not there before."""
    others: tuple[str, ...]
    """Any other key that changed (speaker, tags, reviewed_on…), so that no change goes unmentioned."""
    before: dict[str, Any] = field(repr=False, compare=False)
    after: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ArticleEntry:
    slug: str
    title: str
    fields: tuple[str, ...] = ()
    """For a changed article: among title, url, published, passages, then other front matter keys."""


@dataclass(frozen=True)
class Unreadable:
    """A file that did not load on one side: it is reported as such, never as removed or added."""

    side: str
    path: str
    line: int
    message: str


@dataclass(frozen=True)
class EditorialDiff:
    ref: str
    claims_added: tuple[ClaimEntry, ...]
    claims_removed: tuple[ClaimEntry, ...]
    claims_changed: tuple[ClaimChange, ...]
    articles_added: tuple[ArticleEntry, ...]
    articles_removed: tuple[ArticleEntry, ...]
    articles_changed: tuple[ArticleEntry, ...]
    settings_changed: tuple[str, ...]
    """site.yaml and statuses.yaml, when their content changed."""
    unreadable: tuple[Unreadable, ...]

    @property
    def empty(self) -> bool:
        return not any((self.claims_added, self.claims_removed, self.claims_changed, self.articles_added,
                        self.articles_removed, self.articles_changed, self.settings_changed, self.unreadable))


def editorial_diff(root: Path, ref: str) -> EditorialDiff:
    """Compare the project at git revision ``ref`` with the working tree of the repository at ``root``."""
    if not ref or ref.startswith("-"):  # a revision must never be read as an option of git
        raise ValueError(f'"{ref}" is not a git revision')
    # git archive refuses to run from a sub-folder: read from the top, the project's folder of the revision.
    top, prefix = _git(root, "rev-parse", "--show-toplevel", "--show-prefix").decode().split("\n")[:2]
    try:
        _git(Path(top), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ValueError:
        raise ValueError(f'unknown git revision "{ref}": give a branch, a tag or a commit, '
                         "e.g. origin/main or HEAD~1") from None
    tree = f"{ref}:{prefix}" if prefix else ref
    names = _git(Path(top), "ls-tree", "--name-only", "-z", tree).decode().split("\0")
    with tempfile.TemporaryDirectory(prefix="constat-diff-") as tmp:
        wanted = [name for name in _INPUTS if name in names]
        if wanted:
            archive = _git(Path(top), "archive", "--format=tar", tree, "--", *wanted)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(tmp, filter="data")  # "data" refuses links and paths that lead out of tmp
        before = load_project(Path(tmp))
    return _compare(ref, before, load_project(root))


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=120, check=False)
    except FileNotFoundError:
        raise ValueError("git is not installed: the diff reads the earlier version from git") from None
    if done.returncode != 0:
        raise ValueError(f"{root}: {done.stderr.decode(errors='replace').strip() or 'git ' + args[0] + ' failed'}")
    return done.stdout


def _compare(ref: str, old: Inputs, new: Inputs) -> EditorialDiff:
    now, then = _unreadable(new, WORKING_TREE), _unreadable(old, f"`{ref}`")
    unreadable = now + [u for u in then if u.path not in {n.path for n in now}]
    skip = {_key(u.path) for u in unreadable}  # a file that did not load on one side proves nothing either way
    labels_old, labels_new = _labels(old), _labels(new)
    c_old = {(c.article_slug, c.slug): _mapping(c.doc.data) for c in old.claims}
    c_new = {(c.article_slug, c.slug): _mapping(c.doc.data) for c in new.claims}
    a_old = {a.slug: (_mapping(a.front.data), a.body.strip()) for a in old.articles}
    a_new = {a.slug: (_mapping(a.front.data), a.body.strip()) for a in new.articles}
    claims = [_claim_change(k, c_old[k], c_new[k], labels_old, labels_new) for k in sorted(c_old.keys() & c_new.keys())]
    articles = [_article_change(s, a_old[s], a_new[s]) for s in sorted(a_old.keys() & a_new.keys())]
    return EditorialDiff(
        ref=ref,
        claims_added=tuple(_entry(k, c_new[k], labels_new) for k in sorted(c_new.keys() - c_old.keys() - skip)),
        claims_removed=tuple(_entry(k, c_old[k], labels_old) for k in sorted(c_old.keys() - c_new.keys() - skip)),
        claims_changed=tuple(c for c in claims if c is not None),
        articles_added=tuple(ArticleEntry(s, str(a_new[s][0].get("title")))
                             for s in sorted(a_new.keys() - a_old.keys() - skip)),
        articles_removed=tuple(ArticleEntry(s, str(a_old[s][0].get("title")))
                               for s in sorted(a_old.keys() - a_new.keys() - skip)),
        articles_changed=tuple(a for a in articles if a is not None),
        settings_changed=tuple(name for name, a, b in (("site.yaml", old.site, new.site),
                                                       ("statuses.yaml", old.statuses, new.statuses))
                               if a is not None and b is not None and a.data != b.data),
        unreadable=tuple(unreadable),
    )


def _unreadable(inputs: Inputs, side: str) -> list[Unreadable]:
    found = {Unreadable(side, p.path, p.line, p.message) for p in inputs.problems if p.severity is Severity.ERROR}
    return sorted(found, key=lambda u: (u.path, u.line, u.message))


def _key(path: str) -> tuple[str, str] | str:
    """The (article, slug) of a claim file, the slug of an article file, the path of any other file."""
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "claims":
        return parts[1], Path(parts[2]).stem
    return Path(parts[1]).stem if len(parts) == 2 and parts[0] == "content" else path


def _mapping(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}  # loaded, not validated: a file may hold a list


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(inputs: Inputs) -> dict[str, str]:
    data = _list(inputs.statuses.data if inputs.statuses is not None else None)
    return {s["key"]: str(s["label"]) for s in data if isinstance(s, dict) and "key" in s and "label" in s}


def _label(labels: dict[str, str], key: Any) -> str:
    return labels.get(key, str(key)) if isinstance(key, str) else "(aucun)"  # an unknown key shows as written


def _entry(key: tuple[str, str], data: dict[str, Any], labels: dict[str, str]) -> ClaimEntry:
    return ClaimEntry(key[0], key[1], str(data.get("quote", "")), _label(labels, data.get("status")))


def _sources(data: dict[str, Any]) -> dict[str, Any]:
    return {str(s.get("url")): s for s in _list(data.get("sources")) if isinstance(s, dict)}


def _claim_change(key: tuple[str, str], old: dict[str, Any], new: dict[str, Any],
                  labels_old: dict[str, str], labels_new: dict[str, str]) -> ClaimChange | None:
    if old == new:
        return None
    verdict = None
    if old.get("status") != new.get("status"):
        verdict = (_label(labels_old, old.get("status")), _label(labels_new, new.get("status")))
    src_old, src_new = _sources(old), _sources(new)
    corrections = _list(old.get("corrections"))
    return ClaimChange(
        article=key[0], slug=key[1], quote=str(new.get("quote", "")), verdict=verdict,
        fields=tuple(f for f in (*_TEXTS, "figures") if old.get(f) != new.get(f)),
        sources_added=tuple(u for u in src_new if u not in src_old),
        sources_removed=tuple(u for u in src_old if u not in src_new),
        sources_edited=tuple(u for u in src_new if u in src_old and src_new[u] != src_old[u]),
        new_corrections=tuple((str(c.get("date")), str(c.get("text"))) for c in _list(new.get("corrections"))
                              if isinstance(c, dict) and c not in corrections),
        others=tuple(sorted(k for k in old.keys() | new.keys() if k not in _HANDLED and old.get(k) != new.get(k))),
        before=old, after=new,
    )


def _article_change(slug: str, old: tuple[dict[str, Any], str], new: tuple[dict[str, Any], str]) -> ArticleEntry | None:
    (front_old, body_old), (front_new, body_new) = old, new
    fields = [f for f in _ARTICLE_FIELDS if f != "passages" and front_old.get(f) != front_new.get(f)]
    fields += ["passages"] if body_old != body_new else []
    fields += sorted(k for k in front_old.keys() | front_new.keys()
                     if k not in _ARTICLE_FIELDS and front_old.get(k) != front_new.get(k))
    return ArticleEntry(slug, str(front_new.get("title")), tuple(fields)) if fields else None


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _figures(value: Any) -> str:
    if not isinstance(value, dict):
        return "aucun"
    unit = f" {value.get('unit', '')}".rstrip()
    said = [f"avancé {_number(value.get('stated'))}{unit}"]
    said += [f"établi {_number(value['measured'])}{unit}"] if value.get("measured") is not None else []
    return ", ".join(said) + (f" (au {value['as_of']})" if value.get("as_of") else "")


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace(".", ",")  # the French decimal comma


def _claim_lines(c: ClaimChange) -> list[str]:
    lines = [f"Verdict : {c.verdict[0]} → {c.verdict[1]}"] if c.verdict else []
    for name, label in _TEXTS.items():
        before = c.before.get(name)
        if name in c.fields:
            was = f"« {_one_line(before)} »" if before else "(vide)"
            lines.append(label + (f" ; avant : {was}" if name in _SHORT else ""))
    lines += [f"Source ajoutée : {u}" for u in c.sources_added]
    lines += [f"Source retirée : {u}" for u in c.sources_removed]
    lines += [f"Source modifiée (titre, éditeur, date ou extrait) : {u}" for u in c.sources_edited]
    if "figures" in c.fields:
        lines.append(f"Chiffres : {_figures(c.before.get('figures'))} → {_figures(c.after.get('figures'))}")
    lines += [f"Nouvelle correction du {day} : {_one_line(text)}" for day, text in c.new_corrections]
    lines += ["Autres champs modifiés : " + ", ".join(c.others)] if c.others else []
    return lines or ["Ordre des sources ou des corrections modifié"]


@dataclass
class _Item:
    name: str
    rest: str = ""
    quote: str | None = None
    lines: list[str] = field(default_factory=list)


def _sections(d: EditorialDiff) -> list[tuple[str, list[_Item]]]:
    sections = [
        ("Affirmations ajoutées", [_Item(f"{c.article}/{c.slug}", f" — {c.verdict}", c.quote) for c in d.claims_added]),
        ("Affirmations retirées", [_Item(f"{c.article}/{c.slug}", f" — {c.verdict}", c.quote)
                                   for c in d.claims_removed]),
        ("Affirmations modifiées", [_Item(f"{c.article}/{c.slug}", "", c.quote, _claim_lines(c))
                                    for c in d.claims_changed]),
        ("Articles ajoutés", [_Item(a.slug, f" — {a.title}") for a in d.articles_added]),
        ("Articles retirés", [_Item(a.slug, f" — {a.title}") for a in d.articles_removed]),
        ("Articles modifiés", [_Item(a.slug, f" — {a.title}", None,
                                     ["Modifié : " + ", ".join(_ARTICLE_FIELDS.get(f, f) for f in a.fields)])
                               for a in d.articles_changed]),
        ("Réglages modifiés", [_Item(name) for name in d.settings_changed]),
        ("Fichiers illisibles", [_Item(u.path, f", ligne {u.line}, dans {u.side}", None, [u.message])
                                 for u in d.unreadable]),
    ]
    return [(title, items) for title, items in sections if items]


def _summary(d: EditorialDiff) -> str:
    if d.empty:
        return "Aucune modification des affirmations ni des articles."
    verdicts = sum(c.verdict is not None for c in d.claims_changed)
    return (f"Affirmations : {len(d.claims_added)} ajoutée(s), {len(d.claims_removed)} retirée(s), "
            f"{len(d.claims_changed)} modifiée(s), dont {verdicts} changement(s) de verdict. "
            f"Articles : {len(d.articles_added)} ajouté(s), {len(d.articles_removed)} retiré(s), "
            f"{len(d.articles_changed)} modifié(s).")


def format_markdown(d: EditorialDiff) -> str:
    """The report in Markdown, to paste in a pull request description or a CI job summary."""
    out = [f"# Modifications éditoriales depuis `{d.ref}`", "", _summary(d), ""]
    for title, items in _sections(d):
        out += [f"## {title} ({len(items)})", ""]
        for item in items:
            if item.quote is None:
                out += [f"- `{item.name}`{item.rest}", *(f"  - {line}" for line in item.lines)]
                continue
            out += [f"### `{item.name}`{item.rest}", "", *(f"> {line}".rstrip() for line in item.quote.split("\n"))]
            out += ["", *(f"- {line}" for line in item.lines)]
            out += [""] if item.lines else []
        out += [""] if out[-1] else []
    return "\n".join(out)


def format_text(d: EditorialDiff) -> str:
    """The report in plain text, for a terminal."""
    title = f"Modifications éditoriales depuis {d.ref}"
    out = [title, "=" * len(title), "", _summary(d), ""]
    for heading, items in _sections(d):
        out += [f"{heading} ({len(items)})", "-" * len(f"{heading} ({len(items)})")]
        for item in items:
            out.append(f"* {item.name}{item.rest}")
            out += [f"  « {_one_line(item.quote)} »"] if item.quote is not None else []
            out += [f"  - {line}" for line in item.lines]
        out.append("")
    return "\n".join(out)
