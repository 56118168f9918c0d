"""Crashes among several server processes on one PostgreSQL database.

Real `python -m distaff serve` processes, killed and frozen with real signals: a replica
SIGKILLed while it executes runs (its runs are recovered by the others, each executed to its
end exactly once); a worker frozen (SIGSTOP) past its lease (another process takes the run
over, and the frozen one, woken, writes nothing over the result); and every process of a
deployment restarted at once (nothing is lost).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.clients import sdk, wait_status
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

TERMINAL = {"success", "error", "interrupted", "timeout"}
#: The queue polls once an hour: runs taken back from a dead or frozen process, and runs that
#: waited for a free slot, start because a process was woken for them.
NO_POLL = {"DISTAFF_QUEUE_POLL_SECONDS": "3600"}


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _contents(values: Any) -> list[str]:
    return [m["content"] for m in (values or {}).get("messages", [])]


def _log(request: pytest.FixtureRequest, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"replica-crashes-{request.node.name}-{name}.log"
    path.unlink(missing_ok=True)
    return path


@contextmanager
def fleet(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """The servers, started at once (on a fresh database they migrate it together); all of
    them gone after the block (resumed if frozen, then killed)."""
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(Server.start, servers))
        yield servers
    finally:
        for srv in servers:
            if srv.process is not None and srv.process.poll() is None:
                os.kill(srv.process.pid, signal.SIGCONT)
            srv.kill()


def executing(srv: Server) -> int:
    """How many runs `srv` itself is executing right now (its own worker's count)."""
    response = httpx.get(f"{srv.url}/metrics", params={"format": "json"}, timeout=10)
    response.raise_for_status()
    return int(response.json()["workers"]["active"])


async def history(client: LangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    """The thread's checkpoints, newest first."""
    return list(await client.threads.get_history(thread_id, limit=100))


def attempts(checkpoints: list[dict[str, Any]]) -> list[int]:
    return [int((c["metadata"] or {}).get("run_attempt") or 0) for c in checkpoints]


# --- a replica SIGKILLed in the middle of the work ------------------------------------------

N_THREADS = 50
TICKS = 10  # of 0.1 s: a run lasts about a second


async def test_runs_of_a_replica_killed_mid_way_are_finished_by_the_others_exactly_once(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_url("postgres", tmp_path, request)
    slots = 4  # per process: 50 runs queue up, so the victim dies with runs running and pending
    env = {
        "DISTAFF_LEASE_SECONDS": "4",
        "DISTAFF_TEST_SLOW_DELAY": "0.1",
        "DISTAFF_MAX_CONCURRENT_RUNS": str(slots),
        **NO_POLL,
    }
    victim, *survivors = (
        Server(url, env=env, log_path=_log(request, name)) for name in ("victim", "a", "b")
    )
    with fleet(victim, *survivors):
        async with sdk(victim) as v, sdk(survivors[0]) as a, sdk(survivors[1]) as b:
            clients = [v, a, b]

            async def submit(i: int) -> tuple[str, str]:
                client = clients[i % len(clients)]  # every third request to the victim
                thread = await client.threads.create(metadata={"i": i})
                run = await client.runs.create(thread["thread_id"], "slow", input=_msg(str(TICKS)))
                return thread["thread_id"], run["run_id"]

            runs = await asyncio.gather(*(submit(i) for i in range(N_THREADS)))

            # The victim is executing runs (its own worker says so), a few ticks into them.
            deadline = time.monotonic() + 10
            while executing(victim) < 2:
                assert time.monotonic() < deadline, "the victim never took runs"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.4)
            on_victim = executing(victim)
            victim.kill()
            killed_at = time.monotonic()
            assert on_victim >= 1

            # Every run ends, `success`, within a bounded time, seen through the survivors.
            left = dict(runs)
            statuses: dict[str, str] = {}
            while left:
                assert time.monotonic() - killed_at < 40, f"{len(left)} runs never ended: {left}"
                got = await asyncio.gather(
                    *(
                        clients[1 + n % 2].runs.get(tid, rid)
                        for n, (tid, rid) in enumerate(left.items())
                    )
                )
                for run in got:
                    if run["status"] in TERMINAL:
                        statuses[run["run_id"]] = run["status"]
                        del left[run["thread_id"]]
                if left:
                    await asyncio.sleep(0.2)
            recovery_time = time.monotonic() - killed_at
            assert set(statuses.values()) == {"success"}, statuses

            recovered = 0
            for n, (tid, rid) in enumerate(runs):
                client = clients[1 + n % 2]
                assert [r["run_id"] for r in await client.runs.list(tid)] == [rid]
                thread = await client.threads.get(tid)
                assert thread["status"] == "idle", thread
                # The input applied once, the graph's result recorded once.
                assert _contents(thread["values"]) == [str(TICKS), "slow done"], tid
                state = await client.threads.get_state(tid)
                assert _contents(state["values"]) == [str(TICKS), "slow done"], tid
                assert state["next"] == []
                checkpoints = await history(client, tid)
                # One input checkpoint, one before the node, one with its result, whichever
                # attempt wrote which: a run executed over again from its input, or twice to its
                # end, leaves more.
                steps = sorted(c["metadata"]["step"] for c in checkpoints)
                assert steps == [-1, 0, 1], (tid, steps)
                if max(attempts(checkpoints)) > 1:
                    recovered += 1
            # The runs the victim was executing were taken over and finished by the others: a
            # second attempt wrote their last checkpoints. No more than the victim could hold.
            assert 1 <= recovered <= slots, (recovered, on_victim)
            print(
                f"victim executed {on_victim} run(s) when killed; {recovered} recovered;"
                f" all {N_THREADS} runs ended {recovery_time:.1f}s after the kill"
            )


# --- a frozen worker past its lease ---------------------------------------------------------


async def _gave_up(srv: Server, timeout: float = 15) -> None:
    """Wait until `srv` has noticed that its run went to another process (at its lease's
    renewal or at its next write) and has let it go."""
    assert srv.log_path is not None
    deadline = time.monotonic() + timeout
    while True:
        said = srv.log_path.read_text(errors="replace")
        if "lost its lease; stopping it here" in said or "left to the process that took" in said:
            return
        assert time.monotonic() < deadline, "the woken process never let its run go"
        await asyncio.sleep(0.1)


async def test_a_frozen_worker_loses_its_run_and_cannot_overwrite_the_new_owners_result(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_url("postgres", tmp_path, request)
    ticks, delay = 6, 0.5
    env = {"DISTAFF_LEASE_SECONDS": "3", "DISTAFF_TEST_SLOW_DELAY": str(delay), **NO_POLL}
    first = Server(url, env=env, log_path=_log(request, "frozen"))
    second = Server(url, env=env, log_path=_log(request, "successor"))
    with fleet(first):
        assert first.process is not None
        async with sdk(first) as a:
            tid = (await a.threads.create())["thread_id"]
            run = await a.runs.create(tid, "slow", input=_msg(str(ticks)), stream_mode=["custom"])
            rid = run["run_id"]
            # Only `first` has a worker yet: it executes the run. Freeze it in the run's last
            # tick, its graph about to write its result.
            async for part in a.runs.join_stream(tid, rid, stream_mode=["custom"]):
                if part.event != "custom":
                    continue
                if part.data["tick"] == ticks - 1:
                    os.kill(first.process.pid, signal.SIGSTOP)
                    frozen_at = time.monotonic()
                    break
                assert executing(first) == 1
            else:
                raise AssertionError("the run's last tick never came")

        try:
            # The frozen process is alive: only the expiry of its lease frees the run.
            with fleet(second):
                async with sdk(second) as b:
                    assert await wait_status(b, tid, rid, TERMINAL, timeout=30) == "success"
                    taken_over_after = time.monotonic() - frozen_at
                    ended = await b.runs.get(tid, rid)
                    thread = await b.threads.get(tid)
                    state = await b.threads.get_state(tid)
                    checkpoints = await history(b, tid)
                    assert _contents(thread["values"]) == [str(ticks), "slow done"]
                    assert _contents(state["values"]) == [str(ticks), "slow done"]
                    # The second attempt wrote the result, over the first's checkpoints.
                    assert attempts(checkpoints)[0] == 2
                    assert state["checkpoint"] == checkpoints[0]["checkpoint"]

                    # Wake the frozen process: its graph finishes its last tick and would write
                    # its result now; it must write nothing, on the run or the thread.
                    os.kill(first.process.pid, signal.SIGCONT)
                    await _gave_up(first)

                    assert await b.runs.get(tid, rid) == ended
                    assert [r["run_id"] for r in await b.runs.list(tid)] == [rid]
                    assert await b.threads.get(tid) == thread
                    after = await history(b, tid)
                    assert [c["checkpoint"]["checkpoint_id"] for c in after] == [
                        c["checkpoint"]["checkpoint_id"] for c in checkpoints
                    ]
                    assert sorted(c["metadata"]["step"] for c in after) == [-1, 0, 1]
                    assert (await b.threads.get_state(tid))["checkpoint"] == state["checkpoint"]
                    assert _contents((await b.threads.get(tid))["values"]) == [
                        str(ticks),
                        "slow done",
                    ]

                    # The woken process is healthy: it serves, and its worker runs again.
                    assert first.process.poll() is None
                    async with sdk(first) as a:
                        again = await a.runs.wait(tid, "slow", input=_msg("2"))
                        assert _contents(again) == [str(ticks), "slow done", "2", "slow done"]
        finally:
            if first.process.poll() is None:
                os.kill(first.process.pid, signal.SIGCONT)
    print(f"run taken over and finished {taken_over_after:.1f}s after the freeze")


# --- every process restarted ----------------------------------------------------------------


async def test_restarting_every_replica_keeps_all_data(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_url("postgres", tmp_path, request)
    env = {"DISTAFF_TEST_SLOW_DELAY": "0.1"}
    old = [Server(url, env=env, log_path=_log(request, f"old-{i}")) for i in range(2)]
    with fleet(*old):
        async with sdk(old[0]) as one, sdk(old[1]) as two:
            mine = await one.assistants.create(
                "agent",
                name="mine",
                metadata={"owner": "replicas"},
                config={"configurable": {"k": "v1"}},
            )
            aid = mine["assistant_id"]
            await two.assistants.update(aid, config={"configurable": {"k": "v2"}}, name="mine-2")
            other = await two.assistants.create("slow", name="other", if_exists="raise")

            first = (await one.threads.create(metadata={"purpose": "first"}))["thread_id"]
            await two.runs.wait(first, aid, input=_msg("hi"))
            bg = await one.runs.create(first, "agent", input=_msg("again"))
            await two.runs.join(first, bg["run_id"])
            second = (await two.threads.create(metadata={"purpose": "second"}))["thread_id"]
            await one.runs.wait(second, other["assistant_id"], input=_msg("2"))
            await two.runs.wait(second, "trivial", input=_msg("x"))

            # Work in flight when every process stops: a run executing (it ends within the
            # shutdown grace) and one queued behind it on its thread.
            busy = (await one.threads.create(metadata={"purpose": "busy"}))["thread_id"]
            running = await two.runs.create(busy, "slow", input=_msg("20"))
            queued = await one.runs.create(
                busy, "slow", input=_msg("3"), multitask_strategy="enqueue"
            )
            await wait_status(one, busy, running["run_id"], {"running"}, timeout=20)
            assert (await two.runs.get(busy, queued["run_id"]))["status"] == "pending"

            before = {
                "assistants": await one.assistants.search(limit=100),
                "versions": await one.assistants.get_versions(aid),
                "threads": {
                    tid: {
                        "thread": await one.threads.get(tid),
                        "runs": await one.runs.list(tid),
                        "state": await one.threads.get_state(tid),
                        "history": await history(one, tid),
                    }
                    for tid in (first, second)
                },
            }
            assert await two.assistants.search(limit=100) == before["assistants"]

        # Every process stops at once.
        for srv in old:
            assert srv.process is not None
            srv.process.send_signal(signal.SIGTERM)
        for srv in old:
            assert srv.process is not None
            # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM, not 0.
            assert srv.process.wait(20) in (0, -signal.SIGTERM)
            assert srv.log_path is not None
            assert "Application shutdown complete" in srv.log_path.read_text()

    new = [Server(url, env=env, log_path=_log(request, f"new-{i}")) for i in range(2)]
    with fleet(*new):
        for srv in new:
            async with sdk(srv) as client:
                assert await client.assistants.search(limit=100) == before["assistants"]
                assert await client.assistants.get_versions(aid) == before["versions"]
                got = await client.assistants.get(aid)
                assert (got["name"], got["version"]) == ("mine-2", 2)
                assert got["config"]["configurable"]["k"] == "v2"
                for tid, was in before["threads"].items():
                    assert await client.threads.get(tid) == was["thread"]
                    assert await client.runs.list(tid) == was["runs"]
                    assert await client.threads.get_state(tid) == was["state"]
                    assert await history(client, tid) == was["history"]
                assert _contents((await client.threads.get(first))["values"]) == [
                    "hi",
                    "Hello there friend",
                    "again",
                    "Hello there friend",
                ]
                assert _contents((await client.threads.get(second))["values"]) == [
                    "2",
                    "slow done",
                    "x",
                    "ok",
                ]
                # The work in flight at the stop: the executing run ended (or was handed
                # back and finished now), the queued one runs on the new processes.
                for run in (running, queued):
                    status = await wait_status(client, busy, run["run_id"], TERMINAL, timeout=20)
                    assert status == "success"
                busy_thread = await client.threads.get(busy)
                assert busy_thread["status"] == "idle"
                assert _contents(busy_thread["values"]) == ["20", "slow done", "3", "slow done"]
                found = await client.threads.search(limit=100)
                assert {t["thread_id"] for t in found} == {first, second, busy}

        # And the new processes go on working on the old data, each on the other's writes.
        async with sdk(new[0]) as one, sdk(new[1]) as two:
            await one.runs.wait(first, aid, input=_msg("third"))
            assert len(_contents((await two.threads.get(first))["values"])) == 6
            await two.assistants.update(aid, name="mine-3")
            assert (await one.assistants.get(aid))["version"] == 3
