"""Races between processes on one PostgreSQL database, at the repository edge.

Another process's transaction is played by a plain psycopg connection holding a lock exactly
where that process would, so the interleaving is certain rather than hoped for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from distaff.backends.postgres import PostgresBackend, open_postgres
from distaff.errors import Conflict
from distaff.ids import now_iso
from distaff.models import Run, Thread
from tests.conftest import database_url


@pytest.fixture
async def pg(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PostgresBackend]:
    async with open_postgres(database_url("postgres", tmp_path, request)) as backend:
        yield backend


def _thread() -> Thread:
    now = now_iso()
    return {
        "thread_id": str(uuid.uuid4()),
        "created_at": now,
        "updated_at": now,
        "state_updated_at": now,
        "metadata": {},
        "status": "idle",
        "config": {},
        "values": None,
    }


def _run(thread_id: str) -> Run:
    now = now_iso()
    return {
        "run_id": str(uuid.uuid4()),
        "thread_id": thread_id,
        "assistant_id": str(uuid.uuid4()),
        "metadata": {},
        "status": "pending",
        "kwargs": {},
        "multitask_strategy": "enqueue",
        "created_at": now,
        "updated_at": now,
        "langsmith_session_name": None,
    }


async def _status(pg: PostgresBackend, thread_id: str) -> str:
    thread = await pg.threads.get(thread_id)
    assert thread is not None
    return thread["status"]


async def _other_process_inserts_a_run(
    url: str, thread_id: str, locked: asyncio.Event, release: asyncio.Event
) -> None:
    """What a replica's insert does: lock the thread, add a pending run, mark the thread busy;
    its commit waits for `release`."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction():
            await conn.execute(
                "SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE", (thread_id,)
            )
            await conn.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, metadata, status, kwargs,"
                " multitask_strategy, created_at, updated_at)"
                " VALUES (%s, %s, %s, '{}', 'pending', '{}', 'enqueue', now(), now())",
                (str(uuid.uuid4()), thread_id, str(uuid.uuid4())),
            )
            await conn.execute(
                "UPDATE threads SET status = 'busy' WHERE thread_id = %s", (thread_id,)
            )
            locked.set()
            await release.wait()


@pytest.mark.parametrize("how", ["cancel", "finish"])
async def test_a_run_ending_while_another_process_adds_one_leaves_the_thread_busy(
    pg: PostgresBackend, request: pytest.FixtureRequest, tmp_path: Path, how: str
) -> None:
    """The thread's status after a run ends counts the thread's other active runs, and must
    count one inserted by a transaction that committed while this one waited for the thread."""
    thread = await pg.threads.create(_thread(), do_nothing=False)
    tid = thread["thread_id"]
    run = _run(tid)
    await pg.runs.insert(run, create_thread=None, reject_if_busy=False)
    if how == "finish":
        claim = await pg.runs.claim(1)
        assert [r["run_id"] for r, _ in claim.runs] == [run["run_id"]]

    locked, release = asyncio.Event(), asyncio.Event()
    url = pg.db.pool.conninfo
    other = asyncio.create_task(_other_process_inserts_a_run(url, tid, locked, release))
    await locked.wait()
    if how == "cancel":
        ending = asyncio.create_task(pg.runs.request_cancel("interrupt", run_ids=[run["run_id"]]))
    else:
        ending = asyncio.create_task(pg.runs.finish(run["run_id"], "success", None))
    await asyncio.sleep(0.3)  # the end is under way, waiting for the thread's row
    assert not ending.done()
    release.set()
    await other
    await ending

    ended = await pg.runs.get(run["run_id"])
    assert ended is not None
    assert ended["status"] == ("interrupted" if how == "cancel" else "success")
    # A run is pending on the thread: it is busy, whoever wrote last.
    assert await _status(pg, tid) == "busy"


async def test_reject_sees_a_run_another_process_committed_while_it_waited(
    pg: PostgresBackend,
) -> None:
    """`reject` counts the thread's active runs after taking the thread's lock, so a run that
    another process committed meanwhile is counted: the second run is refused, not added."""
    tid = (await pg.threads.create(_thread(), do_nothing=False))["thread_id"]
    locked, release = asyncio.Event(), asyncio.Event()
    other = asyncio.create_task(
        _other_process_inserts_a_run(pg.db.pool.conninfo, tid, locked, release)
    )
    await locked.wait()
    second = _run(tid)
    inserting = asyncio.create_task(pg.runs.insert(second, create_thread=None, reject_if_busy=True))
    await asyncio.sleep(0.3)  # waiting for the thread's row
    assert not inserting.done()
    release.set()
    await other
    with pytest.raises(Conflict):
        await inserting
    assert await pg.runs.get(second["run_id"]) is None
    assert await _status(pg, tid) == "busy"
