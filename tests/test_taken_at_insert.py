"""Runs taken at insert (`Worker.insert_taken`): when their creator goes away mid-insert, and
with a runs repository (a plug-in's) that does not take runs at insert.

In-process, on a real SQLite file: the runtime the server runs, with the database busy (its
one connection held by another thread, as a long write holds it) so that the run's insert
waits in the database's queue; the request creating the run is cancelled meanwhile (a client
gone, a shutdown), then the database is freed. The insert still commits, the run taken; it
must be executed here, not left `running` with nobody executing it (its thread blocked until
a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph

from distaff.backends.base import Backend
from distaff.backends.registry import BackendOptions, register_backend
from distaff.backends.sqlite import SqliteBackend, open_sqlite
from distaff.graphs import GraphRegistry
from distaff.models import Page
from distaff.runtime import Runtime
from distaff.services.run_creation import CreatedRun
from distaff.settings import Settings


def _graph() -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("answer", lambda state: {"messages": [AIMessage("ok")]})
    builder.add_edge(START, "answer")
    return builder.compile()


async def _statuses(rt: Runtime, thread_id: str) -> list[str]:
    runs = await rt.backend.runs.list_for_thread(thread_id, Page(limit=10, offset=0))
    return [r["status"] for r in runs]


async def _wait(rt: Runtime, created: CreatedRun) -> None:
    assert created.subscription is not None
    async with asyncio.timeout(10):
        async for _ in created.subscription:
            pass


async def test_a_run_taken_while_its_creator_was_cancelled_is_executed(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/distaff.sqlite")
    async with Runtime.open(settings, GraphRegistry({"agent": _graph()})) as rt:
        backend = rt.backend
        assert isinstance(backend, SqliteBackend)
        body = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": "x"}]}}
        tid = (await rt.threads.create({}))["thread_id"]
        # A first run: the assistant is cached, so the next run's insert is the first thing
        # it waits for; and the worker's claims have found the queue empty, so it is taken.
        await _wait(rt, await rt.run_creator.create(None, body, "wait"))
        assert rt.worker is not None and rt.worker.reserve()
        rt.worker._reserved -= 1  # (that probe kept a slot: give it back)

        held, free = threading.Event(), threading.Event()

        def hold() -> None:
            with backend.db._lock:  # the database's one connection, busy
                held.set()
                free.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(5)
        creating = asyncio.create_task(rt.run_creator.create(tid, body, "background"))
        await asyncio.sleep(0.2)  # the insert is queued behind the held connection
        creating.cancel()
        free.set()
        holder.join(5)
        async with asyncio.timeout(10):
            while (statuses := await _statuses(rt, tid)) != ["success"]:
                assert statuses in ([], ["running"]), statuses
                await asyncio.sleep(0.05)
        # The thread is free for the next run.
        await _wait(rt, await rt.run_creator.create(tid, body, "wait"))
        assert await _statuses(rt, tid) == ["success", "success"]


class RunsOfAnOlderPlugIn:
    """A plug-in's runs repository written before `take` and `assistant_as_of` existed: the
    old `insert` signature, no `takes_at_insert`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "takes_at_insert":
            raise AttributeError(name)
        return getattr(self._inner, name)

    async def insert(
        self, run: Any, *, create_thread: Any, reject_if_busy: bool, read_here: bool = False
    ) -> list[str]:
        return list(
            await self._inner.insert(
                run, create_thread=create_thread, reject_if_busy=reject_if_busy, read_here=read_here
            )
        )


@contextlib.asynccontextmanager
async def _open_older(options: BackendOptions) -> AsyncIterator[Backend]:
    async with open_sqlite(options.rest.removeprefix("/")) as backend:
        yield dataclasses.replace(backend, runs=RunsOfAnOlderPlugIn(backend.runs))


async def test_a_runs_repository_without_takes_at_insert_gets_its_runs_claimed(
    tmp_path: Path,
) -> None:
    register_backend("olderplugin", _open_older, replace=True)
    settings = Settings(database_url=f"olderplugin:///{tmp_path}/distaff.sqlite")
    async with Runtime.open(settings, GraphRegistry({"agent": _graph()})) as rt:
        assert isinstance(rt.backend.runs, RunsOfAnOlderPlugIn)
        body = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": "x"}]}}
        tid = (await rt.threads.create({}))["thread_id"]
        for _ in range(3):
            await _wait(rt, await rt.run_creator.create(tid, body, "wait"))
            await _wait(rt, await rt.run_creator.create(None, body, "wait"))
        assert await _statuses(rt, tid) == ["success"] * 3
