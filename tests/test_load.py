"""Stage 1: YAML with positions, and what YAML would let through silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from constat.load import MAX_FILE_BYTES, Position, load_project, parse_yaml
from tests.helpers import MINI, copy_project

# Plain keys and values as editors write them: French text, numbers, dates, lists, mappings.
keys = st.text(alphabet=st.characters(categories=["Ll", "Lu", "Nd"], include_characters="_-"),
               min_size=1, max_size=12)
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x85\u2028\u2029"), max_size=40)
scalars = st.one_of(text, st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)
documents = st.dictionaries(keys, values, min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_any_mapping_written_as_yaml_reads_back_the_same(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    doc, problems = parse_yaml(text, "f.yaml")
    assert problems == []
    assert doc is not None
    assert doc.data == yaml.safe_load(text)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_every_key_position_points_at_that_key(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6)
    doc, _ = parse_yaml(text, "f.yaml")
    assert doc is not None
    lines = text.split("\n")
    for key in data:
        pos = doc.key_at((key,))
        line = lines[pos.line - 1]
        written = line[pos.column - 1:]
        assert written.startswith(key) or written.startswith(("'", '"')), (key, pos, line)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_document_or_positioned_problems_never_an_exception(text: str) -> None:
    doc, problems = parse_yaml(text, "f.yaml")
    assert (doc is None) == bool(problems)
    for problem in problems:
        assert problem.line >= 1 and problem.column >= 1
        assert problem.path == "f.yaml"


def test_positions_count_characters_not_bytes_and_add_the_front_matter_offset() -> None:
    doc, _ = parse_yaml("titre: « Été »\nsuite: 2\n", "a.md", line_offset=1)
    assert doc is not None
    assert doc.at(("titre",)) == Position(2, 8)
    assert doc.at(("suite",)) == Position(3, 8)


def test_dates_stay_text_so_impossible_ones_can_be_reported() -> None:
    doc, problems = parse_yaml("said_on: 2015-02-30\nreviewed_on: 2015-11-17\n", "c.yaml")
    assert problems == []
    assert doc is not None
    assert doc.data == {"said_on": "2015-02-30", "reviewed_on": "2015-11-17"}


def test_billion_laughs_is_refused_at_once() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [*{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}]\n"
        for n in range(20))
    doc, problems = parse_yaml(bomb, "c.yaml")
    assert doc is None
    assert [p.code for p in problems] == ["yaml-alias"]


def test_object_building_tags_are_refused() -> None:
    doc, problems = parse_yaml("quote: !!python/object/apply:os.system [echo hi]\n", "c.yaml")
    assert doc is None
    assert problems[0].code == "yaml-tag"


def test_a_byte_order_mark_and_windows_line_ends_are_accepted(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    claim = root / "claims/conseil-municipal/pont-travaux.yaml"
    claim.write_bytes(b"\xef\xbb\xbf" + claim.read_bytes().replace(b"\n", b"\r\n"))
    inputs = load_project(root)
    assert inputs.problems == ()
    loaded = next(c for c in inputs.claims if c.slug == "pont-travaux")
    assert loaded.doc.at(("status",)) == Position(5, 9)


def test_an_editors_own_files_are_passed_over_and_any_other_stray_file_is_reported(tmp_path: Path) -> None:
    # Swap and lock files (.name), backups (name~): an editor leaves them beside the file it
    # edits, and `build.py --strict` must not fail for them. A file that is neither a claim nor
    # an editor's is reported: it may be a claim with the wrong extension.
    root = copy_project(MINI, tmp_path / "p")
    folder = root / "claims/conseil-municipal"
    (folder / "pont-travaux.yaml~").write_text("status: vrai\n")
    (folder / ".pont-travaux.yaml.swp").write_bytes(b"\x00")
    (root / "content/conseil-municipal.md~").write_text("---\n")
    (folder / "notes.txt").write_text("à relire\n")
    problems = load_project(root).problems
    assert [(p.path, p.code) for p in problems] == [("claims/conseil-municipal/notes.txt", "ignored-file")]


def test_large_binary_and_linked_files_are_refused(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    folder = root / "claims/conseil-municipal"
    (folder / "big.yaml").write_text("quote: " + "x" * MAX_FILE_BYTES)
    (folder / "binary.yaml").write_bytes(b"quote: \x00\x01")
    (folder / "link.yaml").symlink_to(folder / "pont-travaux.yaml")
    codes = {p.path.rsplit("/", 1)[1]: p.code for p in load_project(root).problems}
    assert codes == {"big.yaml": "file-too-large", "binary.yaml": "binary-file", "link.yaml": "symlink"}


def test_invisible_line_breaks_are_refused_with_their_place() -> None:
    doc, problems = parse_yaml("quote: a\nsummary: b\u2028c\n", "c.yaml")
    assert doc is None
    assert [(p.line, p.column, p.code) for p in problems] == [(2, 11, "hidden-line-break")]
