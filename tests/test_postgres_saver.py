"""distaff's Postgres checkpointer (`backends/postgres/saver.py`) against langgraph's own.

It writes a checkpoint in one statement and a step's writes in one, without langgraph's
process-wide lock; what it writes must be what `AsyncPostgresSaver` writes, so that the plain
saver (and every read path, which is langgraph's) finds the same threads.
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, Send, interrupt
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from distaff.backends.postgres.leases import Leases
from distaff.backends.postgres.saver import FencedSaver
from distaff.errors import LeaseLost
from tests.conftest import database_url


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    count: int
    notes: Annotated[list[str], operator.add]


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    def first(state: State) -> dict[str, Any]:
        return {"messages": [AIMessage("first", id="a1")], "count": state["count"] + 1}

    def fan_out(state: State) -> list[Send]:
        return [Send("note", {"n": i}) for i in range(3)]

    def note(arg: dict[str, int]) -> dict[str, Any]:
        return {"notes": [f"note {arg['n']}"]}

    def ask(state: State) -> dict[str, Any]:
        answer = interrupt({"question": "go on?", "count": state["count"]})
        return {"messages": [HumanMessage(str(answer), id="h2")], "count": state["count"] + 1}

    g = StateGraph(State)
    g.add_node("first", first)
    g.add_node("note", note)
    g.add_node("ask", ask)
    g.add_edge(START, "first")
    g.add_conditional_edges("first", fan_out, ["note"])
    g.add_edge("note", "ask")
    g.add_edge("ask", END)
    return g.compile(checkpointer=saver)


@pytest.fixture
async def pool(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    url = database_url("postgres", tmp_path, request)
    async with AsyncConnectionPool(
        url, kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None}
    ) as pool:
        plain = AsyncPostgresSaver(conn=pool)
        await plain.setup()
        yield pool


def _fenced(pool: Any) -> FencedSaver:
    saver = FencedSaver(conn=pool)
    saver.leases = Leases(20.0)
    return saver


async def _play(saver: BaseCheckpointSaver[Any], thread_id: str) -> None:
    graph = _graph(saver)
    config = {"configurable": {"thread_id": thread_id}}
    await graph.ainvoke({"messages": [HumanMessage("hi", id="h1")], "count": 0}, config)
    await graph.ainvoke(Command(resume="yes"), config)
    # A second turn on the thread: channels that did not change share the earlier blobs.
    await graph.ainvoke({"messages": [HumanMessage("again", id="h3")]}, config)


def _comparable(state: Any) -> tuple[Any, ...]:
    # Less what differs from thread to thread: IDs (of checkpoints, interrupts) and versions.
    meta = {k: v for k, v in state.metadata.items() if k not in ("thread_id", "run_id")}
    tasks = [(t.name, t.path, [i.value for i in t.interrupts], t.result) for t in state.tasks]
    return (state.values, state.next, meta, tasks, [i.value for i in state.interrupts])


async def _rows(pool: Any, table: str, thread_id: str) -> list[tuple[Any, ...]]:
    columns = {
        "checkpoint_blobs": "checkpoint_ns, channel, type, blob",
        # An interrupt's write holds its ID, which differs from thread to thread.
        "checkpoint_writes": "checkpoint_ns, task_path, idx, channel, type,"
        " CASE WHEN channel = '__interrupt__' THEN NULL ELSE blob END AS blob",
    }[table]
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {columns} FROM {table} WHERE thread_id = %s",
            (thread_id,),
        )
        return sorted(tuple(r.values()) for r in await cur.fetchall())


async def test_it_writes_what_langgraphs_saver_writes(pool: Any) -> None:
    plain, fenced = AsyncPostgresSaver(conn=pool), _fenced(pool)
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    await _play(fenced, ours)
    await _play(plain, theirs)

    # Read back through langgraph's own saver, both threads look the same, step by step.
    graph = _graph(plain)
    history: dict[str, list[Any]] = {}
    for thread_id in (ours, theirs):
        config = {"configurable": {"thread_id": thread_id}}
        history[thread_id] = [_comparable(s) async for s in graph.aget_state_history(config)]
    assert len(history[ours]) >= 8
    assert history[ours] == history[theirs]
    final = history[ours][0][0]
    assert [m.content for m in final["messages"]] == ["hi", "first", "yes", "again"]
    assert final["notes"] == [f"note {i}" for i in range(3)] * 2

    # The same rows: blobs of every non-primitive channel version, every write (the
    # interrupt's and resume's included).
    for table in ("checkpoint_blobs", "checkpoint_writes"):
        assert await _rows(pool, table, ours) == await _rows(pool, table, theirs), table
    assert any(r[3] == "__interrupt__" for r in await _rows(pool, "checkpoint_writes", ours))


async def test_writes_sharing_an_index_keep_what_one_statement_each_would(pool: Any) -> None:
    saver = _fenced(pool)
    thread_id = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": "1"}}
    # Special channels only: each replaces the earlier one (the last stays).
    await saver.aput_writes(config, [("__error__", "one"), ("__error__", "two")], "task")
    # Ordinary writes keep what an earlier attempt of the task wrote.
    await saver.aput_writes(config, [("a", 1), ("b", 2)], "other")
    await saver.aput_writes(config, [("a", 10), ("b", 20), ("c", 30)], "other")
    # Mixed: an insert, where of two writes of one special channel the first stays.
    await saver.aput_writes(config, [("x", 1), ("__error__", "first"), ("__error__", "no")], "mix")
    got = await saver.aget_tuple(config)
    assert got is None  # no checkpoint "1": read the writes themselves
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT task_id, idx, channel, type, blob FROM checkpoint_writes"
            " WHERE thread_id = %s ORDER BY task_id, idx",
            (thread_id,),
        )
        rows = [
            (r["task_id"], r["idx"], r["channel"], saver.serde.loads_typed((r["type"], r["blob"])))
            for r in await cur.fetchall()
        ]
    assert rows == [
        ("mix", -1, "__error__", "first"),
        ("mix", 0, "x", 1),
        ("other", 0, "a", 1),
        ("other", 1, "b", 2),
        ("other", 2, "c", 30),
        ("task", -1, "__error__", "two"),
    ]


async def test_a_slow_reader_does_not_hold_up_other_checkpoint_operations(pool: Any) -> None:
    # langgraph's saver takes one process-wide lock per operation, so while a client pages
    # slowly through a history (its cursor open), no run could write a checkpoint.
    saver = _fenced(pool)
    thread_id = str(uuid.uuid4())
    await _play(saver, thread_id)
    config = {"configurable": {"thread_id": thread_id}}
    history = saver.alist(config)
    first = await anext(history)  # the cursor is open now, held by a slow consumer
    other = str(uuid.uuid4())
    await asyncio.wait_for(_play(saver, other), timeout=10)
    assert await saver.aget_tuple({"configurable": {"thread_id": other}}) is not None
    rest = [c async for c in history]
    assert first.checkpoint["id"] > rest[0].checkpoint["id"]


async def test_a_lapsed_lease_writes_nothing(pool: Any) -> None:
    saver = _fenced(pool)
    run_id = str(uuid.uuid4())
    saver.leases.renewed([run_id], sent_at=0.0)  # renewed long ago: lapsed
    graph = _graph(saver)
    thread_id = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread_id, "run_id": run_id}}
    with pytest.raises(LeaseLost):
        await graph.ainvoke({"messages": [HumanMessage("hi")], "count": 0}, config)
    async with pool.connection() as conn:
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            cur = await conn.execute(
                f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (thread_id,)
            )
            row = await cur.fetchone()
            assert row is not None and row["n"] == 0, table
