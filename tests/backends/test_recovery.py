"""Runs left running by a dead process: handed back with their attempts counted, failed once
they used them up; and, where processes share a database, claims that hold (leases) and a
stale worker fenced off from the run's next owner."""

from __future__ import annotations

import asyncio

import pytest

from distaff.backends.base import Backend
from distaff.models import Json, Run
from tests.backends import SHARED
from tests.backends.harness import Harness
from tests.backends.polling import eventually
from tests.backends.records import run, snapshot, thread

shared_only = pytest.mark.parametrize("harness", SHARED, indirect=True)


async def _claimed(backend: Backend, *, kwargs: Json | None = None) -> Run:
    t = await backend.threads.create(thread(), do_nothing=False)
    r = run(t["thread_id"], kwargs=kwargs)
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    [(claimed, _)] = (await backend.runs.claim(1)).runs
    return claimed


async def test_a_dead_workers_run_goes_back_to_the_queue(harness: Harness) -> None:
    r = await _claimed(harness.backend)
    survivor = await harness.successor()
    assert await eventually(lambda: survivor.runs.recover(3)) == [r["run_id"]]
    got = await survivor.runs.get(r["run_id"])
    assert got is not None and got["status"] == "pending"
    t = await survivor.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "busy"
    claim = await survivor.runs.claim(1)
    assert [(x["run_id"], attempt) for x, attempt in claim.runs] == [(r["run_id"], 2)]


async def test_a_run_that_used_up_its_attempts_ends_in_error(harness: Harness) -> None:
    r = await _claimed(harness.backend)  # attempt 1
    survivor = await harness.successor()
    assert await eventually(lambda: survivor.runs.recover(1)) == [r["run_id"]]
    got = await survivor.runs.get(r["run_id"])
    assert got is not None and got["status"] == "error"
    t = await survivor.threads.get(r["thread_id"])
    assert t is not None
    assert t["status"] == "error"
    assert t["error"] == {"error": "RunAttemptsExceeded", "message": "the run's worker died"}
    assert t["interrupts"] == {}
    assert await survivor.runs.recover(1) == []


async def test_attempts_add_up_across_recoveries(harness: Harness) -> None:
    r = await _claimed(harness.backend)
    second = await harness.successor()
    assert await eventually(lambda: second.runs.recover(2)) == [r["run_id"]]
    [(_, attempt)] = (await second.runs.claim(1)).runs
    assert attempt == 2
    # Its second worker dies too: with two attempts allowed, that was the last.
    third = await harness.successor()
    assert await eventually(lambda: third.runs.recover(2)) == [r["run_id"]]
    got = await third.runs.get(r["run_id"])
    assert got is not None and got["status"] == "error"


async def test_a_dead_stateless_run_that_used_up_its_attempts_takes_its_thread(
    harness: Harness,
) -> None:
    r = await _claimed(harness.backend, kwargs={"temporary": True})
    survivor = await harness.successor()
    assert await eventually(lambda: survivor.runs.recover(1)) == [r["run_id"]]
    assert await survivor.threads.get(r["thread_id"]) is None


async def test_nothing_running_nothing_recovered(harness: Harness) -> None:
    t = await harness.backend.threads.create(thread(), do_nothing=False)
    await harness.backend.runs.insert(run(t["thread_id"]), create_thread=None, reject_if_busy=False)
    survivor = await harness.successor()
    assert await survivor.runs.recover(3) == []


@shared_only
async def test_a_process_never_recovers_its_own_runs(harness: Harness) -> None:
    owner = await harness.another(lease_seconds=0.0)  # its claims lapse at once
    r = await _claimed(owner)
    assert await owner.runs.recover(3) == []
    got = await owner.runs.get(r["run_id"])
    assert got is not None and got["status"] == "running"
    other = await harness.another()
    assert await eventually(lambda: other.runs.recover(3)) == [r["run_id"]]


@shared_only
async def test_a_held_lease_keeps_the_run_from_other_processes(harness: Harness) -> None:
    owner = await harness.another(lease_seconds=20.0)
    other = await harness.another()
    r = await _claimed(owner)
    assert await other.runs.recover(3) == []
    assert await owner.runs.heartbeat([r["run_id"]]) == {r["run_id"]: None}
    assert await other.runs.heartbeat([r["run_id"]]) == {}  # not its run
    assert await other.runs.finish(r["run_id"], "success", snapshot({})) is None
    got = await owner.runs.get(r["run_id"])
    assert got is not None and got["status"] == "running"
    assert await owner.runs.finish(r["run_id"], "success", snapshot({})) == "idle"


@shared_only
async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owners_result(
    harness: Harness,
) -> None:
    stale = harness.backend
    r = await _claimed(stale)
    survivor = await harness.successor()
    assert await eventually(lambda: survivor.runs.recover(3)) == [r["run_id"]]
    [(_, attempt)] = (await survivor.runs.claim(1)).runs
    assert attempt == 2
    # The stale worker wakes: it no longer holds the run, and none of its ends land.
    assert await stale.runs.heartbeat([r["run_id"]]) == {}
    assert await stale.runs.finish(r["run_id"], "error", snapshot({"stale": True})) is None
    assert await stale.runs.finish(r["run_id"], None, None) is None
    assert await stale.runs.finish(r["run_id"], "success", None, delete_thread=True) is None
    await stale.runs.requeue(r["run_id"])
    got = await survivor.runs.get(r["run_id"])
    assert got is not None and got["status"] == "running"
    t = await survivor.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "busy" and t["values"] is None
    assert await survivor.runs.finish(r["run_id"], "success", snapshot({"new": 1})) == "idle"
    t = await survivor.threads.get(r["thread_id"])
    assert t is not None and t["values"] == {"new": 1}


@shared_only
async def test_processes_claiming_at_once_never_take_the_same_run(harness: Harness) -> None:
    others = [await harness.another() for _ in range(2)]
    backends = [harness.backend, *others]
    ids = set()
    for _ in range(12):
        t = await harness.backend.threads.create(thread(), do_nothing=False)
        r = run(t["thread_id"])
        await harness.backend.runs.insert(r, create_thread=None, reject_if_busy=False)
        ids.add(r["run_id"])
    taken: list[str] = []

    async def claim_all() -> bool:
        claims = await asyncio.gather(*(b.runs.claim(5) for b in backends))
        taken.extend(r["run_id"] for claim in claims for r, _ in claim.runs)
        return len(taken) >= len(ids)

    await eventually(claim_all)
    assert sorted(taken) == sorted(ids)  # each once


@shared_only
async def test_one_thread_never_has_two_running_runs_across_processes(
    harness: Harness,
) -> None:
    other = await harness.another()
    t = await harness.backend.threads.create(thread(), do_nothing=False)
    for seconds in (-3, -2, -1):
        r = run(t["thread_id"], created=seconds)
        await harness.backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    claims = await asyncio.gather(harness.backend.runs.claim(5), other.runs.claim(5))
    assert sum(len(c.runs) for c in claims) == 1
