"""Ids, numbers and the search filter are checked at the store/service boundary: one-line StoreErrors that the UI
can show as-is, never a raw OverflowError or SQLite message; LIKE wildcards in a search match literally."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pytest

from tests.store.store_worker import make_item
from vifailback_demo.cli.main import main
from vifailback_demo.errors import StoreError
from vifailback_demo.services.corrections import CorrectionsService
from vifailback_demo.store.checks import MAX_SEARCH_CHARS, MAX_SQL_INT, show

ID_MESSAGE = "record id: expected a whole number from 1 to 9223372036854775807, got "
BAD_IDS = [10**30, 2**63, -1, 0, True, 1.0, "1", None, [1], 10**5000]


def _one_line(exc: pytest.ExceptionInfo, start: str = "") -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 300 and text.startswith(start), text
    return text


def _calls(store, service):
    final = store.get(1).final
    return {
        "store.get": lambda rid: store.get(rid),
        "store.history": lambda rid: store.history(rid),
        "store.mark_reviewed": lambda rid: store.mark_reviewed(rid),
        "store.update_final": lambda rid: store.update_final(rid, final),
        "service.get": lambda rid: service.get(rid),
        "service.update": lambda rid: service.update(rid, final),
        "service.mark_reviewed": lambda rid: service.mark_reviewed(rid),
        "service.vqa_pairs": lambda rid: service.vqa_pairs(rid),
    }


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda v: show(v, 20))
def test_bad_record_ids_are_one_line_errors_everywhere(store, bad):
    store.add(make_item("ids", 1))
    before = store.history(1)
    for name, call in _calls(store, CorrectionsService(store)).items():
        with pytest.raises(StoreError) as info:
            call(bad)
        text = _one_line(info, ID_MESSAGE)
        assert len(text) < len(ID_MESSAGE) + 45, (name, text)  # the value is cut to a few dozen characters
    assert store.history(1) == before  # nothing changed


def test_largest_id_is_accepted_and_numpy_ints_work(store):
    store.add(make_item("ids", 1))
    with pytest.raises(StoreError, match=f"no correction with id {MAX_SQL_INT}"):
        store.get(MAX_SQL_INT)
    assert store.get(np.int64(1)).id == 1 and store.mark_reviewed(np.int32(1)).review_status == "reviewed"


@pytest.mark.parametrize(
    ("kwargs", "start"),
    [
        ({"offset": 10**30}, "pagination offset: expected a whole number from 0 to 9223372036854775807, got "),
        ({"offset": -1}, "pagination offset: expected a whole number from 0"),
        ({"limit": 10**30}, "pagination limit: expected a whole number from 1 to 1000, got "),
        ({"limit": "5"}, "pagination limit: expected a whole number from 1 to 1000, got '5'"),
        ({"limit": 2.0}, "pagination limit"),
        ({"newest_first": "yes"}, "newest_first: expected true or false"),
    ],
)
def test_bad_pagination_is_a_one_line_error(store, kwargs, start):
    store.add(make_item("page", 1))
    with pytest.raises(StoreError) as info:
        store.list(**kwargs)
    _one_line(info, start)


def test_service_table_limit_and_search_type(store):
    service = CorrectionsService(store)
    with pytest.raises(StoreError) as info:
        service.table(limit=10**30)
    _one_line(info, "pagination limit")
    with pytest.raises(StoreError) as info:
        service.table(search=12)
    _one_line(info, "search text: expected text, got int")


def test_revision_at_the_sqlite_limit_is_a_clear_error(store, tmp_path):
    rid = store.add(make_item("rev", 1))
    record = store.get(rid)
    conn = sqlite3.connect(store.data_dir / "corrections.sqlite3")
    with conn:
        conn.execute("UPDATE corrections SET revision = ? WHERE id = ?", (MAX_SQL_INT, rid))
    conn.close()
    with pytest.raises(StoreError) as info:
        store.update_final(rid, record.final)
    _one_line(info, f"record {rid} revision: expected a whole number from 1 to {MAX_SQL_INT}")
    assert store.get(rid).revision == MAX_SQL_INT and len(store.history(rid)) == 1


def test_bad_update_and_review_arguments(store):
    rid = store.add(make_item("args", 1))
    for call, start in [
        (lambda: store.update_final(rid, {"success": True}), "final version: expected a FinalVersion"),
        (lambda: store.update_final(rid, store.get(rid).final, who=5), "who: expected text"),
        (lambda: store.update_final(rid, store.get(rid).final, notes=b"x"), "notes: expected text"),
        (lambda: store.mark_reviewed(rid, reviewed="no"), "reviewed: expected true or false"),
        (lambda: store.mark_reviewed(rid, who=["a"]), "who: expected text"),
    ]:
        with pytest.raises(StoreError) as info:
            call()
        _one_line(info, start)
    assert len(store.history(rid)) == 1


def test_cli_huge_offset_and_long_search_are_one_line_errors(store, capsys):
    store.add(make_item("cli", 1))
    data = str(store.data_dir)
    for extra in (["--offset", "1" + "0" * 30], ["--limit", "-3"], ["--search", "%" * 100_000]):
        assert main(["corrections", "list", "--data-dir", data, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and "error:" in err


def test_long_search_is_refused_naming_the_limit(store):
    store.add(make_item("search", 1))
    service = CorrectionsService(store)
    for text in ("%" * 100_000, "a" * (MAX_SEARCH_CHARS + 1)):
        for call in (store.list, store.count, service.table):
            with pytest.raises(StoreError) as info:
                call(search=text)
            assert str(MAX_SEARCH_CHARS) in _one_line(info, "search text:")
    assert store.list(search="s" * MAX_SEARCH_CHARS).total == 0  # the limit itself is allowed


def test_search_wildcards_match_literally(store):
    tasks = ["pour 50% of the water", "pour 5000 ml of water", "pick a_b block", "pick axb block", "path c:\\tmp"]
    for i, task in enumerate(tasks):
        store.add(dataclasses.replace(make_item("lit", i), task=task))
    assert [r.task for r in store.list(search="50%").records] == [tasks[0]]
    assert [r.task for r in store.list(search="a_b").records] == [tasks[2]]
    assert [r.task for r in store.list(search="%").records] == [tasks[0]]
    assert [r.task for r in store.list(search="_").records] == [tasks[2]]
    assert [r.task for r in store.list(search="c:\\").records] == [tasks[4]]
    assert store.count(search="\\%") == 0 and store.list(search="POUR").total == 2
