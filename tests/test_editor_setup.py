"""The editors' set-up: VS Code maps real schemas onto real files; CONTRIBUTING.md agrees with the project."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

SETTINGS = REPO / ".vscode" / "settings.json"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)\s*$", re.MULTILINE)


def schema_map() -> dict[str, list[str]]:
    mapping = json.loads(SETTINGS.read_text(encoding="utf-8"))["yaml.schemas"]
    return {schema: [globs] if isinstance(globs, str) else globs for schema, globs in mapping.items()}


def test_every_mapped_schema_exists_and_is_a_json_schema() -> None:
    assert schema_map(), "yaml.schemas maps at least one schema"
    for schema in schema_map():
        path = REPO / schema
        assert path.is_file(), f"{schema} does not exist"
        assert json.loads(path.read_text(encoding="utf-8"))["$schema"].startswith("https://json-schema.org/")


@pytest.mark.parametrize("schema,pattern", [(s, g) for s, globs in schema_map().items() for g in globs])
def test_every_pattern_matches_a_file_of_the_project(schema: str, pattern: str) -> None:
    matches = [p for p in REPO.glob(pattern) if p.is_file()]
    assert matches, f"{pattern} (for {schema}) matches no file"


def test_every_input_file_with_a_schema_is_mapped() -> None:
    # The article schema describes front matter inside .md files, which the YAML extension cannot read.
    mapped = {Path(s).name for s in schema_map()}
    assert mapped == {p.name for p in (REPO / "schema").glob("*.json")} - {"article.schema.json"}
    claims = {p for globs in schema_map().values() for g in globs for p in REPO.glob(g)}
    assert set(REPO.glob("claims/*/*.yaml")) <= claims


def test_the_yaml_extension_is_recommended() -> None:
    extensions = json.loads((REPO / ".vscode" / "extensions.json").read_text(encoding="utf-8"))
    assert "redhat.vscode-yaml" in extensions["recommendations"]


def test_schema_comments_in_input_files_point_to_existing_schemas() -> None:
    # A "# yaml-language-server: $schema=" line wins over settings.json in the editor: it must not be stale.
    files = [REPO / "site.yaml", REPO / "statuses.yaml", *REPO.glob("claims/*/*.yaml")]
    found = {f: MODELINE.findall(f.read_text(encoding="utf-8")) for f in files}
    assert any(found.values()), "site.yaml and statuses.yaml carry one"
    for path, targets in found.items():
        for target in targets:
            assert (path.parent / target).resolve().is_file(), f"{path.relative_to(REPO)}: {target} does not exist"


def test_the_guide_lists_every_verdict_of_statuses_yaml_in_order() -> None:
    guide = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    scale = guide.split("## L’échelle des verdicts", 1)[1].split("\n## ", 1)[0].split("|---|---|---|", 1)[1]
    rows = re.findall(r"^\| ([^|]+) \| `([a-z-]+)` \|", scale, re.MULTILINE)
    statuses = yaml.safe_load((REPO / "statuses.yaml").read_text(encoding="utf-8"))
    assert rows == [(s["label"], s["key"]) for s in statuses]


def test_the_guide_s_worked_example_is_the_claim_file() -> None:
    # The example is shortened where a line ends with "…": the rest of each line is in the real file.
    guide = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    example = "quote:" + guide.split("```yaml\nquote:", 1)[1].split("```", 1)[0]
    claim = (REPO / "claims/euronews-soutiens/perquisitions-128-nuit.yaml").read_text(encoding="utf-8").splitlines()
    lines = [line for line in example.splitlines() if line.strip() not in ("", "…")]
    assert len(lines) > 30
    missing = [line for line in lines if not any(
        c.startswith(line.removesuffix("…").rstrip()) if line.endswith("…") else c == line for c in claim)]
    assert missing == []
