"""The run queue: inserting runs on threads, claiming them in order, heartbeats, requeues."""

from __future__ import annotations

import pytest

from distaff.backends.base import Backend
from distaff.errors import Conflict, NotFound, StaleAssistant
from distaff.models import Json, MultitaskStrategy, Page
from tests.backends.records import assistant, new_id, run, snapshot, thread


async def _thread(backend: Backend, metadata: Json | None = None) -> str:
    created = await backend.threads.create(thread(metadata=metadata), do_nothing=False)
    return created["thread_id"]


async def test_insert_marks_the_thread_busy_and_stamps_its_graph(backend: Backend) -> None:
    tid = await _thread(backend, metadata={"owner": "ann"})
    assert await backend.runs.insert(run(tid), create_thread=None, reject_if_busy=False) == []
    got = await backend.threads.get(tid)
    assert got is not None
    assert got["status"] == "busy"
    assert got["metadata"] == {"owner": "ann", "graph_id": "agent", "assistant_id": "assistant"}


async def test_insert_creates_a_missing_thread_when_given_one(backend: Backend) -> None:
    t = thread(metadata={"k": 1})
    r = run(t["thread_id"])
    assert await backend.runs.insert(r, create_thread=t, reject_if_busy=True) == []
    got = await backend.threads.get(t["thread_id"])
    assert got is not None and got["status"] == "busy"
    assert got["metadata"]["k"] == 1 and got["metadata"]["graph_id"] == "agent"
    # An existing thread given again is used as it is (`if_not_exists: "create"`).
    second = run(t["thread_id"])
    active = await backend.runs.insert(second, create_thread=t, reject_if_busy=False)
    assert active == [r["run_id"]]


async def test_insert_on_a_missing_thread_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound):
        await backend.runs.insert(run(new_id()), create_thread=None, reject_if_busy=False)


async def test_insert_returns_the_active_runs_oldest_first(backend: Backend) -> None:
    tid = await _thread(backend)
    first, second = run(tid, created=-2), run(tid, created=-1)
    await backend.runs.insert(second, create_thread=None, reject_if_busy=False)
    await backend.runs.insert(first, create_thread=None, reject_if_busy=False)
    active = await backend.runs.insert(run(tid), create_thread=None, reject_if_busy=False)
    assert active == [first["run_id"], second["run_id"]]


async def test_reject_if_busy_refuses_and_inserts_nothing(backend: Backend) -> None:
    tid = await _thread(backend)
    await backend.runs.insert(run(tid), create_thread=None, reject_if_busy=True)
    refused = run(tid, strategy="reject")
    with pytest.raises(Conflict):
        await backend.runs.insert(refused, create_thread=None, reject_if_busy=True)
    assert await backend.runs.get(refused["run_id"]) is None
    assert len(await backend.runs.list_for_thread(tid, Page())) == 1


async def test_the_multitask_strategy_is_stored_with_the_run(backend: Backend) -> None:
    tid = await _thread(backend)
    strategies: tuple[MultitaskStrategy, ...] = ("reject", "interrupt", "rollback", "enqueue")
    for strategy in strategies:
        r = run(tid, strategy=strategy)
        await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
        got = await backend.runs.get(r["run_id"])
        assert got is not None and got["multitask_strategy"] == strategy


async def test_claim_takes_due_runs_oldest_first(backend: Backend) -> None:
    runs = [run(await _thread(backend), created=-seconds) for seconds in (1, 3, 2)]
    for r in runs:
        await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    oldest_first = [runs[1]["run_id"], runs[2]["run_id"], runs[0]["run_id"]]
    first = await backend.runs.claim(2)
    assert [(r["run_id"], attempt) for r, attempt in first.runs] == [
        (oldest_first[0], 1),
        (oldest_first[1], 1),
    ]
    assert all(r["status"] == "running" for r, _ in first.runs)
    rest = await backend.runs.claim(2)
    assert [r["run_id"] for r, _ in rest.runs] == oldest_first[2:]
    assert (await backend.runs.claim(2)).runs == []


async def test_claim_breaks_ties_by_run_id(backend: Backend) -> None:
    base = run(await _thread(backend))
    ids = sorted(new_id() for _ in range(3))
    for rid in reversed(ids):
        r = run(await _thread(backend), run_id=rid)
        r["created_at"] = base["created_at"]
        await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    claimed = [r["run_id"] for r, _ in (await backend.runs.claim(3)).runs]
    assert claimed == ids


