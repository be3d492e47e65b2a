"""Where one Constat build spends its time: stage timers (no profiler) and a cProfile breakdown by library.

Usage: python bench/profile_build.py --root PROJECT --out SITE [--mode stages|cprofile] [--no-search] [--title TEXT]

Both modes run the build in this process (with --no-search, without its search index: bench/shim.py).
``stages`` wraps the pipeline's functions with wall-clock timers and nothing else, so its split is
undistorted; ``cprofile`` attributes every function's own time to a cost centre (YAML, jsonschema,
Markdown, quote search, Jinja, Pagefind, writing…) by the file its code is in; the time of the
standard library and of C built-ins goes to whoever called them, through cProfile's caller records.
The two together say which stage to work on and, inside it, which library. Prints Markdown.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import os
import pstats
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = Path(os.environ.get("CONSTAT_CODE") or HERE.parent)
"""The Constat to profile: bench/run.py points CONSTAT_CODE at its snapshot of the checkout."""
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

# (module, function, label); stages first, then the parts of them worth seeing apart. The other
# engineers change constat/ freely: a name that no longer exists is skipped, never an error.
# A stage's time leaves out the stages timed inside it (the memo's tables are read by whichever
# stage first asks for one), so the stages add up to the build; the parts are inclusive.
STAGES = [
    ("constat.cache", "read_state", "cache: the previous build's state read"),
    ("constat.pipeline", "quick_inputs", "inputs: every input file listed, hashed when changed"),
    ("constat.pipeline", "Checked", "write: the output folder checked (forks a process)"),
    ("constat.write", "Checked.back_after", "write: the output folder checked (forks a process)"),
    ("constat.forking", "Aside.result", "write: the output folder checked (forks a process)"),
    ("constat.write", "Manifest.verdict", "write: the output folder checked (forks a process)"),
    ("constat.cache", "_read_table", "cache: memo tables read"),
    ("constat.pipeline", "_prefill_if_cold", "prefill: files parsed, checked, converted on every core"),
    ("constat.load", "load_project", "load: read files, YAML events"),
    ("constat.validate", "validate", "validate: every check"),
    ("constat.model", "build_model", "model: dataclasses, Markdown of verdicts"),
    ("constat.pipeline", "_check_claim_review", "ClaimReview: build + check"),
    ("constat.render", "render_site", "render: Jinja2 pages, feeds, exports"),
    ("constat.pipeline", "_vocabulary", "search: the site's vocabulary"),
    ("constat.search", "index_parts", "search: Pagefind index (its parts)"),
    ("constat.pipeline", "_own_index", "search: Constat's own index (constat/lexicon.py)"),
    ("constat.write", "publish_site", "write: compare, write, swap"),
    ("constat.cache", "save_memo", "cache: memo saved"),
    ("constat.cache", "write", "cache: state written"),
    ("constat.memo", "Memo.end_build", "cache: memo carried over"),
    ("constat.pipeline", "sort_problems", "validate: every check"),
]
PARTS = [
    ("constat.validate", "check_schema", "validate › JSON Schema (jsonschema-rs)"),
    ("constat.validate", "markdown_problems", "validate › Markdown safety checks"),
    ("constat.validate", "quote_position", "validate › quote search (fold, find)"),
    ("constat.validate", "folded_article_text", "validate › quote search (fold, find)"),
    ("constat.model", "markdown_to_html", "model › Markdown"),
    ("constat.model", "inline_markdown", "model › Markdown"),
    ("constat.model", "quote_position", "model › quote search"),
    ("constat.render", "fingerprint", "render › page keys (their contexts)"),
    ("constat.render", "_render_pages", "render › pages (Jinja2, on every core)"),
]

# Cost centres for cProfile, by a fragment of the code's file name; first match wins.
CENTRES = [
    ("/constat/load.py", "YAML load (libyaml events → values)"),
    ("/yaml/", "YAML load (libyaml events → values)"),
    ("_yaml", "YAML load (libyaml events → values)"),
    ("/constat/schema.py", "JSON Schema validation (jsonschema)"),
    ("/jsonschema", "JSON Schema validation (jsonschema)"),
    ("/referencing/", "JSON Schema validation (jsonschema)"),
    ("/rpds", "JSON Schema validation (jsonschema)"),
    ("/attr/", "JSON Schema validation (jsonschema)"),
    ("/constat/validate.py", "other checks (validate.py)"),
    ("/constat/problems.py", "other checks (validate.py)"),
    ("/constat/quotes.py", "quote search (fold, find)"),
    ("/markdown/", "Markdown (python-markdown)"),
    ("/constat/markup.py", "sanitize + typography of HTML (nh3, markup.py)"),
    ("nh3", "sanitize + typography of HTML (nh3, markup.py)"),
    ("/constat/french.py", "French typography (french.py)"),
    ("/constat/model.py", "model + ClaimReview"),
    ("/constat/claimreview.py", "model + ClaimReview"),
    ("/jinja2/", "Jinja2 render (templates, render.py, feeds, exports)"),
    ("/markupsafe/", "Jinja2 render (templates, render.py, feeds, exports)"),
    ("/templates/", "Jinja2 render (templates, render.py, feeds, exports)"),
    ("/constat/render.py", "Jinja2 render (templates, render.py, feeds, exports)"),
    ("/constat/feeds.py", "Jinja2 render (templates, render.py, feeds, exports)"),
    ("/constat/opendata.py", "Jinja2 render (templates, render.py, feeds, exports)"),
    ("/constat/search.py", "Pagefind search index (incl. waiting for it)"),
    ("/constat/lexicon.py", "Constat's own search index"),
    ("/pagefind/", "Pagefind search index (incl. waiting for it)"),
    ("/constat/write.py", "write (staging, compare, swap)"),
    ("<frozen importlib", "imports"),
]


def _timed(label: str, func: Callable[..., Any], totals: dict[str, float], active: list[tuple[str, list[float]]],
           exclusive: bool) -> Callable[..., Any]:
    """``func`` adding its wall time to ``totals[label]``; ``active``: the labels being timed, in
    the order they started, each with the time spent in labels timed inside it (``exclusive``:
    taken off its own)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if any(name == label for name, _ in active) or threading.current_thread() is not _MAIN:
            return func(*args, **kwargs)  # nested or recursive under the same label: counted once, outside
        inner = [0.0]
        active.append((label, inner))
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            took = time.perf_counter() - start
            active.pop()
            totals[label] += took - inner[0] if exclusive else took
            if active:
                active[-1][1][0] += took

    return wrapper


