"""Threads: records, searches, and the TTL sweep's choice of what has expired. A thread's TTL
clock starts at its `updated_at`, which a test sets in the past instead of waiting."""

from __future__ import annotations

import pytest

from distaff.backends.base import Backend
from distaff.errors import Conflict, NotFound
from distaff.models import Json, Page, ThreadQuery, ThreadStatus
from tests.backends.records import cron, new_id, run, snapshot, thread

HOUR = 3600.0


async def test_create_get_and_conflicts(backend: Backend) -> None:
    t = thread(metadata={"a": 1})
    assert await backend.threads.create(t, do_nothing=False) == t
    got = await backend.threads.get(t["thread_id"])
    assert got is not None
    assert (got["status"], got["metadata"], got["values"]) == ("idle", {"a": 1}, None)
    assert "ttl" not in got and "interrupts" not in got
    again = thread(t["thread_id"], metadata={"b": 2})
    with pytest.raises(Conflict):
        await backend.threads.create(again, do_nothing=False)
    kept = await backend.threads.create(again, do_nothing=True)
    assert kept["metadata"] == {"a": 1}
    assert await backend.threads.get(new_id()) is None


async def test_update_merges_metadata_and_keeps_a_ttl_unless_given(backend: Backend) -> None:
    t = await backend.threads.create(
        thread(metadata={"a": 1, "b": 1}, ttl={"strategy": "delete", "ttl": 5}),
        do_nothing=False,
    )
    updated = await backend.threads.update(t["thread_id"], metadata={"b": 2, "c": 3})
    assert updated["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert updated["ttl"] == {"strategy": "delete", "ttl": 5}
    assert updated["updated_at"] > t["updated_at"]
    ttl = {"strategy": "keep_latest", "ttl": 9}
    updated = await backend.threads.update(t["thread_id"], metadata=None, ttl=ttl)
    assert updated["ttl"] == ttl and updated["metadata"]["c"] == 3
    with pytest.raises(NotFound):
        await backend.threads.update(new_id(), metadata={})


async def test_delete_takes_the_threads_runs_and_crons(backend: Backend) -> None:
    t = await backend.threads.create(thread(), do_nothing=False)
    r = run(t["thread_id"])
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    c = await backend.crons.create(cron(thread_id=t["thread_id"]))
    kept = await backend.crons.create(cron())
    assert await backend.threads.delete(t["thread_id"]) is True
    assert await backend.threads.get(t["thread_id"]) is None
    assert await backend.runs.get(r["run_id"]) is None
    assert await backend.crons.get(c["cron_id"]) is None
    assert await backend.crons.get(kept["cron_id"]) is not None
    assert await backend.threads.delete(t["thread_id"]) is False


async def test_search_and_count_filter_by_ids_metadata_values_and_status(
    backend: Backend,
) -> None:
    a = await backend.threads.create(thread(metadata={"team": "x", "n": 1}), do_nothing=False)
    b = await backend.threads.create(thread(metadata={"team": "y"}), do_nothing=False)
    c = await backend.threads.create(thread(metadata={"team": "x"}), do_nothing=False)
    await backend.threads.set_state(b["thread_id"], snapshot({"tags": ["p", "q"]}, has_next=True))

    async def ids(query: ThreadQuery) -> set[str]:
        found = await backend.threads.search(query, Page(100))
        assert len(found) == await backend.threads.count(query)
        return {t["thread_id"] for t in found}

    assert await ids(ThreadQuery()) == {a["thread_id"], b["thread_id"], c["thread_id"]}
    assert await ids(ThreadQuery(metadata={"team": "x"})) == {a["thread_id"], c["thread_id"]}
    assert await ids(ThreadQuery(metadata={"n": 1})) == {a["thread_id"]}
    assert await ids(ThreadQuery(metadata={"n": 1.0})) == {a["thread_id"]}  # numbers as numbers
    assert await ids(ThreadQuery(metadata={"n": "1"})) == set()
    assert await ids(ThreadQuery(values={"tags": ["q"]})) == {b["thread_id"]}
    assert await ids(ThreadQuery(status="interrupted")) == {b["thread_id"]}
    assert await ids(ThreadQuery(ids=(a["thread_id"], new_id()))) == {a["thread_id"]}
    assert await ids(ThreadQuery(ids=())) == set()


async def test_expired_threads_are_idle_ones_past_their_ttl_oldest_first(
    backend: Backend,
) -> None:
    async def make(updated: float, ttl: Json | None, status: ThreadStatus = "idle") -> str:
        t = thread(updated=updated, ttl=ttl, status=status)
        return (await backend.threads.create(t, do_nothing=False))["thread_id"]

    older = await make(-2 * HOUR, {"strategy": "keep_latest", "ttl": 60})
    old = await make(-HOUR, {"ttl": 30})  # no strategy: delete
    await make(-HOUR, {"strategy": "delete", "ttl": 120})  # not yet
    await make(-HOUR, None)  # no TTL: kept for ever
    await make(-HOUR, {"strategy": "delete", "ttl": "30"})  # not a number: ignored
    await make(-HOUR, {"strategy": "delete", "ttl": 1}, status="busy")  # a run is active
    assert await backend.threads.expired(10) == [(older, "keep_latest"), (old, "delete")]
    assert await backend.threads.expired(1) == [(older, "keep_latest")]


async def test_touch_and_updates_restart_the_ttl_clock(backend: Backend) -> None:
    ttl = {"strategy": "keep_latest", "ttl": 1}
    touched = thread(updated=-HOUR, ttl=ttl)
    updated = thread(updated=-HOUR, ttl=ttl)
    for t in (touched, updated):
        await backend.threads.create(t, do_nothing=False)
    assert len(await backend.threads.expired(10)) == 2
    await backend.threads.touch(touched["thread_id"])
    await backend.threads.update(updated["thread_id"], metadata={"seen": True})
    assert await backend.threads.expired(10) == []


async def test_a_thread_whose_run_ended_waits_its_ttl_again(backend: Backend) -> None:
    t = await backend.threads.create(thread(updated=-HOUR, ttl={"ttl": 1}), do_nothing=False)
    r = run(t["thread_id"], created=-HOUR)
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    assert await backend.threads.expired(10) == []  # busy
    await backend.runs.claim(1)
    await backend.runs.finish(r["run_id"], "success", snapshot({}))
    assert await backend.threads.expired(10) == []  # its end counts as an update
