"""A thread's messages handed from one run to the next as objects (`backends/message_reuse.py`),
on a real SQLite file and a real PostgreSQL database, through langgraph's own loop.

What must hold: a later run of the thread gets the message objects the earlier runs were
given, not decoded again (that is the saving), and yet every reader sees exactly what was
stored: never an object a node made, a message changed in place since is decoded, a state read
and the run holding an object decode their own, another thread never gets this thread's
objects, and the bytes stored are langgraph's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import EXT_PYDANTIC_V2, JsonPlusSerializer, _msgpack_enc
from langgraph.graph import START, MessagesState, StateGraph

from distaff.backends import message_reuse
from distaff.backends.base import Backend
from distaff.backends.message_reuse import MessageReuse, ReusingSerializer, reusing
from distaff.backends.postgres.saver import FencedSaver
from distaff.backends.registry import open_backend
from tests.conftest import database_url


class Seen:
    """What the node saw and wrote, run by run."""

    def __init__(self) -> None:
        self.read: list[list[BaseMessage]] = []
        self.written: list[AIMessage] = []


def _graph(saver: Any, seen: Seen) -> Any:
    def answer(state: MessagesState) -> dict[str, Any]:
        seen.read.append(list(state["messages"]))
        turn = len(seen.written) + 1
        reply = AIMessage(
            f"turn {turn}",
            id=f"a{turn}",
            tool_calls=[{"name": "look", "args": {"turn": turn}, "id": f"c{turn}"}],
        )
        seen.written.append(reply)
        return {"messages": [reply, ToolMessage("seen", tool_call_id=f"c{turn}", id=f"t{turn}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=saver)


def _run(thread_id: str, run_id: str) -> dict[str, Any]:
    # As distaff's runs are configured: the run's id beside the thread's.
    return {"configurable": {"thread_id": thread_id, "run_id": run_id}}


def _ask(turn: int) -> dict[str, Any]:
    return {"messages": [HumanMessage(f"ask {turn}", id=f"h{turn}")]}


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(database_url(request.param, tmp_path, request)) as opened:
        yield opened


async def test_a_run_gets_the_messages_its_threads_last_run_wrote_and_what_a_decoding_gives(
    backend: Backend,
) -> None:
    seen, plain_seen = Seen(), Seen()
    graph, plain = _graph(backend.checkpointer, seen), _graph(InMemorySaver(), plain_seen)
    for turn in range(1, 5):
        await graph.ainvoke(_ask(turn), _run("t", f"run-{turn}"))
        await plain.ainvoke(_ask(turn), _run("t", f"run-{turn}"))
    # The first reply, as runs 2, 3 and 4 read it: one object, handed from run to run, and
    # not the one the node made.
    first = [{m.id: m for m in read}["a1"] for read in seen.read[1:]]
    assert first[0] is first[1] is first[2]
    assert first[0] is not seen.written[0]
    assert {m.id: m for m in seen.read[3]}["a3"] is not seen.written[2]
    # And the same state as a saver that decodes everything.
    assert seen.read == plain_seen.read
    config = {"configurable": {"thread_id": "t"}}
    assert (await graph.aget_state(config)).values == (await plain.aget_state(config)).values
    history = [s.values async for s in graph.aget_state_history(config)]
    assert history == [s.values async for s in plain.aget_state_history(config)]


async def test_the_bytes_stored_are_langgraphs(backend: Backend) -> None:
    seen = Seen()
    graph = _graph(backend.checkpointer, seen)
    for turn in range(1, 4):
        await graph.ainvoke(_ask(turn), _run("t", f"run-{turn}"))
    db: Any = backend.db
    if isinstance(backend.checkpointer, FencedSaver):
        rows = [
            (row["type"], bytes(row["blob"]))
            for row in await db.fetchall(
                "SELECT type, blob FROM checkpoint_blobs WHERE thread_id = 't'"
                " AND channel = 'messages'"
            )
        ]
    else:
        rows = await db.read(
            lambda conn: conn.execute(
                "SELECT type, checkpoint FROM checkpoints WHERE thread_id = 't'"
            ).fetchall()
        )
    assert len(rows) >= 6
    # langgraph's own serializer, given what each row decodes to, writes that very row.
    serde = JsonPlusSerializer()
    for kind, blob in rows:
        assert serde.dumps_typed(serde.loads_typed((kind, blob))) == (kind, blob)


async def test_a_message_changed_in_place_since_it_was_written_is_read_as_stored(
    backend: Backend,
) -> None:
    seen = Seen()
    graph = _graph(backend.checkpointer, seen)
    await graph.ainvoke(_ask(1), _run("t", "run-1"))
    await graph.ainvoke(_ask(2), _run("t", "run-2"))
    held = {m.id: m for m in seen.read[1]}
    # What run 2 was given is changed after its checkpoints were written.
    held["a1"].content = "changed afterwards"
    held["a1"].tool_calls[0]["args"]["turn"] = 99
    await graph.ainvoke(_ask(3), _run("t", "run-3"))
    read = {m.id: m for m in seen.read[2]}
    assert read["a1"] is not held["a1"]
    assert read["a1"].content == "turn 1"
    assert read["a1"].tool_calls[0]["args"] == {"turn": 1}
    assert read["h1"] is held["h1"]  # the unchanged ones were still handed over


async def test_one_run_at_a_time_of_the_thread_holds_them(backend: Backend) -> None:
    seen = Seen()
    saver = backend.checkpointer
    graph = _graph(saver, seen)
    await graph.ainvoke(_ask(1), _run("t", "run-1"))
    reply = seen.written[0]

    async def read(config: dict[str, Any]) -> BaseMessage:
        found = await saver.aget_tuple(config)
        assert found is not None
        return {m.id: m for m in found.checkpoint["channel_values"]["messages"]}["a1"]

    kept = await read(_run("t", "run-2"))
    assert kept == reply
    assert kept is not reply  # never the object the node made
    # The run holding it, a state read: decoded, equal.
    for config in (_run("t", "run-2"), {"configurable": {"thread_id": "t"}}):
        got = await read(config)
        assert got == reply
        assert got is not kept
    assert await read(_run("t", "run-3")) is kept  # the next run: handed on
    # Another thread holding an equal message gets its own.
    other = Seen()
    await _graph(saver, other).ainvoke(_ask(1), _run("u", "run-u"))
    got_u = await read(_run("u", "run-u2"))
    assert got_u == reply
    assert got_u is not kept
    assert await read(_run("u", "run-u3")) is got_u


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_run_that_had_to_decode_does_not_decode_again_what_it_writes(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_url(kind, tmp_path, request)
    seen = Seen()
    async with open_backend(url) as first:
        graph = _graph(first.checkpointer, seen)
        for turn in (1, 2):
            await graph.ainvoke(_ask(turn), _run("t", f"run-{turn}"))
    # A new process: nothing kept. The third run decodes the six messages it reads; writing
    # them back it decodes only the three it added (to keep them), not the six again.
    async with open_backend(url) as second:
        serde: Any = second.checkpointer.serde
        assert isinstance(serde, ReusingSerializer)
        hook, decoded = serde._unpack_ext_hook, []

        def counting(code: int, payload: bytes) -> Any:
            if code == EXT_PYDANTIC_V2:
                decoded.append(payload)
            return hook(code, payload)

        serde._unpack_ext_hook = counting
        graph = _graph(second.checkpointer, seen)
        saver = second.checkpointer

        async def a1(run_id: str) -> BaseMessage:
            found = await saver.aget_tuple(_run("t", run_id))
            assert found is not None
            return {m.id: m for m in found.checkpoint["channel_values"]["messages"]}["a1"]

        await graph.ainvoke(_ask(3), _run("t", "run-3"))
        assert len(decoded) == 6 + 3
        third = {m.id: m for m in seen.read[2]}
        # What the run decoded and kept is held by it: read again with its config, the six it
        # decoded are decoded anew (the three it added, not yet handed to anyone, it takes).
        again = await a1("run-3")
        assert again == third["a1"]
        assert again is not third["a1"]
        assert len(decoded) == 6 + 3 + 6
        await graph.ainvoke(_ask(4), _run("t", "run-4"))
        assert len(decoded) == 6 + 3 + 6 + 3  # the next run decodes only what it added
        assert {m.id: m for m in seen.read[3]}["a1"] is third["a1"]


def test_its_encoding_is_langgraphs_byte_for_byte() -> None:
    serde = ReusingSerializer.like(None)
    recorder = serde.recorder("t", "run")
    assert recorder is not None
    values: list[Any] = [
        [
            HumanMessage("hé ☃", id="h"),
            AIMessage("", tool_calls=[{"name": "x", "args": {}, "id": "c"}]),
        ],
        {"nested": [AIMessage("a", response_metadata={"when": datetime(2026, 1, 1, tzinfo=UTC)})]},
        (AIMessage("in a tuple", additional_kwargs={"t": (1, 2)}), {1, 2}, b"bytes"),
        {"no messages": [1, 2.5, None, "x"]},
    ]
    for value in values:
        assert recorder.encode(value) == _msgpack_enc(value)
    recorder.keep()
    # Kept: the messages that decode to what they are (the one holding a tuple does not).
    assert len(serde.reuse) == 3
    # A value that does not encode (the saver then falls back) keeps none of its messages.
    with pytest.raises(TypeError):
        recorder.encode([AIMessage("lost", id="lost"), object()])
    recorder.keep()
    assert len(serde.reuse) == 3


def test_a_serializer_that_decodes_otherwise_hands_nothing_over() -> None:
    assert isinstance(reusing(None), ReusingSerializer)
    assert isinstance(reusing(JsonPlusSerializer()), ReusingSerializer)
    assert reusing(JsonPlusSerializer()).recorder("t", "run") is not None
    # An allow-list may decode a type as a dict; a run with no id has nothing to hand to.
    strict = reusing(JsonPlusSerializer(allowed_msgpack_modules=None))
    assert strict.recorder("t", "run") is None
    assert reusing(JsonPlusSerializer()).recorder("t", None) is None

    class Custom(JsonPlusSerializer):
        pass

    custom = Custom()
    assert reusing(custom) is custom


def test_what_is_kept_stays_within_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_reuse, "MAX_MESSAGES", 10)
    hook = ReusingSerializer.like(None)._unpack_ext_hook

    def decode(payload: bytes) -> Any:
        return hook(EXT_PYDANTIC_V2, payload)

    reuse = MessageReuse()
    messages = [AIMessage(f"m{i}", id=f"m{i}") for i in range(25)]
    reuse.keep("t", [(message_reuse._payload(m), m) for m in messages], decode)
    assert len(reuse) == 10
    # The latest written are the ones kept.
    assert reuse.take("t", "run-2", message_reuse._payload(messages[-1])) == messages[-1]
    assert reuse.take("t", "run-2", message_reuse._payload(messages[0])) is None
    # One changed in place is dropped when found so, and its weight with it.
    changed = reuse.take("t", "run-3", message_reuse._payload(messages[-1]))
    assert changed is not None
    changed.content = "changed"
    assert reuse.take("t", "run-4", message_reuse._payload(messages[-1])) is None
    assert len(reuse) == 9
    monkeypatch.setattr(message_reuse, "MAX_BYTES", 1)
    reuse.keep("t", [(message_reuse._payload(messages[0]), messages[0])], decode)
    assert len(reuse) == 0
    assert reuse.weight == 0
