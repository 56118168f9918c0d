"""Messages cross the API without losing anything: list content, names, ids, tool calls,
metadata and usage, in stream events, wait bodies and thread state."""

from __future__ import annotations

import json
from typing import Any

import httpx
from langgraph_sdk.client import LangGraphClient

HUMAN = {
    "type": "human",
    "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:,"}},
    ],
    "name": "alice",
    "id": "human-1",
    "additional_kwargs": {"source": "test"},
}


def _rich_ai(messages: list[dict[str, Any]]) -> dict[str, Any]:
    ai = messages[-1]
    assert ai["type"] == "ai"
    return ai


def _assert_rich(ai: dict[str, Any]) -> None:
    assert ai["content"] == [
        {"type": "text", "text": "part one"},
        {"type": "text", "text": "two"},
    ]
    assert ai["name"] == "assistant-bot"
    assert ai["id"] == "rich-1"
    assert ai["additional_kwargs"] == {"extra": {"nested": [1, 2]}}
    assert ai["response_metadata"] == {"model_name": "fake", "finish_reason": "stop"}
    assert ai["tool_calls"] == [
        {"name": "lookup", "args": {"q": "x"}, "id": "call-1", "type": "tool_call"}
    ]
    assert ai["usage_metadata"] == {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}


def _assert_human(human: dict[str, Any]) -> None:
    for key in ("type", "content", "name", "id", "additional_kwargs"):
        assert human[key] == HUMAN[key], key


async def test_wait_body_keeps_every_message_field(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "rich", input={"messages": [HUMAN]})
    assert isinstance(result, dict)
    _assert_human(result["messages"][0])
    _assert_rich(_rich_ai(result["messages"]))
    state = await client.threads.get_state(thread["thread_id"])
    _assert_human(state["values"]["messages"][0])
    _assert_rich(_rich_ai(state["values"]["messages"]))
    stored = await client.threads.get(thread["thread_id"])
    _assert_rich(_rich_ai(stored["values"]["messages"]))


async def test_stream_events_keep_every_message_field(client: LangGraphClient) -> None:
    values: list[Any] = []
    tuples: list[Any] = []
    async for part in client.runs.stream(
        None, "rich", input={"messages": [HUMAN]}, stream_mode=["values", "messages-tuple"]
    ):
        if part.event == "values":
            values.append(part.data)
        elif part.event == "messages":
            tuples.append(part.data)
    _assert_rich(_rich_ai(values[-1]["messages"]))
    assert tuples, "the node's message was not sent in messages mode"
    message, metadata = tuples[-1]
    _assert_rich(message)
    assert metadata["langgraph_node"] == "answer"


async def test_unicode_and_control_characters_survive_the_wire(http: httpx.AsyncClient) -> None:
    text = 'héllo ✓ 😀 line1\nline2\r\n\t"quoted" \\ \u2028'
    async with http.stream(
        "POST",
        "/runs/stream",
        json={
            "assistant_id": "trivial",
            "input": {"messages": [{"role": "user", "content": text}]},
        },
    ) as r:
        body = (await r.aread()).decode()
    # Each data line is one JSON document on one line, whatever the content holds.
    data_lines = [line for line in body.split("\r\n") if line.startswith("data: ")]
    assert data_lines
    first_values = json.loads(data_lines[1].removeprefix("data: "))
    assert first_values["messages"][0]["content"] == text
