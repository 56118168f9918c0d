"""Self-healing threads: a run cancelled (or timed out) while its tools ran leaves tool messages
saying the calls were cancelled, so the thread's next turn is one a strict model accepts.

The `strict_agent` graph's model refuses dangling tool calls as the model providers do; its
`slow_lookup` tool takes a minute, so the cancel always lands inside it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.clients import sdk, wait_status
from tests.conftest import ARTIFACTS
from tests.servers import Server

CANCELLED = "Tool call cancelled: the run was cancelled before this tool returned a result."


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def _until_tools_run(client: LangGraphClient, thread_id: str, timeout: float = 15) -> None:
    """Until the thread's checkpoint says the tools step is next: the model asked, the tool runs."""
    deadline = time.monotonic() + timeout
    while (await client.threads.get_state(thread_id))["next"] != ["tools"]:
        assert time.monotonic() < deadline, "the tools step never started"
        await asyncio.sleep(0.05)


async def _cancelled_mid_tool(client: LangGraphClient) -> tuple[str, str]:
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(thread_id, "strict_agent", input=_msg("slow lookup please"))
    await _until_tools_run(client, thread_id)
    await client.runs.cancel(thread_id, run["run_id"], wait=True)
    return thread_id, run["run_id"]


async def test_a_cancel_mid_tool_closes_the_call_and_the_next_turn_is_accepted(
    client: LangGraphClient,
) -> None:
    thread_id, run_id = await _cancelled_mid_tool(client)
    assert (await client.runs.get(thread_id, run_id))["status"] == "interrupted"

    state = await client.threads.get_state(thread_id)
    human, ai, tool = state["values"]["messages"]
    assert (human["type"], ai["type"], tool["type"]) == ("human", "ai", "tool")
    assert tool["tool_call_id"] == ai["tool_calls"][0]["id"]
    assert (tool["name"], tool["status"], tool["content"]) == ("slow_lookup", "error", CANCELLED)
    # The cut step is not left pending: the thread is idle, ready for a new turn.
    assert state["next"] == []
    assert (await client.threads.get(thread_id))["status"] == "idle"
    # The history keeps the state the cancel left, the answers written as the tools step.
    history = await client.threads.get_history(thread_id, limit=5)
    cut = [h for h in history if h["next"] == ["tools"]]
    assert [m["type"] for m in cut[0]["values"]["messages"]] == ["human", "ai"]
    answered = history[history.index(cut[0]) - 1]
    assert answered["metadata"]["source"] == "update"
    assert answered["next"] == ["model"]  # written as the tools node: its edge leads on

    result = await client.runs.wait(thread_id, "strict_agent", input=_msg("hello again"))
    assert isinstance(result, dict)
    assert result["messages"][-1]["content"] == "You said: hello again"
    assert len(result["messages"]) == 5


async def test_a_rollback_leaves_no_healing_behind(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    run = await client.runs.create(thread_id, "strict_agent", input=_msg("slow lookup please"))
    await _until_tools_run(client, thread_id)
    await client.runs.cancel(thread_id, run["run_id"], wait=True, action="rollback")
    # The run and its checkpoints are gone: nothing to heal, and the thread takes a new turn.
    result = await client.runs.wait(thread_id, "strict_agent", input=_msg("fresh start"))
    assert isinstance(result, dict)
    assert [m["content"] for m in result["messages"]] == ["fresh start", "You said: fresh start"]


@pytest.fixture(scope="module")
def unhealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """SQLite, healing off (DISTAFF_HEAL_TOOL_CALLS=false), runs time out after 2 s."""
    root = tmp_path_factory.mktemp("unhealed")
    srv = Server(
        f"sqlite:///{root / 'db.sqlite'}",
        env={"DISTAFF_HEAL_TOOL_CALLS": "false"},
        log_path=ARTIFACTS / "server-unhealed.log",
    ).start()
    yield srv
    srv.stop()


async def test_with_healing_off_the_thread_keeps_the_dangling_call(unhealed: Server) -> None:
    """What healing saves users from: the strict model refuses the thread's next turn."""
    async with sdk(unhealed) as client:
        thread_id, _ = await _cancelled_mid_tool(client)
        state = await client.threads.get_state(thread_id)
        assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
        assert state["next"] == ["tools"]

        run = await client.runs.create(thread_id, "strict_agent", input=_msg("hello again"))
        assert await wait_status(client, thread_id, run["run_id"], {"error", "success"}) == "error"
        failed = await client.threads.get_state(thread_id)
        assert "must be followed by tool messages" in str(failed["tasks"])


async def test_a_timed_out_run_is_healed_too(tmp_path: Path) -> None:
    with Server(
        "memory://",
        env={"DISTAFF_RUN_TIMEOUT_SECONDS": "1.5"},
        log_path=ARTIFACTS / "server-healing-timeout.log",
    ) as srv:
        async with sdk(srv) as client:
            thread_id = (await client.threads.create())["thread_id"]
            run = await client.runs.create(thread_id, "strict_agent", input=_msg("slow one"))
            await client.runs.join(thread_id, run["run_id"])
            assert (await client.runs.get(thread_id, run["run_id"]))["status"] == "timeout"
            messages = (await client.threads.get_state(thread_id))["values"]["messages"]
            assert [m["type"] for m in messages] == ["human", "ai", "tool"]
            assert messages[-1]["content"] == CANCELLED
            again = await client.runs.wait(thread_id, "strict_agent", input=_msg("still there?"))
            assert isinstance(again, dict)
            assert again["messages"][-1]["content"] == "You said: still there?"
