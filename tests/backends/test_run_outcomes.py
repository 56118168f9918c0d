"""How a run's end settles its thread: the status each outcome leaves, the state it stores,
a rollback, a stateless run's thread going with it."""

from __future__ import annotations

import pytest

from distaff.backends.base import Backend
from distaff.models import Json, Run, RunStatus, ThreadStatus
from tests.backends.records import new_id, run, snapshot, thread


async def _running(backend: Backend, *, kwargs: Json | None = None) -> Run:
    """A run on a new thread, claimed."""
    t = await backend.threads.create(thread(), do_nothing=False)
    r = run(t["thread_id"], kwargs=kwargs)
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    [(claimed, _)] = (await backend.runs.claim(1)).runs
    assert claimed["run_id"] == r["run_id"]
    return claimed


@pytest.mark.parametrize(
    ("status", "has_next", "error", "expected"),
    [
        ("success", False, None, "idle"),
        ("success", True, None, "interrupted"),  # paused in interrupt() or a breakpoint
        ("error", False, {"error": "ValueError", "message": "boom"}, "error"),
        ("timeout", False, None, "idle"),
        ("interrupted", False, None, "idle"),  # cancelled with interrupt
    ],
)
async def test_the_thread_status_each_outcome_leaves(
    backend: Backend,
    status: RunStatus,
    has_next: bool,
    error: dict[str, str] | None,
    expected: ThreadStatus,
) -> None:
    r = await _running(backend)
    ended = snapshot({"n": 1}, has_next=has_next, error=error)
    assert await backend.runs.finish(r["run_id"], status, ended) == expected
    got = await backend.runs.get(r["run_id"])
    assert got is not None and got["status"] == status
    t = await backend.threads.get(r["thread_id"])
    assert t is not None
    assert t["status"] == expected
    assert t["values"] == {"n": 1}
    assert t["interrupts"] == {}
    assert t["error"] == error


async def test_an_error_without_a_snapshot_keeps_the_threads_state(backend: Backend) -> None:
    r = await _running(backend)
    assert await backend.runs.finish(r["run_id"], "error", None) == "error"
    t = await backend.threads.get(r["thread_id"])
    assert t is not None
    assert t["status"] == "error" and t["values"] is None
    assert "error" not in t and "interrupts" not in t  # never finished with a snapshot


async def test_a_thread_with_more_runs_queued_stays_busy(backend: Backend) -> None:
    r = await _running(backend)
    await backend.runs.insert(run(r["thread_id"]), create_thread=None, reject_if_busy=False)
    assert await backend.runs.finish(r["run_id"], "error", snapshot({})) == "busy"
    t = await backend.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "busy"


async def test_the_next_run_settles_the_thread_from_its_own_outcome(backend: Backend) -> None:
    first = await _running(backend)
    second = run(first["thread_id"])
    await backend.runs.insert(second, create_thread=None, reject_if_busy=False)
    await backend.runs.finish(first["run_id"], "error", snapshot({}, error={"error": "E"}))
    await backend.runs.claim(1)
    assert await backend.runs.finish(second["run_id"], "success", snapshot({"ok": 1})) == "idle"
    t = await backend.threads.get(first["thread_id"])
    assert t is not None
    assert (t["status"], t["values"], t["error"]) == ("idle", {"ok": 1}, None)


async def test_a_rollback_deletes_the_run(backend: Backend) -> None:
    r = await _running(backend)
    assert await backend.runs.finish(r["run_id"], None, None) == "idle"
    assert await backend.runs.get(r["run_id"]) is None
    t = await backend.threads.get(r["thread_id"])
    assert t is not None and t["status"] == "idle"


async def test_a_stateless_run_takes_its_thread_with_it(backend: Backend) -> None:
    r = await _running(backend, kwargs={"temporary": True})
    assert await backend.runs.finish(r["run_id"], "success", None, delete_thread=True) is None
    assert await backend.threads.get(r["thread_id"]) is None
    assert await backend.runs.get(r["run_id"]) is None


async def test_finishing_a_run_that_is_gone_changes_nothing(backend: Backend) -> None:
    assert await backend.runs.finish(new_id(), "success", snapshot({})) is None
    r = await _running(backend)
    assert await backend.threads.delete(r["thread_id"]) is True
    assert await backend.runs.finish(r["run_id"], "success", snapshot({})) is None


@pytest.mark.parametrize(("has_next", "expected"), [(False, "idle"), (True, "interrupted")])
async def test_set_state_outside_runs_settles_an_idle_thread(
    backend: Backend, has_next: bool, expected: ThreadStatus
) -> None:
    t = await backend.threads.create(thread(status="error"), do_nothing=False)
    await backend.threads.set_state(t["thread_id"], snapshot({"v": 2}, has_next=has_next))
    got = await backend.threads.get(t["thread_id"])
    assert got is not None
    assert (got["status"], got["values"], got["interrupts"]) == (expected, {"v": 2}, {})


async def test_set_state_leaves_a_busy_thread_busy(backend: Backend) -> None:
    r = await _running(backend)
    await backend.threads.set_state(r["thread_id"], snapshot({"v": 3}, has_next=True))
    got = await backend.threads.get(r["thread_id"])
    assert got is not None and (got["status"], got["values"]) == ("busy", {"v": 3})
    await backend.threads.set_state(new_id(), snapshot({}))  # a missing thread: nothing