async def test_claim_takes_one_run_per_thread_and_none_behind_a_running_one(
    backend: Backend,
) -> None:
    busy, other = await _thread(backend), await _thread(backend)
    a1, a2, b1 = run(busy, created=-3), run(busy, created=-2), run(other, created=-1)
    for r in (a1, a2, b1):
        await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    claim = await backend.runs.claim(10)
    assert {r["run_id"] for r, _ in claim.runs} == {a1["run_id"], b1["run_id"]}
    assert (await backend.runs.claim(10)).runs == []  # a2 waits for a1
    assert await backend.runs.finish(a1["run_id"], "success", snapshot({})) == "busy"
    claim = await backend.runs.claim(10)
    assert [(r["run_id"], attempt) for r, attempt in claim.runs] == [(a2["run_id"], 1)]


async def test_a_scheduled_run_is_not_claimed_before_its_time(backend: Backend) -> None:
    tid = await _thread(backend)
    await backend.runs.insert(run(tid, created=60), create_thread=None, reject_if_busy=False)
    claim = await backend.runs.claim(10)
    assert claim.runs == []
    assert claim.next_due_in is not None and 50 < claim.next_due_in <= 60


async def test_an_empty_queue_knows_of_nothing_due(backend: Backend) -> None:
    claim = await backend.runs.claim(10)
    assert claim.runs == [] and claim.next_due_in is None


async def test_a_claim_by_the_process_that_reads_the_run_is_not_read_elsewhere(
    backend: Backend,
) -> None:
    tid = await _thread(backend)
    r = run(tid)
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False, read_here=True)
    claim = await backend.runs.claim(1)
    assert [x["run_id"] for x, _ in claim.runs] == [r["run_id"]]
    assert claim.read_elsewhere == frozenset()


async def test_heartbeat_reports_held_runs_only(backend: Backend) -> None:
    tid = await _thread(backend)
    running, pending = run(tid, created=-2), run(tid, created=-1)
    for r in (running, pending):
        await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    await backend.runs.claim(10)
    held = await backend.runs.heartbeat([running["run_id"], pending["run_id"], new_id()])
    assert held == {running["run_id"]: None}
    assert await backend.runs.heartbeat([]) == {}


async def test_requeue_gives_the_run_back_with_its_attempt_counted(backend: Backend) -> None:
    tid = await _thread(backend)
    r = run(tid)
    await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    assert [a for _, a in (await backend.runs.claim(1)).runs] == [1]
    await backend.runs.requeue(r["run_id"])
    got = await backend.runs.get(r["run_id"])
    assert got is not None and got["status"] == "pending"
    thread_now = await backend.threads.get(tid)
    assert thread_now is not None and thread_now["status"] == "busy"
    assert [a for _, a in (await backend.runs.claim(1)).runs] == [2]


async def test_get_list_and_delete(backend: Backend) -> None:
    tid, other = await _thread(backend), await _thread(backend)
    old, new = run(tid, created=-2), run(tid, created=-1)
    for r in (old, new):
        await backend.runs.insert(r, create_thread=None, reject_if_busy=False)
    assert await backend.runs.get(old["run_id"], other) is None
    got = await backend.runs.get(old["run_id"], tid)
    assert got is not None and got["kwargs"] == {} and got["metadata"] == {"graph_id": "agent"}
    listed = await backend.runs.list_for_thread(tid, Page())
    assert [r["run_id"] for r in listed] == [new["run_id"], old["run_id"]]
    assert [r["run_id"] for r in await backend.runs.list_for_thread(tid, Page(1, 1))] == [
        old["run_id"]
    ]
    with pytest.raises(Conflict):
        await backend.runs.delete(old["run_id"], tid)  # still pending
    await backend.runs.claim(1)
    await backend.runs.finish(old["run_id"], "success", None)
    assert [r["run_id"] for r in await backend.runs.list_for_thread(tid, Page(), "success")] == [
        old["run_id"]
    ]
    assert await backend.runs.delete(old["run_id"], other) is False
    assert await backend.runs.delete(old["run_id"], tid) is True
    assert await backend.runs.get(old["run_id"]) is None


async def test_stats_count_the_queue(backend: Backend) -> None:
    empty = await backend.runs.stats()
    assert (empty.n_pending, empty.n_running, empty.pending_wait_max) == (0, 0, None)
    busy, free = await _thread(backend), await _thread(backend)
    await backend.runs.insert(run(busy, created=-30), create_thread=None, reject_if_busy=False)
    await backend.runs.claim(1)
    await backend.runs.insert(run(busy, created=-20), create_thread=None, reject_if_busy=False)
    await backend.runs.insert(run(free, created=-10), create_thread=None, reject_if_busy=False)
    await backend.runs.insert(run(free, created=600), create_thread=None, reject_if_busy=False)
    stats = await backend.runs.stats()
    assert (stats.n_pending, stats.n_running) == (3, 1)
    assert stats.pending_wait_max is not None and 20 <= stats.pending_wait_max < 25
    assert stats.pending_wait_median is not None and 10 <= stats.pending_wait_median < 20
    # The run behind the running one is blocked; the free thread's has waited 10 s.
    assert stats.pending_unblocked_wait_max is not None
    assert 10 <= stats.pending_unblocked_wait_max < 15


