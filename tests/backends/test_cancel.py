"""Cancelling runs: a pending run ends at once (interrupted, or deleted for a rollback; a
stateless one with its thread); a running one is flagged for its worker, which hears of it
in its heartbeat, and for `recover` should the worker die first."""

from __future__ import annotations

import pytest

from distaff.backends.base import Backend, CancelTarget
from distaff.models import CancelAction, Json, Run
from tests.backends.harness import Harness
from tests.backends.polling import eventually
from tests.backends.records import new_id, run, snapshot, thread


async def _pending(
    backend: Backend, thread_id: str | None = None, *, kwargs: Json | None = None
) -> Run:
    if thread_id is None:
        thread_id = (await backend.threads.create(thread(), do_nothing=False))["thread_id"]
    r = run(thread_id, kwargs=kwargs)
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    return r


async def test_interrupting_a_pending_run_ends_it(backend: Backend) -> None:
    r = await _pending(backend)
    targets = await backend.runs.request_cancel("interrupt", run_ids=[r["run_id"]])
    assert targets == [CancelTarget(r["run_id"], r["thread_id"], "pending")]
    got = await backend.runs.get(r["run_id"])
    assert got is not None and got["status"] == "interrupted"
    t = await backend.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "idle"
    assert (await backend.runs.claim(1)).runs == []


async def test_rolling_back_a_pending_run_deletes_it(backend: Backend) -> None:
    r = await _pending(backend)
    targets = await backend.runs.request_cancel("rollback", run_ids=[r["run_id"]])
    assert [t.status for t in targets] == ["pending"]
    assert await backend.runs.get(r["run_id"]) is None
    t = await backend.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "idle"


@pytest.mark.parametrize("action", ["interrupt", "rollback"])
async def test_cancelling_a_pending_stateless_run_deletes_its_thread(
    backend: Backend, action: CancelAction
) -> None:
    r = await _pending(backend, kwargs={"temporary": True})
    await backend.runs.request_cancel(action, run_ids=[r["run_id"]])
    assert await backend.threads.get(r["thread_id"]) is None
    assert await backend.runs.get(r["run_id"]) is None


async def test_a_stateless_run_kept_on_completion_keeps_its_thread(backend: Backend) -> None:
    r = await _pending(backend, kwargs={"temporary": True, "on_completion": "keep"})
    await backend.runs.request_cancel("interrupt", run_ids=[r["run_id"]])
    assert await backend.threads.get(r["thread_id"]) is not None


async def test_a_thread_with_other_active_runs_stays_busy(backend: Backend) -> None:
    first = await _pending(backend)
    await _pending(backend, first["thread_id"])
    await backend.runs.request_cancel("interrupt", run_ids=[first["run_id"]])
    t = await backend.threads.get(first["thread_id"])
    assert t is not None and t["status"] == "busy"


@pytest.mark.parametrize("action", ["interrupt", "rollback"])
async def test_a_running_run_is_flagged_and_told_in_its_heartbeat(
    backend: Backend, action: CancelAction
) -> None:
    r = await _pending(backend)
    await backend.runs.claim(1)
    targets = await backend.runs.request_cancel(action, run_ids=[r["run_id"]])
    assert targets == [CancelTarget(r["run_id"], r["thread_id"], "running")]
    got = await backend.runs.get(r["run_id"])
    assert got is not None and got["status"] == "running"  # its worker stops it
    assert await backend.runs.heartbeat([r["run_id"]]) == {r["run_id"]: action}
    # The worker ends it; the flag goes with the run's end.
    assert await backend.runs.finish(r["run_id"], "interrupted", snapshot({})) == "idle"
    assert await backend.runs.request_cancel(action, run_ids=[r["run_id"]]) == []


async def test_cancel_by_thread_and_status(backend: Backend) -> None:
    running = await _pending(backend)
    await backend.runs.claim(1)
    queued = await _pending(backend, running["thread_id"])
    elsewhere = await _pending(backend)
    targets = await backend.runs.request_cancel(
        "interrupt", thread_id=running["thread_id"], status="pending"
    )
    assert [t.run_id for t in targets] == [queued["run_id"]]
    assert await backend.runs.heartbeat([running["run_id"]]) == {running["run_id"]: None}
    untouched = await backend.runs.get(elsewhere["run_id"])
    assert untouched is not None and untouched["status"] == "pending"
    everything = await backend.runs.request_cancel("interrupt", thread_id=running["thread_id"])
    assert [(t.run_id, t.status) for t in everything] == [(running["run_id"], "running")]


async def test_cancelling_nothing_active_finds_nothing(backend: Backend) -> None:
    assert await backend.runs.request_cancel("interrupt", run_ids=[new_id()]) == []
    assert await backend.runs.request_cancel("rollback", run_ids=[]) == []


@pytest.mark.parametrize(("action", "left"), [("interrupt", "interrupted"), ("rollback", None)])
async def test_recover_honours_a_cancel_accepted_before_the_worker_died(
    harness: Harness, action: CancelAction, left: str | None
) -> None:
    r = await _pending(harness.backend)
    await harness.backend.runs.claim(1)
    await harness.backend.runs.request_cancel(action, run_ids=[r["run_id"]])
    survivor = await harness.successor()
    assert await eventually(lambda: survivor.runs.recover(3)) == [r["run_id"]]
    got = await survivor.runs.get(r["run_id"])
    assert (None if got is None else got["status"]) == left
    t = await survivor.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "idle"
    assert (await survivor.runs.claim(1)).runs == []


async def test_recover_drops_the_thread_of_a_cancelled_stateless_run(harness: Harness) -> None:
    r = await _pending(harness.backend, kwargs={"temporary": True})
    await harness.backend.runs.claim(1)
    await harness.backend.runs.request_cancel("interrupt", run_ids=[r["run_id"]])
    survivor = await harness.successor()
    assert await eventually(lambda: survivor.runs.recover(3)) == [r["run_id"]]
    assert await survivor.threads.get(r["thread_id"]) is None
