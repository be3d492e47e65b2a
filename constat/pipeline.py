"""The build as five stages in order: load, validate, model, render, write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from constat.load import load_project
from constat.problems import Problem, Severity, sort_problems
from constat.validate import validate
from constat.write import WriteReport

TOOL_ROOT = Path(__file__).resolve().parent.parent
"""The Constat checkout: its templates/ serve any project that has none of its own."""


@dataclass(frozen=True)
class Project:
    root: Path
    """The folder holding site.yaml, statuses.yaml, content/ and claims/."""
    out: Path
    """Where the site goes; replaced as a whole on success, untouched on failure."""

    @property
    def templates(self) -> Path:
        own = self.root / "templates"
        return own if own.is_dir() and not own.is_symlink() else TOOL_ROOT / "templates"

    @classmethod
    def at(cls, root: Path, out: Path | None = None) -> Project:
        root = root.resolve()
        return cls(root, (out or root / "site").resolve())


@dataclass
class Report:
    """What a build or a check found and did."""

    problems: list[Problem] = field(default_factory=list)
    pages: int = 0
    written: WriteReport | None = None
    strict: bool = False

    @property
    def errors(self) -> int:
        return sum(p.severity is Severity.ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity is Severity.WARNING for p in self.problems)

    @property
    def failed(self) -> bool:
        return self.errors > 0 or (self.strict and self.warnings > 0)


def check(project: Project, *, strict: bool = False) -> Report:
    """Load and validate only: nothing is rendered or written."""
    return Report(sort_problems(validate(load_project(project.root))), strict=strict)


def build(project: Project, *, strict: bool = False) -> Report:
    """Check, then (only if the inputs are sound) render the whole site in memory and publish it."""
    # Imported here: `check`, which editors run on every save, needs none of the render side.
    from constat.claimreview import check_claim_review, claim_review, has_claim_review
    from constat.model import build_model
    from constat.render import TemplateProblem, render_site
    from constat.search import index_search
    from constat.write import publish

    _refuse_unsafe_output(project)
    inputs = load_project(project.root)
    report = Report(sort_problems(validate(inputs)), strict=strict)
    if report.failed:
        return report
    dossier = build_model(inputs)
    report.problems += [p for claim in dossier.claims if has_claim_review(claim)
                        for p in check_claim_review(claim_review(claim, dossier), claim, dossier)]
    if report.failed:
        return report
    try:
        files = render_site(dossier, project.templates)
    except TemplateProblem as exc:
        report.problems.append(exc.problem)
        return report
    report.pages = sum(name.endswith(".html") for name in files)
    # Last: the index reads the rendered pages. It lands in site/ with them, in the same swap.
    files.update(index_search(files, dossier.site))
    report.written = publish(files, project.out)
    return report


def _refuse_unsafe_output(project: Project) -> None:
    # The output folder is replaced whole: it must never be the project or hold it.
    if project.out == project.root or project.root.is_relative_to(project.out):
        raise ValueError(f"the output folder {project.out} holds the project: choose another one")
    for name in ("content", "claims", "templates", "schema", "constat"):
        if project.out == project.root / name:
            raise ValueError(f"the output folder {project.out} is an input folder: choose another one")