# -- taken at insert (a run created where a worker slot was kept for it) --------------------


async def test_a_run_taken_at_insert_is_running_claimed_by_this_process(backend: Backend) -> None:
    tid = await _thread(backend)
    r = run(tid)
    assert await backend.runs.insert(r, create_thread=None, reject_if_busy=False, take=True) == []
    got = await backend.runs.get(r["run_id"])
    assert got is not None and got["status"] == "running"
    assert (await backend.runs.claim(10)).runs == []  # no worker need look for it
    # Held as a claimed run is: its heartbeat renews it, a requeue counts its one attempt, and
    # its end (fenced by owner on a shared database) is recorded.
    assert await backend.runs.heartbeat([r["run_id"]]) == {r["run_id"]: None}
    await backend.runs.requeue(r["run_id"])
    assert [(x["run_id"], a) for x, a in (await backend.runs.claim(1)).runs] == [(r["run_id"], 2)]
    assert await backend.runs.finish(r["run_id"], "success", snapshot({})) == "idle"


async def test_a_run_taken_with_its_new_thread_ends_with_it(backend: Backend) -> None:
    t = thread()
    r = run(t["thread_id"], kwargs={"temporary": True})
    assert await backend.runs.insert(r, create_thread=t, reject_if_busy=False, take=True) == []
    got = await backend.runs.get(r["run_id"])
    assert got is not None and got["status"] == "running"
    await backend.runs.finish(r["run_id"], "success", None, delete_thread=True)
    assert await backend.threads.get(t["thread_id"]) is None


async def test_a_run_behind_an_active_one_is_not_taken(backend: Backend) -> None:
    tid = await _thread(backend)
    first, second = run(tid, created=-2), run(tid, created=-1)
    await backend.runs.insert(first, create_thread=None, reject_if_busy=False)
    active = await backend.runs.insert(second, create_thread=None, reject_if_busy=False, take=True)
    assert active == [first["run_id"]]
    got = await backend.runs.get(second["run_id"])
    assert got is not None and got["status"] == "pending"
    # The queue keeps its order: the first, then (once it ended) the second, attempt 1.
    assert [x["run_id"] for x, _ in (await backend.runs.claim(10)).runs] == [first["run_id"]]
    await backend.runs.finish(first["run_id"], "success", snapshot({}))
    assert [(x["run_id"], a) for x, a in (await backend.runs.claim(10)).runs] == [
        (second["run_id"], 1)
    ]


# -- runs made from a cached assistant -------------------------------------------------------


async def test_a_run_made_from_the_assistant_as_stored_goes_in(backend: Backend) -> None:
    a = await backend.assistants.create(assistant(), do_nothing=False)
    as_of = (a["version"], a["updated_at"])
    tid = await _thread(backend)
    on_thread = run(tid, assistant_id=a["assistant_id"])
    await backend.runs.insert(
        on_thread, create_thread=None, reject_if_busy=False, assistant_as_of=as_of
    )
    t = thread()
    with_thread = run(t["thread_id"], assistant_id=a["assistant_id"])
    await backend.runs.insert(
        with_thread, create_thread=t, reject_if_busy=False, assistant_as_of=as_of
    )
    for r in (on_thread, with_thread):
        assert await backend.runs.get(r["run_id"]) is not None


async def test_a_run_made_from_a_changed_or_deleted_assistant_is_refused(backend: Backend) -> None:
    a = await backend.assistants.create(assistant(), do_nothing=False)
    as_of = (a["version"], a["updated_at"])
    await backend.assistants.update(a["assistant_id"], {"metadata": {"changed": True}})
    tid = await _thread(backend)
    t = thread()
    for r, new_thread in (
        (run(tid, assistant_id=a["assistant_id"]), None),
        (run(t["thread_id"], assistant_id=a["assistant_id"]), t),
    ):
        with pytest.raises(StaleAssistant):
            await backend.runs.insert(
                r, create_thread=new_thread, reject_if_busy=False, assistant_as_of=as_of
            )
        assert await backend.runs.get(r["run_id"]) is None
    assert await backend.threads.get(t["thread_id"]) is None  # nothing went in
    busy = await backend.threads.get(tid)
    assert busy is not None and busy["status"] == "idle"
    current = await backend.assistants.get(a["assistant_id"])
    assert current is not None
    await backend.assistants.delete(a["assistant_id"])
    with pytest.raises(StaleAssistant):
        await backend.runs.insert(
            run(tid, assistant_id=a["assistant_id"]),
            create_thread=None,
            reject_if_busy=False,
            assistant_as_of=(current["version"], current["updated_at"]),
        )
