"""Command line: ``build`` (default), ``check``, ``serve``, ``new`` and ``diff``."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TextIO

from constat.forking import stopped_like_ctrl_c
from constat.pipeline import Project, Report, build, check


def _parser(default_root: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="build.py", description="Build the Constat fact-checking site.")
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument("--root", type=Path, default=default_root,
                      help="project folder with site.yaml, content/ and claims/ (default: %(default)s)")
    checks = argparse.ArgumentParser(add_help=False)
    checks.add_argument("--strict", action="store_true", help="fail on warnings too (CI uses this)")
    checks.add_argument("--format", choices=("human", "github"), default="human",
                        help="github prints GitHub Actions annotations")
    sub = parser.add_subparsers(dest="command")
    build_cmd = sub.add_parser("build", parents=[root, checks], help="check, then write the site (default)")
    build_cmd.add_argument("--out", type=Path, help="output folder (default: ROOT/site)")
    build_cmd.add_argument("--fresh", action="store_true",
                           help="ignore the build cache: do all the work again and compare every file")
    sub.add_parser("check", parents=[root, checks], help="validate the inputs, write nothing")
    serve_cmd = sub.add_parser("serve", parents=[root], help="preview on 127.0.0.1, rebuilding on save")
    serve_cmd.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: %(default)s)")
    serve_cmd.add_argument("--out", type=Path, help="output folder (default: ROOT/site)")
    new_cmd = sub.add_parser("new", parents=[root], help="create a claim file to fill in")
    new_cmd.add_argument("article", help="the article's name, as in content/<article>.md")
    new_cmd.add_argument("claim", help="the new claim's name: lowercase words joined by hyphens")
    diff_cmd = sub.add_parser("diff", parents=[root], help="what changed since a git revision, in editorial terms")
    diff_cmd.add_argument("ref", help="a git revision, e.g. origin/main")
    diff_cmd.add_argument("--format", choices=("markdown", "text"), default="markdown",
                          help="markdown, to paste in a pull request (default), or text")
    return parser


def main(argv: list[str] | None = None, default_root: Path | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None, *, ends_process: bool = False) -> int:
    """Run one command. ``ends_process``: the process ends when this returns (build.py leaves
    with os._exit); the preview server aside, Python's cycle collector is then left off for good.
    Paused for a build, it ran once more as the build gave it back, over every object the build
    had made, for nothing: 0.1 s of a claim edit at 10,000 claims."""
    with stopped_like_ctrl_c():
        try:
            return _main(argv, default_root, stdout or sys.stdout, stderr or sys.stderr, ends_process)
        except KeyboardInterrupt:
            print("build.py: stopped; the site folder holds the last build that finished, whole",
                  file=stderr or sys.stderr)
            return 130


def _main(argv: list[str] | None, default_root: Path | None, out: TextIO, err: TextIO, ends_process: bool) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in ("build", "check", "serve", "new", "diff", "-h", "--help"):
        args_list.insert(0, "build")
    args = _parser(default_root or Path.cwd()).parse_args(args_list)
    if ends_process and args.command != "serve":
        gc.disable()
    if args.command == "new":
        return _new(args.root, args.article, args.claim, out, err)
    if args.command == "diff":
        return _diff(args.root, args.ref, args.format, out, err)
    if args.command == "serve":
        from constat.serve import serve

        serve(Project.at(args.root, args.out), args.port, lambda line: print(line, file=out, flush=True))
        return 0
    if args.command == "check":
        report = check(Project.at(args.root), strict=args.strict)
    else:
        try:
            report = build(Project.at(args.root, args.out), strict=args.strict, fresh=args.fresh, lean=ends_process)
        except (ValueError, OSError, RuntimeError) as exc:  # a disk, a folder, or Pagefind failing
            print(f"build.py: error: {exc}", file=err)
            return 1
    _print_report(report, args.command, args.format, out, err)
    return 1 if report.failed else 0


def _new(root: Path, article: str, claim: str, out: TextIO, err: TextIO) -> int:
    from constat.scaffold import ScaffoldError, new_claim

    try:
        path = new_claim(root.resolve(), article, claim)
    except ScaffoldError as exc:
        print(f"new: error: {exc}", file=err)
        return 1
    print(f"created {path.relative_to(root.resolve()).as_posix()}: fill it in, then run "
          "`python build.py check` (or keep `python build.py serve` open to see the page)", file=out)
    return 0


def _diff(root: Path, ref: str, style: str, out: TextIO, err: TextIO) -> int:
    from constat.diff import editorial_diff, format_markdown, format_text

    try:
        changes = editorial_diff(root.resolve(), ref)
    except ValueError as exc:
        print(f"diff: error: {exc}", file=err)
        return 2
    print(format_markdown(changes) if style == "markdown" else format_text(changes), file=out, end="")
    return 0


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
