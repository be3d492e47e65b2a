"""Constat's own search index (constat/lexicon.py, docs/search-index.md): what a page gives it,
and an index updated in place holds the bytes of one built whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from constat import forking, lexicon
from constat.pipeline import Project, build
from tests.helpers import MINI, REPO, copy_project, tree


def test_words_are_folded_and_cut_as_the_format_says() -> None:
    assert lexicon.words("Contrôle") == ["controle"]
    assert lexicon.words("Œuvre ÉTAT") == ["oeuvre", "etat"]
    assert lexicon.words("l'armée, l’armée") == ["l", "armee", "l", "armee"]
    assert lexicon.words("Jean-Yves") == ["jean", "yves"]
    assert lexicon.words("10\u00a0000 et 10\u202f000 : 25 %") == ["10", "000", "et", "10", "000", "25"]
    assert lexicon.words("snake_case") == ["snake", "case"]


def test_a_word_goes_to_the_shard_of_its_first_two_characters() -> None:
    assert lexicon.shard_name("controle") == "co"
    assert lexicon.shard_name("7") == "7"
    assert lexicon.shard_name("αθηνα") == "_3b1-3b8"
    assert lexicon.shard_name("zα") == "_7a-3b1"


def page(body: str, before: str = "") -> bytes:
    return (f'<!DOCTYPE html><html lang="fr"><head><title>T</title></head><body>{before}'
            f"<main><article data-pagefind-body>{body}</article><footer>pied de page</footer></main>"
            "</body></html>").encode()


def test_a_page_gives_the_text_of_its_indexed_element_only() -> None:
    entry = lexicon.page(page(
        '<h1>Le <em>con</em>trôle</h1><h2 data-pagefind-ignore>Caché <span>aussi</span></h2>'
        "<article><p>Un article dans l’article</p></article><p>Fin&nbsp;: 25\u00a0%</p>",
        before="<nav>menu</nav>"))
    assert entry is not None
    assert entry.title == "Le contrôle"
    assert entry.text == "Le contrôle · Un article dans l’article · Fin\u00a0: 25\u00a0%"
    assert "menu" not in entry.counts and "pied" not in entry.counts and "cache" not in entry.counts
    assert entry.counts["fin"] == 1 and entry.counts["article"] == 2
    # a word of the title counts TITLE_WEIGHT times, in the counts and the length
    assert entry.counts["controle"] == lexicon.TITLE_WEIGHT and entry.counts["le"] == lexicon.TITLE_WEIGHT
    assert entry.length == sum(entry.counts.values())
    assert lexicon.page(b"<html><body><p>pas d'index</p></body></html>") is None


def test_a_fragment_s_text_keeps_blocks_apart_where_no_phrase_ends() -> None:
    # What an excerpt shows: « Verdict : Plutôt vrai · Les mesures… », a heading and its text, a
    # list's items; after a full stop, a colon or a semicolon, a space is enough.
    entry = lexicon.page(page(
        '<h1>Titre</h1><p class="verdict-line"><span><svg><path d="M5"/></svg>Verdict : </span>Plutôt vrai</p>'
        "<p>Les mesures.</p>\n  <h2>Sources</h2>\n<ol><li>Décret\u00a0</li> <li>Loi :</li><li>art.&nbsp;2</li></ol>"
        "<p>\x00</p><p>Fin</p>"))
    assert entry is not None
    assert entry.text == ("Titre · Verdict : Plutôt vrai · Les mesures. Sources · Décret\u00a0 · Loi : art.\u00a02"
                          " · Fin")
    assert entry.counts == lexicon.page(page("<h1>Titre</h1> Verdict Plutôt vrai Les mesures Sources Décret Loi art 2 "
                                             "Fin")).counts  # the words are the same


@given(st.text(alphabet=st.sampled_from(" \t\n\r\f\v\xa0\u202f\x1c\u2009aé’«»"), max_size=40))
def test_only_ascii_whitespace_is_collapsed_in_a_fragment_s_text(text: str) -> None:
    # docs/search-index.md, "Fragments": the excerpt keeps French typography's no-break spaces.
    import re

    assert lexicon.collapsed(text) == re.sub(r"[ \t\n\r\f\v]+", " ", text).strip(" ")


def test_fragment_keys_are_stable_and_distinct() -> None:
    paths = [f"affirmations/a/c{n}/index.html" for n in range(3000)]
    keys = lexicon.keys(paths)
    assert len(set(keys.values())) == len(paths)
    assert keys == lexicon.keys(reversed(paths)), "the same pages give the same keys, in any order"
    assert lexicon.keys(paths[:10]) == {p: keys[p] for p in paths[:10]}, "a page's key does not depend on the others"


VOCABULARY = ["État", "état", "contrôle", "controle", "juges", "juge", "perquisitions", "128", "l’armée",
              "αθήνα", "de", "d", "zèbre", "œuvre", "a", "b"]
texts = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12).map(" ".join)
titled = st.tuples(texts, texts)


def rendered(title: str, text: str) -> bytes:
    return page(f"<h1>{title}</h1><p>{text}</p>")


PATHS = [f"p{n}/index.html" for n in range(10)]


@settings(max_examples=80, deadline=None)
@given(pages=st.dictionaries(st.sampled_from(PATHS), titled, min_size=1),
       steps=st.lists(st.lists(st.tuples(st.sampled_from(["edit", "add", "remove"]), st.integers(0, 9), titled),
                               min_size=1, max_size=3), min_size=1, max_size=5))
def test_an_index_updated_in_place_is_the_index_built_whole(
        pages: dict[str, tuple[str, str]], steps: list[list[tuple[str, int, tuple[str, str]]]]) -> None:
    """Pages edited, added and removed, a few at a time: the files the update writes, over those
    it keeps, are those of an index built whole, and it lists exactly the files that index has."""
    now = {rel: rendered(*parts) for rel, parts in pages.items()}
    published = lexicon.full(now, now.__getitem__)
    for step in steps:
        previous = dict(now)
        for kind, n, parts in step:
            rel = PATHS[n]
            if kind == "remove":
                if len(now) > 1:
                    now.pop(rel, None)
            elif kind == "add" or rel in now:
                now[rel] = rendered(*parts)
        changed = {rel: (previous.get(rel), data) for rel, data in now.items() if previous.get(rel) != data}
        done = lexicon.update(now, changed, published.__getitem__, published, previous)
        assert done is not None
        out, listed = done
        published = {name: out[name] if name in out else published[name] for name in listed}
        whole = lexicon.full(now, now.__getitem__)
        assert sorted(whole) == listed, "the same files, no shard or fragment left over or missing"
        assert published == whole


def test_a_fragment_whose_key_another_page_takes_moves_with_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keys collide only by chance (8 hex digits: one chance in 70 at 11,000 pages), and the later
    # path in sorted order gets -2: made to collide here, a page added before another takes its
    # key, and the other moves to -2.
    monkeypatch.setattr(lexicon, "keys", lambda paths: {rel: "cle" + (f"-{n + 1}" if n else "")
                                                        for n, rel in enumerate(sorted(paths))})
    now = {"b/index.html": rendered("B", "juges")}
    published = lexicon.full(now, now.__getitem__)
    assert lexicon.fragment_path("cle") in published
    after = {**now, "a/index.html": rendered("A", "état")}
    done = lexicon.update(after, {"a/index.html": (None, after["a/index.html"])}, published.__getitem__,
                          published, now)
    assert done is not None
    out, listed = done
    assert {name: out[name] if name in out else published[name] for name in listed} == \
        lexicon.full(after, after.__getitem__)


def test_an_update_that_does_not_find_what_it_should_gives_up() -> None:
    now = {"a/index.html": rendered("Titre", "juges"), "b/index.html": rendered("Autre", "état")}
    published = lexicon.full(now, now.__getitem__)
    edit = {"a/index.html": (now["a/index.html"], rendered("Titre", "juge"))}
    assert lexicon.update(now, edit, published.__getitem__, published) is not None
    for damage in (b"", b"{not json", json.dumps({"version": 2}).encode()):
        assert lexicon.update(now, edit, {**published, lexicon.PAGES: damage}.__getitem__, published) is None
    wrong = {"a/index.html": (rendered("Titre", "juges juges juges"), rendered("Titre", "juge"))}
    assert lexicon.update(now, wrong, published.__getitem__, published) is None, "not the version indexed"


def test_the_site_with_constat_s_index_is_rebuilt_after_its_index_was_damaged(tmp_path: Path) -> None:
    root = copy_project(MINI, tmp_path / "p")
    shutil.copytree(REPO / "templates", root / "templates")
    with (root / "site.yaml").open("a", encoding="utf-8") as f:
        f.write("search:\n  engine: constat\n")
    assert not build(Project.at(root)).failed
    site = root / "site"
    assert (site / "recherche/index/pages.json").is_file() and not (site / "pagefind").exists()
    assert b'data-engine="constat"' in (site / "recherche/index.html").read_bytes()
    (site / "recherche/index/pages.json").write_text('{"version":1,"pages":[],"lengths":[]}\n')
    claim = sorted((root / "claims").rglob("*.yaml"))[0]
    data = yaml.safe_load(claim.read_text(encoding="utf-8"))
    data["summary"] = "Brontosaure " + data["summary"]
    claim.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert not build(Project.at(root)).failed
    assert b"brontosaure" in (site / "recherche/index/w/br.json").read_bytes()
    clean = tmp_path / "clean"
    assert not build(Project.at(root, clean), fresh=True).failed
    assert tree(site) == tree(clean)


def test_an_index_built_on_every_core_is_the_index_built_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # A large site's index is built in runs of pages shared between the cores (forking.shared),
    # its shards written in groups the same way: here in runs of 3 pages, from 1 page on.
    now = {f"p{n:02d}/index.html": rendered(f"Page {n}", " ".join(VOCABULARY[n % 7:n % 7 + 5])) for n in range(20)}
    alone = lexicon.full(now, now.__getitem__)
    monkeypatch.setattr(lexicon, "SHARE_FROM", 1)
    monkeypatch.setattr(lexicon, "SHARE_PAGES", 3)
    monkeypatch.setattr(lexicon, "SHARD_GROUPS", 4)
    forked = []
    real = forking.shared
    monkeypatch.setattr(forking, "shared", lambda work, jobs: forked.append(len(jobs)) or real(work, jobs))
    assert lexicon.full(now, now.__getitem__) == alone
    assert forked == [7, 4], "shared between the cores: seven runs of pages, four groups of shards"


def test_a_page_that_quotes_the_attribute_in_its_text_gives_its_element_or_nothing() -> None:
    # An editor's summary may say "data-pagefind-body": in a meta description, in a paragraph of
    # a listing page. Only the attribute marks the indexed element; a page without one gives nothing.
    said = "Le mot data-pagefind-body et data-pagefind-ignore"
    claim = page(f"<h1>Titre</h1><p>{said}</p><p data-pagefind-ignore>caché</p>",
                 before=f'<meta name="description" content="{said}"><p>{said}</p>')
    entry = lexicon.page(claim)
    assert entry is not None and entry.title == "Titre" and entry.text == f"Titre · {said}"
    listing = f'<html><head><meta name="description" content="{said}"></head><body><p>{said}</p></body></html>'
    nothing = lexicon.page(listing.encode())
    assert nothing is not None and nothing.counts == {} and nothing.length == 0


class SetAfter:
    """An interrupt that is set from its n-th look on: a save coming in while the index is built."""

    def __init__(self, looks: int) -> None:
        self.looks = looks

    def is_set(self) -> bool:
        self.looks -= 1
        return self.looks < 0


@pytest.mark.parametrize("share_from", [10**9, 1], ids=["in-this-process", "on-every-core"])
def test_a_whole_index_stops_when_the_preview_is_interrupted(monkeypatch: pytest.MonkeyPatch, share_from: int) -> None:
    # The preview brings the index up to date once idle, and a save stops it (4 s at 11,000 pages).
    from constat.search import Interrupted

    monkeypatch.setattr(lexicon, "SHARE_FROM", share_from)
    monkeypatch.setattr(lexicon, "SHARE_PAGES", 3)
    now = {f"p{n:02d}/index.html": rendered(f"Page {n}", "juges état") for n in range(20)}
    with pytest.raises(Interrupted):
        lexicon.full(now, now.__getitem__, SetAfter(2))
    assert lexicon.full(now, now.__getitem__, SetAfter(100)) == lexicon.full(now, now.__getitem__)


def test_the_preview_updates_the_index_with_an_edit_and_leaves_a_whole_one_for_when_idle(tmp_path: Path) -> None:
    # A claim saved: its pages and the index in the same build. A template that changes the text
    # of most pages: the index is built whole, which the preview leaves for when it is idle.
    root = copy_project(MINI, tmp_path / "p")
    shutil.copytree(REPO / "templates", root / "templates")
    assert not build(Project.at(root)).failed
    index = root / "site/recherche/index"

    def same_as_clean(step: str) -> None:
        clean = copy_project(root, tmp_path / f"clean-{step}")
        assert not build(Project.at(clean)).failed
        assert tree(root / "site") == tree(clean / "site"), step

    claim = root / "claims/budget-regional/budget-hausse-12.yaml"
    claim.write_text(claim.read_text("utf-8").replace("summary: ", "summary: Brontosaure, ", 1), "utf-8")
    report = build(Project.at(root), search_later=True)
    assert not report.failed and not report.search_pending
    assert b"brontosaure" in (index / "w/br.json").read_bytes()
    same_as_clean("a claim saved")

    template = root / "templates/claim.html"
    template.write_text(template.read_text("utf-8").replace("Notre vérification", "Notre enquête", 1), "utf-8")
    before = tree(index)
    report = build(Project.at(root), search_later=True)
    assert report.search_pending, "most pages changed: the index is built whole, later"
    assert tree(index) == before, "the old index stays until then"
    assert not build(Project.at(root)).search_pending  # what the preview runs once idle
    assert b"enquete" in (index / "w/en.json").read_bytes()
    same_as_clean("a template changing most pages")
