"""`POST /threads/{id}/commands`: the v2 protocol's commands, at the wire level (contract
sections 3 and 5; captures 10-18). Runs are ordinary runs, seen and controlled through v1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import Server
from tests.v2 import (
    command,
    module_http,  # noqa: F401  (the fixture `http`)
    msg,
    new_thread,
    server_fixture,
    start,
)

srv = server_fixture("v2-commands")


async def _settled(http: httpx.AsyncClient, thread_id: str, timeout: float = 15) -> dict[str, Any]:
    """The thread once none of its runs is pending or running."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        runs = (await http.get(f"/threads/{thread_id}/runs")).json()
        if runs and all(r["status"] not in ("pending", "running") for r in runs):
            thread: dict[str, Any] = (await http.get(f"/threads/{thread_id}")).json()
            return thread
        assert asyncio.get_running_loop().time() < deadline, runs
        await asyncio.sleep(0.05)


async def test_a_body_that_is_no_command_is_400(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    r = await http.post(f"/threads/{tid}/commands", content=b"{not json")
    assert (r.status_code, r.json()) == (400, {"detail": "Invalid JSON body"})
    message = "Protocol commands must include an integer id and string method."
    for body, echoed in (({"method": "run.start"}, None), ({"id": "7", "method": "x"}, "7")):
        r = await http.post(f"/threads/{tid}/commands", json=body)
        assert r.status_code == 400
        assert r.json() == {
            "type": "error",
            "id": echoed,
            "error": "invalid_argument",
            "message": message,
        }


async def test_unknown_methods_are_protocol_errors_with_status_200(
    http: httpx.AsyncClient,
) -> None:
    reply = await command(http, new_thread(), "input.inject", {}, command_id=9)
    assert reply["type"] == "error" and reply["id"] == 9
    assert reply["error"] == "unknown_command"


async def test_run_start_creates_the_thread_and_an_ordinary_run(
    http: httpx.AsyncClient,
) -> None:
    tid = new_thread()
    assert (await http.get(f"/threads/{tid}")).status_code == 404
    reply = await command(http, tid, "run.start", {"assistant_id": "agent", "input": msg("hi")})
    assert reply["type"] == "success" and set(reply["result"]) == {"run_id"}
    assert reply["meta"] == {"applied_through_seq": 0}
    run_id = reply["result"]["run_id"]
    thread = await _settled(http, tid)
    assert thread["status"] == "idle"
    assert thread["metadata"]["graph_id"] == "agent"
    runs = (await http.get(f"/threads/{tid}/runs")).json()
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["status"] == "success" and runs[0]["multitask_strategy"] == "enqueue"
    values = (await http.get(f"/threads/{tid}/state")).json()["values"]
    assert values["messages"][-1]["content"] == "Hello there friend"  # as the graph made it
    # The next command's reply says how far the thread's stream has gone: a client's `since`.
    again = await command(http, tid, "run.start", {"assistant_id": "agent", "input": msg("x")})
    assert again["meta"]["applied_through_seq"] > 0


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({}, "invalid_argument", "run.start requires a non-empty assistant_id."),
        ({"assistant_id": "nope"}, "unknown_error", "422: Invalid assistant: 'nope'"),
        (
            {"assistant_id": "agent", "config": {"configurable": {"checkpoint_id": "x"}}},
            "invalid_argument",
            "Invalid config.configurable.checkpoint_id: 'x'.",
        ),
        (
            {"assistant_id": "agent", "langsmith_tracer": {"project_name": 1}},
            "invalid_argument",
            "langsmith_tracer must be",
        ),
    ],
)
async def test_run_start_refusals(
    http: httpx.AsyncClient, params: dict[str, Any], code: str, message: str
) -> None:
    tid = new_thread()
    reply = await command(http, tid, "run.start", params)
    assert reply["type"] == "error" and reply["error"] == code
    assert reply["message"].startswith(message)
    assert "meta" not in reply
    assert (await http.get(f"/threads/{tid}")).status_code == 404  # nothing was created


