"""Self-healing threads: the tool calls a cancelled run left without results get tool messages
saying they were cancelled.

A run cancelled (or timed out) while its tools ran leaves the thread's last AI message with
`tool_calls` and no tool messages after it. Every model provider refuses such a conversation
("an assistant message with tool_calls must be followed by tool messages"), so the thread's next
turn would fail however it is phrased. Closing the calls keeps the thread usable, and shows in
its state and history (the studio) what happened.

Only the root graph's `messages` channel is looked at (a subgraph's conversation lives in its
own checkpoint namespace), and only calls of the last AI message with tool calls, when nothing
but tool messages follows it: that is the shape a cancel leaves. A tool whose task finished in
the cancelled step keeps its real answer (its writes are pending on the checkpoint; langgraph's
`update_state(None, as_node=END)` applies them and clears the step).

The answers are a checkpoint written as the cut step's node; when that leads on to another
step, a second checkpoint clears it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.constants import END
from langgraph.types import StateSnapshot

from distaff.graphs import CompiledGraph

log = logging.getLogger("distaff.run")

CANCELLED = "Tool call cancelled: the run was cancelled before this tool returned a result."


def _calls(message: Any) -> list[dict[str, Any]]:
    """The tool calls of an AI message (object or dict form), else []."""
    if isinstance(message, AIMessage):
        return [dict(call) for call in message.tool_calls]
    if isinstance(message, dict) and message.get("type", message.get("role")) in (
        "ai",
        "assistant",
    ):
        calls = message.get("tool_calls")
        return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    return []


def _answered(message: Any) -> str | None:
    """The call id a tool message answers, or None if the message is not a tool message."""
    if isinstance(message, ToolMessage):
        return message.tool_call_id
    if isinstance(message, dict) and message.get("type", message.get("role")) == "tool":
        return str(message.get("tool_call_id"))
    return None


def dangling_calls(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """The calls of the last AI message with tool calls that no tool message after it answers,
    when only tool messages follow it; [] otherwise (a later turn already moved on)."""
    answered: set[str] = set()
    for message in reversed(messages):
        call_id = _answered(message)
        if call_id is not None:
            answered.add(call_id)
            continue
        return [call for call in _calls(message) if call.get("id") not in answered]
    return []


def _messages(state: StateSnapshot) -> list[Any]:
    messages = state.values.get("messages") if isinstance(state.values, dict) else None
    return messages if isinstance(messages, list) else []


def _finished_answers(state: StateSnapshot) -> set[str]:
    """The call ids tasks of the cut step answered before the cancel (their writes pending)."""
    answered: set[str] = set()
    for task in state.tasks:
        written = task.result.get("messages") if isinstance(task.result, dict) else None
        for message in written if isinstance(written, list) else [written]:
            call_id = _answered(message)
            if call_id is not None:
                answered.add(call_id)
    return answered


def _cancelled(call: dict[str, Any], as_dict: bool) -> Any:
    call_id, name = str(call.get("id")), call.get("name")
    if as_dict:
        return {"role": "tool", "content": CANCELLED, "tool_call_id": call_id, "name": name}
    return ToolMessage(content=CANCELLED, tool_call_id=call_id, name=name, status="error")


async def close_dangling_tool_calls(
    graph: CompiledGraph, thread_id: str, run_id: str
) -> StateSnapshot | None:
    """Answer the dangling calls on the thread's latest checkpoint; the state after, or None
    when there was nothing to do."""
    # The run's id lets the checkpointer fence the write (a lapsed lease writes nothing).
    config: RunnableConfig = {
        "configurable": {"thread_id": thread_id, "checkpoint_ns": "", "run_id": run_id}
    }
    channel = graph.channels.get("messages")
    if channel is None:
        return None
    state = await graph.aget_state(config)
    if (state.metadata or {}).get("run_id") != run_id or any(t.interrupts for t in state.tasks):
        # Not this run's state (cancelled before its graph wrote anything: the calls may await
        # a client, or an interrupt its answer), or paused for a human: left as it is.
        return None
    calls = dangling_calls(_messages(state))
    cut = next(iter(state.next), None)  # the step the cancel cut: the tools
    if calls and _finished_answers(state):
        # Some tools of the cut step finished (the state read shows their answers, still pending
        # writes of the step): langgraph's clear applies them for good and drops the rest of
        # the step, so that the update below cannot take a finished task's place.
        await graph.aupdate_state(config, None, as_node=END)
        state = await graph.aget_state(config)
        calls = dangling_calls(_messages(state))
    if not calls:
        return None
    messages = _messages(state)
    as_dict = not isinstance(messages[-1], BaseMessage)
    replies = [_cancelled(call, as_dict) for call in calls]
    # A reducer (add_messages, operator.add) appends; a plain channel takes the whole list.
    update = replies if isinstance(channel, BinaryOperatorAggregate) else [*messages, *replies]
    # As the step the cancel cut, so the history says who answered; when none was pending, as
    # whichever node langgraph finds wrote last.
    await graph.aupdate_state(config, {"messages": update}, as_node=cut)
    if (await graph.aget_state(config)).next:
        # The answers lead on to a step (the model again); the run was cancelled, so nothing
        # is left pending: the thread is idle, and a new turn starts from here.
        await graph.aupdate_state(config, None, as_node=END)
    log.info("run %s: %d cancelled tool call(s) closed", run_id, len(replies))
    return await graph.aget_state(config)
