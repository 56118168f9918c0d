"""Closing cancelled tool calls (engine/healing.py) on state shapes the server tests do not
cover: a `messages` list without a reducer holding dict messages, and tool calls fanned out with
`Send`, one of which finished before the cancel. Real langgraph graphs, cut mid-step as the
executor cuts them (the graph's task cancelled)."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from distaff.engine.healing import CANCELLED, close_dangling_tool_calls, dangling_calls

# As the executor runs a graph: the run's id in the config, so its checkpoints carry it (only a
# state the cancelled run wrote is healed).
CONFIG: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "run_id": "run-1"}}


async def _cut_when_next(graph: Any, values: dict[str, Any], node: str) -> None:
    """Run the graph until its checkpoint says `node` is next, give the step a moment, then
    cancel the run's task."""
    task = asyncio.create_task(graph.ainvoke(values, CONFIG))
    for _ in range(200):
        if (await graph.aget_state(CONFIG)).next[:1] == (node,):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class PlainState(TypedDict):
    messages: list[dict[str, Any]]  # no reducer: a write replaces the list


def _asker() -> StateGraph:
    """ask (an AI message with one tool call) -> tools (30 s: the cancel lands in it)."""

    def ask(state: PlainState) -> dict[str, Any]:
        call = {"name": "wait", "args": {}, "id": "c1", "type": "tool_call"}
        return {
            "messages": [*state["messages"], {"role": "ai", "content": "", "tool_calls": [call]}]
        }

    async def tools(state: PlainState) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {}

    builder = StateGraph(PlainState)
    builder.add_node("ask", ask)
    builder.add_node("tools", tools)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "tools")
    return builder


async def test_a_plain_list_of_dict_messages_is_extended_not_replaced() -> None:
    graph = _asker().compile(checkpointer=InMemorySaver())
    await _cut_when_next(graph, {"messages": [{"role": "user", "content": "hi"}]}, "tools")

    healed = await close_dangling_tool_calls(graph, "t", "run-1")
    assert healed is not None
    roles = [m["role"] for m in healed.values["messages"]]
    assert roles == ["user", "ai", "tool"]
    assert healed.values["messages"][-1]["tool_call_id"] == "c1"
    assert healed.values["messages"][-1]["content"] == CANCELLED
    assert healed.next == ()
    # Nothing is left to close: a second pass changes nothing.
    assert await close_dangling_tool_calls(graph, "t", "run-1") is None


class ChatState(TypedDict):
    messages: Annotated[list[Any], operator.add]


async def test_a_tool_that_finished_in_the_cut_step_keeps_its_answer() -> None:
    def model(state: ChatState) -> dict[str, Any]:
        calls = [
            {"name": "fast", "args": {}, "id": "fast-1", "type": "tool_call"},
            {"name": "slow", "args": {}, "id": "slow-1", "type": "tool_call"},
        ]
        return {"messages": [AIMessage("", tool_calls=calls)]}

    def fan_out(state: ChatState) -> list[Send]:
        return [Send("tool", call) for call in state["messages"][-1].tool_calls]

    async def tool(call: dict[str, Any]) -> dict[str, Any]:
        if call["name"] == "slow":
            await asyncio.sleep(30)
        answer = ToolMessage(f"{call['name']} done", tool_call_id=call["id"], name=call["name"])
        return {"messages": [answer]}

    builder = StateGraph(ChatState)
    builder.add_node("model", model)
    builder.add_node("tool", tool)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", fan_out, ["tool"])
    graph = builder.compile(checkpointer=InMemorySaver())
    await _cut_when_next(graph, {"messages": [HumanMessage("go")]}, "tool")

    healed = await close_dangling_tool_calls(graph, "t", "run-1")
    assert healed is not None
    answers = {m.tool_call_id: m.content for m in healed.values["messages"][2:]}
    assert answers == {"fast-1": "fast done", "slow-1": CANCELLED}
    assert dangling_calls(healed.values["messages"]) == []


def test_only_the_shape_a_cancel_leaves_is_closed() -> None:
    ai = AIMessage("", tool_calls=[{"name": "x", "args": {}, "id": "a"}])
    # A later turn already followed the unanswered call: not the cancel's shape, left alone.
    assert dangling_calls([HumanMessage("q"), ai, HumanMessage("next")]) == []
    answered = ToolMessage("r", tool_call_id="a")
    assert dangling_calls([HumanMessage("q"), ai, answered]) == []
    assert [c["id"] for c in dangling_calls([HumanMessage("q"), ai])] == ["a"]


async def test_a_state_the_run_did_not_write_is_left_alone() -> None:
    """Cancelled before its graph wrote anything: the calls the thread ends with are another
    run's (a client may be answering them), not this one's to close."""
    graph = _asker().compile(checkpointer=InMemorySaver())
    await _cut_when_next(graph, {"messages": [{"role": "user", "content": "hi"}]}, "tools")
    assert await close_dangling_tool_calls(graph, "t", "another-run") is None
    assert (await graph.aget_state(CONFIG)).next == ("tools",)