_MAIN = threading.main_thread()
"""Only the build's own thread is timed (Pagefind's parts are waited for in threads)."""


def install_timers(specs: list[tuple[str, str, str]], totals: dict[str, float], *,
                   exclusive: bool = False) -> list[str]:
    active: list[tuple[str, list[float]]] = []
    missing = []
    for module_name, name, label in specs:
        owner: Any = importlib.import_module(module_name)
        *path, attribute = name.split(".")  # a method: Class.method
        for part in path:
            owner = getattr(owner, part, None)
        func = getattr(owner, attribute, None)
        if func is None:
            missing.append(f"{module_name}.{name}")
            continue
        setattr(owner, attribute, _timed(label, func, totals, active, exclusive))
    return missing


def _build(root: Path, out: Path) -> tuple[float, Any]:
    from constat.pipeline import Project, build

    start = time.perf_counter()
    report = build(Project.at(root, out))
    return time.perf_counter() - start, report


def stages(root: Path, out: Path, title: str) -> str:
    start = time.perf_counter()
    import constat.claimreview
    import constat.model
    import constat.pipeline
    import constat.render
    import constat.search
    import constat.validate
    import constat.write  # noqa: F401  (imported before timing, so that no stage pays for an import)

    imports = time.perf_counter() - start
    totals: dict[str, float] = defaultdict(float)
    parts: dict[str, float] = defaultdict(float)
    missing = install_timers(STAGES, totals, exclusive=True) + install_timers(PARTS, parts)
    wall, report = _build(root, out)
    written = report.written
    lines = [f"### Stages of the {title} (wall clock, no profiler)", "",
             f"Build {wall:.2f} s in-process ({report.pages} pages"
             + (f"; {written.written} written, {written.unchanged} unchanged" if written else "")
             + f"), after {imports:.2f} s of imports.", "",
             "| stage | s | % of build |", "|---|---:|---:|"]
    for label in dict.fromkeys(label for _, _, label in STAGES):
        lines.append(f"| {label} | {totals[label]:.2f} | {totals[label] / wall:.0%} |")
    rest = wall - sum(totals.values())
    lines.append(f"| rest of pipeline.build | {rest:.2f} | {rest / wall:.0%} |")
    lines += ["", "| inside the stages | s | % of build |", "|---|---:|---:|"]
    for label in dict.fromkeys(label for _, _, label in PARTS):
        lines.append(f"| {label} | {parts[label]:.2f} | {parts[label] / wall:.0%} |")
    if missing:
        lines += ["", f"Not found in this version of constat/ (not timed): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def _own_centre(func: tuple[str, int, str]) -> str | None:
    filename, _, name = func
    text = filename if filename != "~" else name
    for fragment, centre in CENTRES:
        if fragment in text:
            return centre
    if filename.startswith(str(REPO / "constat")):
        return "other Constat code (pipeline, cli)"
    return None  # standard library or a C built-in: charged to its callers


def breakdown(stats: dict[Any, Any]) -> dict[str, float]:
    """Every function's own time, summed per cost centre; unowned time follows its callers."""
    memo: dict[Any, dict[str, float]] = {}

    def shares(func: Any, seen: frozenset[Any]) -> dict[str, float]:
        # The fraction of ``func``'s own time that belongs to each centre.
        if func in memo:
            return memo[func]
        centre = _own_centre(func)
        if centre is not None:
            memo[func] = {centre: 1.0}
            return memo[func]
        callers = stats[func][4] if func in stats else {}
        total = sum(c[2] for c in callers.values())
        result: dict[str, float] = defaultdict(float)
        if not callers or total <= 0 or func in seen:
            name = func[0] if func[0] != "~" else func[2]
            result["standard library (direct)" if callers else f"unattributed ({name[:40]})"] = 1.0
        else:
            for caller, (_, _, tt, _) in callers.items():
                for centre_name, share in shares(caller, seen | {func}).items():
                    result[centre_name] += share * tt / total
        memo[func] = dict(result)
        return memo[func]

    totals: dict[str, float] = defaultdict(float)
    for func, (_, _, tt, _, _) in stats.items():
        for centre, share in shares(func, frozenset()).items():
            totals[centre] += tt * share
    return totals


def cprofile(root: Path, out: Path, title: str) -> str:
    import constat.pipeline  # noqa: F401  (the check side's imports are not part of the build)

    profiler = cProfile.Profile()
    wall, _ = profiler.runcall(_build, root, out)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    totals = breakdown(stats)
    whole = sum(totals.values())
    lines = [f"### cProfile of the {title}: own time by cost centre", "",
             f"{wall:.2f} s under the profiler (which slows Python code more than C code: read the "
             "stage table for absolute times).", "", "| cost centre | s | % |", "|---|---:|---:|"]
    for centre, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        if seconds / whole >= 0.005:
            lines.append(f"| {centre} | {seconds:.2f} | {seconds / whole:.1%} |")
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:12]
    lines += ["", "<details><summary>top functions by own time</summary>", "", "| function | own s | calls |",
              "|---|---:|---:|"]
    for (filename, line, name), (_, calls, tt, _, _) in top:
        where = name if filename == "~" else f"{name} ({Path(filename).name}:{line})"
        lines.append(f"| `{where}` | {tt:.2f} | {calls:,} |")
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", choices=("stages", "cprofile"), default="stages")
    parser.add_argument("--title", default="build")
    parser.add_argument("--no-search", action="store_true",
                        help="index_parts replaced by nothing, as in bench/shim.py --no-search")
    args = parser.parse_args(argv)
    if args.no_search:
        from shim import _leave_out_search

        _leave_out_search()
    if args.mode == "stages":
        print(stages(args.root, args.out, args.title))
    else:
        print(cprofile(args.root, args.out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