async def test_run_start_on_a_thread_id_that_is_no_uuid(http: httpx.AsyncClient) -> None:
    reply = await command(http, "not-a-uuid", "run.start", {"assistant_id": "agent"})
    assert (reply["error"], reply["message"]) == ("unknown_error", "422: Invalid thread ID")


@pytest.mark.parametrize("spelling", ["multitaskStrategy", "multitask_strategy"])
async def test_multitask_reject_and_interrupt_in_either_spelling(
    http: httpx.AsyncClient, spelling: str
) -> None:
    tid = new_thread()
    first = await start(http, tid, "slow", input=msg("50"))
    rejected = await command(
        http, tid, "run.start", {"assistant_id": "slow", "input": msg("1"), spelling: "reject"}
    )
    assert rejected["error"] == "unknown_error"
    assert rejected["message"].startswith("409: Thread is already running a task.")
    second = await start(http, tid, "slow", input=msg("1"), **{spelling: "interrupt"})
    await _settled(http, tid)
    statuses = {r["run_id"]: r["status"] for r in (await http.get(f"/threads/{tid}/runs")).json()}
    assert statuses == {first: "interrupted", second: "success"}


async def test_input_on_an_interrupted_thread_answers_the_interrupt(
    http: httpx.AsyncClient,
) -> None:
    tid = new_thread()
    await start(http, tid, "hitl", input=msg("please"))
    assert (await _settled(http, tid))["status"] == "interrupted"
    await start(http, tid, "hitl", input="via-run-start")
    thread = await _settled(http, tid)
    assert thread["status"] == "idle"
    assert thread["values"]["approved"] == "via-run-start"


async def test_run_start_forks_from_a_checkpoint(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await start(http, tid, "agent", input=msg("first"))
    await _settled(http, tid)
    history = (await http.post(f"/threads/{tid}/history", json={"limit": 10})).json()
    # The checkpoint after the input, before the model answered.
    before_answer = next(h for h in history if h["next"] == ["chat"])
    checkpoint_id = before_answer["checkpoint"]["checkpoint_id"]
    await start(http, tid, "agent", config={"configurable": {"checkpoint_id": checkpoint_id}})
    await _settled(http, tid)
    state = (await http.get(f"/threads/{tid}/state")).json()
    assert state["parent_checkpoint"]["checkpoint_id"] != history[0]["checkpoint"]["checkpoint_id"]
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]


