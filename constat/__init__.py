"""Constat: a static fact-checking site from Markdown articles and YAML claim records."""

from constat.pipeline import Project, Report, build, check

__all__ = ["Project", "Report", "build", "check"]
