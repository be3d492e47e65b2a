"""Problems found in the inputs: values with a file, a line, a column and the fix, never exceptions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one input file.

    Problems are collected across every file and reported once, sorted by file and line,
    so an editor sees all of them in one run instead of fixing them one build at a time.
    """

    path: str
    """Path of the file, relative to the project root, with forward slashes."""
    line: int
    """1-based line of the value at fault (1 when the whole file is at fault)."""
    column: int
    """1-based column."""
    code: str
    """Stable name of the check, e.g. ``unknown-status``; tests and docs refer to it."""
    message: str
    """What is wrong and, where it can be guessed, how to fix it."""
    severity: Severity = Severity.ERROR

    def format(self) -> str:
        """The form compilers use, so that editors and terminals can jump to the place."""
        return f"{self.path}:{self.line}:{self.column}: {self.severity.value}: {self.message} [{self.code}]"

    def format_github(self) -> str:
        """A GitHub Actions workflow command: the problem shows on the pull request's line."""
        kind = "error" if self.severity is Severity.ERROR else "warning"
        message = _escape_github(f"{self.message} [{self.code}]")
        path = _escape_github_property(self.path)
        return f"::{kind} file={path},line={self.line},col={self.column}::{message}"


def _escape_github(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_github_property(text: str) -> str:
    return _escape_github(text).replace(":", "%3A").replace(",", "%2C")


MAX_PER_FILE = 50
"""A file with more problems than this is not worth reading further: the rest are counted."""


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Sorted by file, line and column, exact repeats dropped, at most MAX_PER_FILE for a file."""
    ordered = sorted(set(problems), key=lambda p: (p.path, p.line, p.column, p.code, p.message))
    kept: list[Problem] = []
    counts: dict[str, int] = {}
    for problem in ordered:
        counts[problem.path] = counts.get(problem.path, 0) + 1
        if counts[problem.path] <= MAX_PER_FILE:
            kept.append(problem)
    for path, count in sorted(counts.items()):
        if count > MAX_PER_FILE:
            kept.append(Problem(path, 1, 1, "too-many-problems",
                                f"{count - MAX_PER_FILE} more problems in this file are not shown"))
    return sorted(kept, key=lambda p: (p.path, p.line, p.column, p.code, p.message))


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.WARNING]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean "faux"?)`` when a choice is close enough to be the intended one, else ``""``."""
    matches = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""
