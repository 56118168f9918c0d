"""Runs start because something woke the queue, never because it polled.

The servers here poll once an hour (`DISTAFF_QUEUE_POLL_SECONDS=3600`), so a run that only a
poll would have found never starts and its test fails on a timeout instead of passing slowly.
Each path that can make a run claimable is exercised: a new run, a run queued behind another on
its thread, a run scheduled for later, a full worker freeing a slot, a cancel (`interrupt`), and
across processes on PostgreSQL a run created in a process that executes nothing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.backends import DURABLE
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

NO_POLL = {
    "DISTAFF_QUEUE_POLL_SECONDS": "3600",
    "DISTAFF_TEST_SLOW_DELAY": "0.05",
    "DISTAFF_MAX_CONCURRENT_RUNS": "1",
}
#: Far below the poll interval: a run still pending after this was never woken for.
WITHIN = 20.0


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _contents(values: Any) -> list[str]:
    return [m["content"] for m in (values or {}).get("messages", [])]


@pytest.fixture(scope="module", params=DURABLE)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One worker slot, so a second run waits for the first to free it."""
    ARTIFACTS.mkdir(exist_ok=True)
    url = database_url(request.param, tmp_path_factory.mktemp("wakeups"), request)
    with Server(url, env=NO_POLL, log_path=ARTIFACTS / f"wakeups-{request.param}.log") as srv:
        yield srv


@pytest.fixture
async def client(server: Server) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=server.url, timeout=WITHIN)
    yield lg
    await lg.http.client.aclose()


async def ended(client: LangGraphClient, thread_id: str, run_id: str) -> str:
    """The run's final status, waited for at most WITHIN seconds."""
    async with asyncio.timeout(WITHIN):
        while (status := (await client.runs.get(thread_id, run_id))["status"]) in (
            "pending",
            "running",
        ):
            await asyncio.sleep(0.05)
    return status


async def test_a_new_run_starts(client: LangGraphClient) -> None:
    assert _contents(await client.runs.wait(None, "trivial", input=_msg("x"))) == ["x", "ok"]


async def test_a_run_queued_behind_another_on_its_thread_starts_when_it_ends(
    client: LangGraphClient,
) -> None:
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input=_msg("4"))
    second = await client.runs.create(tid, "slow", input=_msg("2"), multitask_strategy="enqueue")
    assert await ended(client, tid, first["run_id"]) == "success"
    assert await ended(client, tid, second["run_id"]) == "success"
    state = await client.threads.get_state(tid)
    assert _contents(state["values"]) == ["4", "slow done", "2", "slow done"]


async def test_a_run_waiting_for_the_only_slot_starts_when_it_frees(
    client: LangGraphClient,
) -> None:
    one, two = [(await client.threads.create())["thread_id"] for _ in range(2)]
    busy = await client.runs.create(one, "slow", input=_msg("4"))
    waiting = await client.runs.create(two, "trivial", input=_msg("y"))
    assert await ended(client, one, busy["run_id"]) == "success"
    assert await ended(client, two, waiting["run_id"]) == "success"


async def test_a_scheduled_run_starts_when_due_after_other_runs_were_claimed(
    client: LangGraphClient,
) -> None:
    later_tid, now_tid = [(await client.threads.create())["thread_id"] for _ in range(2)]
    later = await client.runs.create(later_tid, "trivial", input=_msg("later"), after_seconds=3)
    # Claimed while the scheduled one is not due yet: the worker learns when that one is.
    await client.runs.wait(now_tid, "trivial", input=_msg("now"))
    assert (await client.runs.get(later_tid, later["run_id"]))["status"] == "pending"
    assert await ended(client, later_tid, later["run_id"]) == "success"


async def test_a_run_that_interrupts_the_running_one_starts(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input=_msg("100"))
    async with asyncio.timeout(WITHIN):
        while (await client.runs.get(tid, first["run_id"]))["status"] != "running":
            await asyncio.sleep(0.05)
    second = await client.runs.create(
        tid, "trivial", input=_msg("z"), multitask_strategy="interrupt"
    )
    assert await ended(client, tid, first["run_id"]) == "interrupted"
    assert await ended(client, tid, second["run_id"]) == "success"


async def test_runs_taken_at_insert_and_claimed_never_outnumber_the_slots(
    client: LangGraphClient,
) -> None:
    """Runs created while others end: some are taken as they go in (a slot was free), the rest
    claimed as slots free; with one slot, no two ever execute at once. Each run's checkpoints
    bound when it executed (its input's, its result's)."""
    threads = [(await client.threads.create())["thread_id"] for _ in range(16)]

    async def create(i: int, tid: str) -> str:
        await asyncio.sleep(0.03 * i)  # arriving while earlier runs end and the worker claims
        return str((await client.runs.create(tid, "slow", input=_msg("1")))["run_id"])

    run_ids = await asyncio.gather(*(create(i, tid) for i, tid in enumerate(threads)))
    spans = []
    for tid, rid in zip(threads, run_ids, strict=True):
        assert await ended(client, tid, rid) == "success"
        stamps = sorted(c["created_at"] for c in await client.threads.get_history(tid))
        spans.append((stamps[0], stamps[-1]))
    spans.sort()
    overlapping = [(a, b) for a, b in itertools.pairwise(spans) if b[0] < a[1]]
    assert overlapping == [], overlapping


# --- across processes -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """`front` executes nothing (`--no-worker`); `back` executes everything."""
    url = database_url("postgres", tmp_path_factory.mktemp("wakeups-replicas"), request)
    back = Server(url, env=NO_POLL, log_path=ARTIFACTS / "wakeups-back.log").start()
    front = Server(
        url, env=NO_POLL, log_path=ARTIFACTS / "wakeups-front.log", args=["--no-worker"]
    ).start()
    yield front, back
    front.stop()
    back.stop()


async def test_runs_created_in_a_process_without_a_worker_start_in_another(
    replicas: tuple[Server, Server],
) -> None:
    front = get_client(url=replicas[0].url, timeout=WITHIN)
    try:
        assert _contents(await front.runs.wait(None, "trivial", input=_msg("x"))) == ["x", "ok"]
        tid = (await front.threads.create())["thread_id"]
        first = await front.runs.create(tid, "slow", input=_msg("4"))
        second = await front.runs.create(tid, "trivial", input=_msg("y"))
        assert await ended(front, tid, first["run_id"]) == "success"
        assert await ended(front, tid, second["run_id"]) == "success"
    finally:
        await front.http.client.aclose()
