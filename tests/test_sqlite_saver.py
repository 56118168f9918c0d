"""distaff's SQLite checkpointer (`backends/sqlite/saver.py`): langgraph's `SqliteSaver` on
distaff's connection, whose input checkpoint (`source: input`) reuses the bytes the run has
just read its state from instead of encoding the whole state again.

On a real SQLite file: what it stores must be what langgraph's serializer writes, turn after
turn, and what it reads back what a plain in-memory saver holds for the same turns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import START, MessagesState, StateGraph

from distaff.backends.sqlite import open_sqlite
from distaff.backends.sqlite.saver import DatabaseSaver, _encode, _Written


class State(MessagesState):
    notes: list[str]
    turn: int


def _builder() -> Any:
    def answer(state: State) -> dict[str, Any]:
        turn = state.get("turn", 0) + 1
        reply = AIMessage(f"turn {turn} ☃", additional_kwargs={"n": turn}, id=f"a{turn}")
        # `notes` is written every other turn only: a channel unchanged across turns.
        update: dict[str, Any] = {"messages": [reply], "turn": turn}
        if turn % 2:
            update["notes"] = [*state.get("notes", []), f"odd {turn}"]
        return update

    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder


def _values(history: list[Any]) -> list[tuple[Any, ...]]:
    return [(s.values, s.next, s.metadata["source"], s.metadata["step"]) for s in history]


async def test_the_stored_checkpoints_are_langgraphs_and_read_back_as_a_plain_saver_holds_them(
    tmp_path: Path,
) -> None:
    serde = JsonPlusSerializer()
    plain = _builder().compile(checkpointer=InMemorySaver())
    async with open_sqlite(str(tmp_path / "distaff.sqlite")) as backend:
        saver = backend.checkpointer
        assert isinstance(saver, DatabaseSaver)
        graph = _builder().compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        for turn in range(6):
            ask = {"messages": [{"role": "user", "content": f"ask {turn} é", "id": f"h{turn}"}]}
            await graph.ainvoke(ask, config)
            await plain.ainvoke(ask, config)
        history = [s async for s in graph.aget_state_history(config)]
        expected = [s async for s in plain.aget_state_history(config)]
        assert _values(history) == _values(expected)
        assert len(history) == 18  # three checkpoints a turn

        # A fork from the end of turn 3 (a checkpoint named without its namespace, as clients
        # name it), on both savers: the same branch.
        ask = {"messages": [{"role": "user", "content": "fork", "id": "hf"}]}
        for g, states in ((graph, history), (plain, expected)):
            earlier = states[-9].config["configurable"]["checkpoint_id"]
            await g.ainvoke(ask, {"configurable": {"thread_id": "t", "checkpoint_id": earlier}})
        forked = (await graph.aget_state(config)).values
        assert forked == (await plain.aget_state(config)).values
        assert [m.content for m in forked["messages"]][-3:] == ["turn 3 ☃", "fork", "turn 4 ☃"]
        rows = await backend.db.read(
            lambda conn: conn.execute(
                "SELECT type, checkpoint FROM checkpoints WHERE thread_id='t'"
                " ORDER BY checkpoint_id"
            ).fetchall()
        )
        assert len(rows) == 18 + 3
        for kind, blob in rows:
            assert kind == "msgpack"
            # Byte for byte what langgraph's serializer writes for the checkpoint it holds.
            assert serde.dumps_typed(serde.loads_typed((kind, blob))) == (kind, blob)
        # After a restart (nothing kept), the next turn reads and writes the same way.
    async with open_sqlite(str(tmp_path / "distaff.sqlite")) as backend:
        graph = _builder().compile(checkpointer=backend.checkpointer)
        await graph.ainvoke({"messages": [{"role": "user", "content": "again"}]}, config)
        state = await graph.aget_state(config)
        assert state.values["turn"] == 5  # the fork (turn 4) is the latest
        assert [m.content for m in state.values["messages"]][-2:] == ["again", "turn 5 ☃"]


def test_a_value_read_and_unchanged_takes_its_bytes_anything_else_is_encoded() -> None:
    serde = JsonPlusSerializer()
    messages = [AIMessage("ok")]
    notes = ["a"]
    checkpoint: Any = {
        "v": 4,
        "id": "c2",
        "channel_values": {"messages": messages, "notes": notes, "turn": 3},
        "channel_versions": {"messages": "2", "notes": "1", "turn": "2"},
    }
    # Stand-in bytes, to see which were taken (real ones are the value's encoding).
    written = _Written("c1", {"messages": b"\xc0", "notes": b"\xc2", "turn": b"\x03"})
    read = {"messages": messages, "notes": ["a"], "turn": 3}

    blob, pieces = _encode(checkpoint, read, written, {"turn": "3"})
    fresh = serde.dumps_typed(notes)[1]
    assert pieces["messages"] == b"\xc0"  # the very object read, its version unchanged
    assert pieces["notes"] == fresh  # an equal list, not the one read
    assert pieces["turn"] == serde.dumps_typed(3)[1]  # a new version
    assert serde.loads_typed(("msgpack", blob))["channel_values"] == {
        "messages": None,
        "notes": ["a"],
        "turn": 3,
    }
    # With nothing read, the encoding is langgraph's, byte for byte.
    blob, _ = _encode(checkpoint, {}, None, {})
    assert blob == serde.dumps_typed(checkpoint)[1]


async def test_an_input_checkpoint_holds_what_its_run_read_even_if_a_node_changes_it_in_place(
    tmp_path: Path,
) -> None:
    """A node that appends to a list of its state in place, without writing the channel. The
    input checkpoint is written in the background (`durability="async"`) while the node may
    already run, so a saver that encodes it then can store the node's change in it (langgraph's
    own savers differ here among themselves); from the bytes read, it holds exactly the state
    the run started from: its parent's values."""

    def builder() -> Any:
        def answer(state: State) -> dict[str, Any]:
            turn = state.get("turn", 0)
            state.setdefault("notes", []).append(f"in place {turn}")
            return {"messages": [AIMessage("ok", id=f"a{turn}")], "turn": turn + 1}

        b = StateGraph(State)
        b.add_node("answer", answer)
        b.add_edge(START, "answer")
        return b

    config = {"configurable": {"thread_id": "t"}}
    async with open_sqlite(str(tmp_path / "distaff.sqlite")) as backend:
        graph = builder().compile(checkpointer=backend.checkpointer)
        for turn in range(4):
            ask: dict[str, Any] = {"messages": [{"role": "user", "content": f"ask {turn}"}]}
            if turn == 0:
                ask["notes"] = ["first"]
            await graph.ainvoke(ask, config)
        history = [s async for s in graph.aget_state_history(config)]
    assert len(history) == 12
    by_id = {s.config["configurable"]["checkpoint_id"]: s for s in history}
    inputs = [s for s in history if s.metadata["source"] == "input" and s.parent_config]
    assert len(inputs) == 3
    for state in inputs:
        parent = by_id[state.parent_config["configurable"]["checkpoint_id"]]
        assert state.values == parent.values
    assert history[0].values["notes"] == ["first", *(f"in place {t}" for t in range(4))]
