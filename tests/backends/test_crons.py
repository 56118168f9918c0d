"""Crons: records, and the scheduler's two steps, `due` (what to fire now, given the time)
and `advance` (compare-and-set of the next run date, so each tick fires once)."""

from __future__ import annotations

import asyncio

import pytest

from distaff.backends.base import Backend
from distaff.errors import NotFound
from distaff.models import CronQuery, Page
from tests.backends import SHARED
from tests.backends.harness import Harness
from tests.backends.records import at, cron, new_id, thread, whole_seconds


async def test_create_get_update_delete(backend: Backend) -> None:
    c = cron(metadata={"a": 1})
    assert await backend.crons.create(c) == c
    assert await backend.crons.get(c["cron_id"]) == c
    updated = await backend.crons.update(
        c["cron_id"], {"enabled": False, "metadata": {"b": 2}, "end_time": None}
    )
    assert updated["enabled"] is False
    assert updated["metadata"] == {"a": 1, "b": 2}
    assert updated["updated_at"] > c["updated_at"]
    assert await backend.crons.get(c["cron_id"]) == updated
    with pytest.raises(NotFound):
        await backend.crons.update(new_id(), {"enabled": True})
    assert await backend.crons.delete(c["cron_id"]) is True
    assert await backend.crons.delete(c["cron_id"]) is False
    assert await backend.crons.get(c["cron_id"]) is None


async def test_due_gives_enabled_crons_whose_time_has_come_soonest_first(
    backend: Backend,
) -> None:
    later = await backend.crons.create(cron(next_run=-60))
    sooner = await backend.crons.create(cron(next_run=-120))
    await backend.crons.create(cron(next_run=-60, enabled=False))
    await backend.crons.create(cron(next_run=60))  # not yet
    await backend.crons.create(cron(next_run=None))  # no next run: ended
    due = await backend.crons.due(at(), 10)
    assert [c["cron_id"] for c in due] == [sooner["cron_id"], later["cron_id"]]
    assert [c["cron_id"] for c in await backend.crons.due(at(), 1)] == [sooner["cron_id"]]
    # `now` is the caller's: a minute and a half later, the future one is due too.
    assert len(await backend.crons.due(at(90), 10)) == 3


async def test_advance_moves_a_tick_once(backend: Backend) -> None:
    c = await backend.crons.create(cron(next_run=-1))
    [due] = await backend.crons.due(at(), 10)
    following = whole_seconds(59)
    assert await backend.crons.advance(c["cron_id"], due["next_run_date"], following) is True
    assert await backend.crons.advance(c["cron_id"], due["next_run_date"], following) is False
    assert await backend.crons.due(at(), 10) == []
    got = await backend.crons.get(c["cron_id"])
    assert got is not None and got["next_run_date"] == following
    # An ended cron's next run date goes to None, from which it can be moved on again.
    assert await backend.crons.advance(c["cron_id"], following, None) is True
    assert await backend.crons.advance(c["cron_id"], None, following) is True
    assert await backend.crons.advance(new_id(), None, following) is False


async def test_due_still_gives_a_cron_past_its_end_time(backend: Backend) -> None:
    # The scheduler retires it: it sees the end time and advances it to None. (`CronRepo.due`
    # says it leaves such crons out; neither backend does, and the service relies on that.)
    c = await backend.crons.create(cron(next_run=-1, end_time=whole_seconds(-30)))
    [due] = await backend.crons.due(at(), 10)
    assert due["cron_id"] == c["cron_id"]
    assert await backend.crons.advance(c["cron_id"], due["next_run_date"], None) is True
    assert await backend.crons.due(at(3600), 10) == []


async def test_schedulers_racing_for_one_tick_fire_it_once(backend: Backend) -> None:
    c = await backend.crons.create(cron(next_run=-1))
    [due] = await backend.crons.due(at(), 10)
    won = await asyncio.gather(
        *(
            backend.crons.advance(c["cron_id"], due["next_run_date"], whole_seconds(60))
            for _ in "abcd"
        )
    )
    assert sorted(won) == [False, False, False, True]


@pytest.mark.parametrize("harness", SHARED, indirect=True)
async def test_processes_racing_for_one_tick_fire_it_once(harness: Harness) -> None:
    others = [await harness.another() for _ in range(2)]
    c = await harness.backend.crons.create(cron(next_run=-1))
    dues = await asyncio.gather(*(b.crons.due(at(), 10) for b in [harness.backend, *others]))
    assert all([x["cron_id"] for x in d] == [c["cron_id"]] for d in dues)
    won = await asyncio.gather(
        *(
            b.crons.advance(c["cron_id"], d[0]["next_run_date"], whole_seconds(60))
            for b, d in zip([harness.backend, *others], dues, strict=True)
        )
    )
    assert sorted(won) == [False, False, True]


async def test_search_and_count(backend: Backend) -> None:
    tid = (await backend.threads.create(thread(), do_nothing=False))["thread_id"]
    one = await backend.crons.create(cron("a1", metadata={"k": 1}))
    two = await backend.crons.create(cron("a1", thread_id=tid, enabled=False))
    three = await backend.crons.create(cron("a2", metadata={"k": 1}))

    async def ids(query: CronQuery) -> set[str]:
        found = await backend.crons.search(query, Page(100))
        assert len(found) == await backend.crons.count(query)
        return {c["cron_id"] for c in found}

    assert len(await ids(CronQuery())) == 3
    assert await ids(CronQuery(assistant_id="a1")) == {one["cron_id"], two["cron_id"]}
    assert await ids(CronQuery(thread_id=tid)) == {two["cron_id"]}
    assert await ids(CronQuery(enabled=True)) == {one["cron_id"], three["cron_id"]}
    assert await ids(CronQuery(enabled=False)) == {two["cron_id"]}
    assert await ids(CronQuery(metadata={"k": 1}, assistant_id="a2")) == {three["cron_id"]}
