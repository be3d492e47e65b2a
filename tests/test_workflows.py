"""The GitHub Actions workflows pass actionlint, and the make targets they call exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import REPO

WORKFLOWS = REPO / ".github" / "workflows"
# Installed by requirements-dev.txt next to the interpreter running the tests: never one from PATH.
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def actionlint(*files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.is_file(), f"no {ACTIONLINT}: run `make test`, which installs requirements-dev.txt"
    return subprocess.run([str(ACTIONLINT), "-no-color", *map(str, files)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def test_the_workflows_pass_actionlint() -> None:
    files = workflow_files()
    assert {f.name for f in files} >= {"check.yml", "deploy.yml"}
    done = actionlint(*files)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_actionlint_does_find_mistakes(tmp_path: Path) -> None:
    # Proves the test above can fail: the same binary rejects a workflow with a typo in it.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on:\n  pull_request:\njobs:\n  check:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.evnt_name }}\n", encoding="utf-8")
    done = actionlint(bad, cwd=tmp_path)
    assert done.returncode == 1
    assert 'property "evnt_name" is not defined' in done.stdout


def test_every_make_target_a_workflow_calls_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([^\s:#=]+(?:\s+[^\s:#=]+)*)\s*:(?!=)", makefile, re.MULTILINE))
    defined = {t.replace("$(VENV)", ".venv") for line in targets for t in line.split()}
    called = set()
    for path in workflow_files():
        for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values():
            for step in job["steps"]:
                called |= set(re.findall(r"\bmake\s+(\S+)", step.get("run", "")))
    assert called, "the workflows call make"
    assert called <= defined, f"missing make targets: {sorted(called - defined)}"
