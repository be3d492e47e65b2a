"""The memo's bookkeeping: which saved entries a build used, kept or left stale (what decides
whether a table is written whole again, and what goes into it)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from constat.cache import KeyedTable
from constat.memo import TABLES, Memo

keys = st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 30))
"""Keys shaped as the memo's (tuples of a kind and a hash), few enough to meet each other."""
steps = st.lists(st.tuples(st.sampled_from(["get", "peek", "put", "touch"]), keys), max_size=60)


def _saved(kind: str, saved: dict[Any, str], added: dict[Any, str]) -> Any:
    if kind == "dict":
        return {**saved, **added}
    # A keyed table as read from its file (values never read here: each would be "damaged"
    # without a file, and computed again, as the memo does with one), with entries added.
    return KeyedTable({key: (0, 0, 0) for key in saved}, None, added)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["dict", "keyed"]), st.dictionaries(keys, st.just("saved")),
       st.dictionaries(keys, st.just("added"), max_size=4), st.dictionaries(keys, st.just("journaled"), max_size=4),
       steps)
def test_stale_and_kept_are_what_the_build_left_unused(kind: str, saved: dict[Any, str], added: dict[Any, str],
                                                        journaled: dict[Any, str],
                                                        done: list[tuple[str, Any]]) -> None:
    table = TABLES[0]
    memo = Memo({table: _saved(kind, saved, added)}, journal={table: journaled})
    memo.based.add(table)
    for step, key in done:
        if step == "get":
            memo.get(table, key, lambda: "computed")
        elif step == "peek":
            memo.peek(table, key)
        elif step == "put":
            memo.put(table, key, "put")
        else:
            memo.touch(table, [key])
    previous, used, touched = set(memo.previous[table]), set(memo.used[table]), memo.touched[table]
    kept = {key for key in touched if key not in used and key in previous}
    assert sorted(memo.kept(table)) == sorted(kept)
    assert memo.stale(table) == len(previous - used - touched)
    assert memo.census(table) == (len(previous - used - touched), len(kept))
