"""Command line: ``build`` (default) and ``check``, printing problems as compilers do."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from constat.pipeline import Project, Report, build, check


def _parser(default_root: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="build.py", description="Build the Constat fact-checking site.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=default_root,
                        help="project folder with site.yaml, content/ and claims/ (default: %(default)s)")
    common.add_argument("--strict", action="store_true", help="fail on warnings too (CI uses this)")
    common.add_argument("--format", choices=("human", "github"), default="human",
                        help="github prints GitHub Actions annotations")
    sub = parser.add_subparsers(dest="command")
    build_cmd = sub.add_parser("build", parents=[common], help="check, then write the site (default)")
    build_cmd.add_argument("--out", type=Path, help="output folder (default: ROOT/site)")
    sub.add_parser("check", parents=[common], help="validate the inputs, write nothing")
    return parser


def main(argv: list[str] | None = None, default_root: Path | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in ("build", "check", "-h", "--help"):
        args_list.insert(0, "build")
    args = _parser(default_root or Path.cwd()).parse_args(args_list)
    if args.command == "check":
        report = check(Project.at(args.root), strict=args.strict)
    else:
        try:
            report = build(Project.at(args.root, args.out), strict=args.strict)
        except (ValueError, OSError) as exc:
            print(f"build.py: error: {exc}", file=err)
            return 1
    _print_report(report, args.command, args.format, out, err)
    return 1 if report.failed else 0


def _print_report(report: Report, command: str, style: str, out: TextIO, err: TextIO) -> None:
    for problem in report.problems:
        print(problem.format_github() if style == "github" else problem.format(), file=err)
    counts = f"{report.errors} error(s), {report.warnings} warning(s)"
    if report.failed:
        why = " (--strict: warnings count)" if report.errors == 0 else ""
        tail = "nothing was written; the previous site is unchanged" if command == "build" else "check failed"
        print(f"{command}: {counts}{why}: {tail}", file=err)
    elif command == "check":
        print(f"check: {counts}", file=out)
    elif report.written is not None:
        w = report.written
        print(f"build: {counts}; {report.pages} pages; {w.written} file(s) written, "
              f"{w.unchanged} unchanged, {w.removed} removed", file=out)