async def test_input_respond(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    missing = await command(http, tid, "input.respond", {"interrupt_id": "x", "response": 1})
    assert missing["error"] == "no_such_run"
    await start(http, tid, "hitl", input=msg("please"))
    thread = await _settled(http, tid)
    (interrupt_id,) = [i["id"] for items in thread["interrupts"].values() for i in items]
    shape = await command(http, tid, "input.respond", {"response": "yes"})
    assert shape["error"] == "invalid_argument"
    bad_ns = await command(http, tid, "input.respond", {"interrupt_id": "x", "namespace": "a"})
    assert bad_ns["error"] == "invalid_argument"
    unknown = await command(http, tid, "input.respond", {"interrupt_id": "nope", "response": 1})
    assert unknown["error"] == "no_such_interrupt"
    assert unknown["message"] == "Unknown or already-consumed interrupt: nope"
    params = {"interrupt_id": interrupt_id, "namespace": [], "response": "yes"}
    reply = await command(http, tid, "input.respond", params)
    assert (reply["type"], reply["result"]) == ("success", {})
    thread = await _settled(http, tid)
    assert (thread["status"], thread["values"]["approved"]) == ("idle", "yes")
    consumed = await command(http, tid, "input.respond", params)
    assert consumed["error"] == "no_such_interrupt"


async def test_input_respond_checks_the_namespace_of_a_subgraph_interrupt(
    http: httpx.AsyncClient,
) -> None:
    """The reference checks namespaces only on a WebSocket; here always (contract 13)."""
    tid = new_thread()
    await start(http, tid, "nested_hitl", input=msg("go"))
    thread = await _settled(http, tid)
    (interrupt_id,) = [i["id"] for items in thread["interrupts"].values() for i in items]
    wrong = await command(
        http,
        tid,
        "input.respond",
        {"interrupt_id": interrupt_id, "namespace": [], "response": "ok"},
    )
    assert wrong["error"] == "no_such_interrupt"
    assert wrong["message"] == "Interrupt namespace does not match the pending interrupt."
    task = next(iter(thread["interrupts"]))
    right = await command(
        http,
        tid,
        "input.respond",
        {"interrupt_id": interrupt_id, "namespace": [f"child:{task}"], "response": "ok"},
    )
    assert right["type"] == "success", right
    thread = await _settled(http, tid)
    assert (thread["status"], thread["values"]["approved"]) == ("idle", "ok")


async def test_input_respond_batch_answers_two_interrupts(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await start(http, tid, "two_interrupts", input={})
    thread = await _settled(http, tid)
    pending = [i for items in thread["interrupts"].values() for i in items]
    questions = {i["value"]["question"]: i["id"] for i in pending}
    empty = await command(http, tid, "input.respond", {"responses": []})
    assert empty["error"] == "invalid_argument"
    reply = await command(
        http,
        tid,
        "input.respond",
        {
            "responses": [
                {"interrupt_id": questions["A?"], "namespace": [], "response": "r0"},
                {"interrupt_id": questions["B?"], "namespace": [], "response": "r1"},
            ]
        },
    )
    assert reply["type"] == "success", reply
    thread = await _settled(http, tid)
    assert sorted(thread["values"]["answers"]) == ["a=r0", "b=r1"]


async def test_get_tree_state_and_cancel_over_http(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    none_yet = await command(http, tid, "agent.getTree", {})
    assert none_yet["error"] == "no_such_run"
    await start(http, tid, "deep", input=msg("go"))
    await _settled(http, tid)
    tree = (await command(http, tid, "agent.getTree", {}))["result"]["tree"]
    assert (tree["namespace"], tree["status"], tree["graph_name"]) == ([], "completed", "deep")
    (mid,) = tree["children"]
    assert mid["namespace"][0].startswith("mid:") and mid["graph_name"] == "mid"
    assert mid["status"] == "completed"
    (leaf,) = mid["children"]
    assert leaf["graph_name"] == "leaf" and len(leaf["namespace"]) == 2
    # Beyond the reference: the thread's state, and a cancel, without leaving the protocol.
    state = (await command(http, tid, "state.get", {}))["result"]
    assert state == (await http.get(f"/threads/{tid}/state")).json()
    listed = (await command(http, tid, "state.listCheckpoints", {"limit": 2}))["result"]
    history = (await http.post(f"/threads/{tid}/history", json={"limit": 2})).json()
    assert listed == {"checkpoints": history} and len(history) == 2
    slow_run = await start(http, tid, "slow", input=msg("50"))
    cancelled = await command(http, tid, "run.cancel", {"run_id": slow_run})
    assert cancelled["type"] == "success", cancelled
    await _settled(http, tid)
    run = (await http.get(f"/threads/{tid}/runs/{slow_run}")).json()
    assert run["status"] == "interrupted"


async def test_subscriptions_over_http_hold_nothing(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    sub = await command(http, tid, "subscription.subscribe", {"channels": ["values"]})
    assert sub["type"] == "success" and sub["result"]["replayed_events"] == 0
    bad = await command(http, tid, "subscription.subscribe", {"channels": ["debug"]})
    assert bad["error"] == "invalid_argument"
    gone = await command(
        http, tid, "subscription.unsubscribe", {"subscription_id": sub["result"]["subscription_id"]}
    )
    assert gone["error"] == "no_such_subscription"
    again = await command(http, tid, "subscription.reconnect", {"channels": ["values"], "since": 0})
    assert again["error"] == "no_such_run"


def test_the_routes_are_in_the_openapi_document(srv: Server, tmp_path: Path) -> None:
    paths = httpx.get(f"{srv.url}/openapi.json").json()["paths"]
    assert "post" in paths["/threads/{thread_id}/commands"]
    assert "post" in paths["/threads/{thread_id}/stream/events"]
