"""The Python SDK's thread-centric streaming (`client.threads.stream`, langgraph_sdk 0.4.14)
against distaff on every backend, over SSE and over WebSocket (contract section 10.1;
captures 50-53)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

TRANSPORTS = ["sse", "websocket"]


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tokens_and_output(client: LangGraphClient, transport: Any) -> None:
    async with client.threads.stream(assistant_id="agent", transport=transport) as thread:
        await thread.run.start(input=_msg("hi"))
        streams = [m async for m in thread.messages]
        texts = [await m.text for m in streams]
        output = await asyncio.wait_for(thread.output, 15)
    assert texts == ["Hello there friend"]
    assert [m["type"] for m in output["messages"]] == ["human", "ai"]
    assert output["messages"][-1]["content"] == "Hello there friend"
    state = await client.threads.get_state(thread.thread_id)
    assert state["values"] == output


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_human_in_the_loop(client: LangGraphClient, transport: Any) -> None:
    async with client.threads.stream(assistant_id="hitl", transport=transport) as thread:
        await thread.run.start(input=_msg("please approve"))
        await _until(lambda: thread.interrupted)
        (pending,) = thread.interrupts
        # The reference sends the value as `payload` only, and the SDK reads `value`: it saw
        # None there. distaff sends both.
        assert pending["value"] == {"question": "approve?", "n": 1}
        assert pending["namespace"] == []
        await thread.run.respond("yes")
        output = await asyncio.wait_for(thread.output, 15)
    assert output["approved"] == "yes"
    assert [m["content"] for m in output["messages"][1:]] == ["human said yes", "done"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subgraphs(client: LangGraphClient, transport: Any) -> None:
    async with client.threads.stream(assistant_id="deep", transport=transport) as thread:
        await thread.run.start(input=_msg("go"))
        children = [h async for h in thread.subgraphs]
        await asyncio.wait_for(thread.output, 15)
        (mid,) = children
        grandchildren = [h async for h in mid.subgraphs]
    assert (mid.graph_name, mid.status) == ("mid", "completed")
    assert mid.path[0] == f"mid:{mid.trigger_call_id}"
    (leaf,) = grandchildren
    assert leaf.graph_name == "leaf" and len(leaf.path) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_failed_run(client: LangGraphClient, transport: Any) -> None:
    async with client.threads.stream(assistant_id="agent", transport=transport) as thread:
        await thread.run.start(input=_msg("boom"))
        with pytest.raises(Exception, match="boom requested"):
            await asyncio.wait_for(thread.output, 15)
    # The stream shows a run's end once its thread has it (the reference: sometimes later).
    assert (await client.threads.get(thread.thread_id))["status"] == "error"


async def test_reattach_to_a_finished_thread(client: LangGraphClient) -> None:
    async with client.threads.stream(assistant_id="agent") as first:
        await first.run.start(input=_msg("first"))
        await asyncio.wait_for(first.output, 15)
    async with client.threads.stream(first.thread_id, assistant_id="agent") as again:
        output = await asyncio.wait_for(again.output, 15)
    assert output["messages"][0]["content"] == "first"


async def _until(condition: Any, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
