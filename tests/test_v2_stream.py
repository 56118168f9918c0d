"""`POST /threads/{id}/stream/events` and the WebSocket, at the wire level: framing, the
channels, replay and `since`, filters, and how v1 and v2 runs show on each other (contract
sections 4, 6-9, 11; captures 20-44, 70-72)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers import Server
from tests.v2 import (
    ALL_CHANNELS,
    HEARTBEAT,
    Envelope,
    command,
    ends_after,
    module_http,  # noqa: F401  (the fixture `http`)
    msg,
    new_thread,
    read_stream,
    replay,
    root_terminal,
    server_fixture,
    start,
    text_of,
)

srv = server_fixture("v2-stream")


async def finished(http: httpx.AsyncClient, thread_id: str, assistant: str, inp: Any) -> None:
    """Run `assistant` on the thread through v2 and wait until its stream ended."""
    await read_stream(
        http,
        thread_id,
        {"channels": ["lifecycle"]},
        ends_after(1),
        on_open=lambda: start(http, thread_id, assistant, input=inp),
    )


async def test_a_token_stream_on_a_fresh_thread(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    frames = await read_stream(
        http,
        tid,
        {"channels": ALL_CHANNELS},
        ends_after(1),
        on_open=lambda: start(http, tid, "agent", input=msg("hi there")),
    )
    events = frames.events
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert frames.ids == [str(e["seq"]) for e in events]
    assert frames.names == [e["method"] for e in events]
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(list(e) == ["type", "event_id", "seq", "method", "params"] for e in events)
    assert all(e["type"] == "event" and e["params"]["namespace"] == [] for e in events)
    assert events[0]["params"]["data"] == {"event": "running", "graph_name": "agent"}
    assert events[-1]["params"]["data"] == {"event": "completed", "graph_name": "agent"}
    messages = [e["params"]["data"]["event"] for e in events if e["method"] == "messages"]
    assert messages[0] == "message-start" and messages[1] == "content-block-start"
    assert messages[-2:] == ["content-block-finish", "message-finish"]
    assert set(messages[2:-2]) == {"content-block-delta"}
    assert text_of(events) == "Hello there friend"
    values = [e["params"]["data"] for e in events if e["method"] == "values"]
    assert values[0] == {
        "messages": [{"type": "human", "content": "hi there", "id": values[0]["messages"][0]["id"]}]
    }
    answer = values[-1]["messages"][-1]
    assert answer["type"] == "ai"
    # The message as the graph made it (the reference's runtime turns it into content blocks).
    assert answer["content"] == "Hello there friend"
    # The message's id in state is the streamed message's.
    start_event = next(e for e in events if e["params"]["data"].get("event") == "message-start")
    assert start_event["params"]["data"]["id"] == answer["id"]
    # Every channel carries what the graph did: its custom event, updates, tasks, checkpoints.
    methods = {e["method"] for e in events}
    assert {"custom", "updates", "tasks", "checkpoints"} <= methods
    custom = next(e for e in events if e["method"] == "custom")
    assert custom["params"]["data"] == {"custom_key": "custom value from node"}
    checkpoint = next(e for e in events if e["method"] == "checkpoints")["params"]["data"]
    assert set(checkpoint) >= {"id", "step", "source"}


async def test_replay_is_the_same_events_and_since_resumes_without_a_gap(
    http: httpx.AsyncClient,
) -> None:
    tid = new_thread()
    live = await read_stream(
        http,
        tid,
        {"channels": ALL_CHANNELS},
        ends_after(2),
        on_open=lambda: _two_runs(http, tid),
    )
    replayed = await replay(http, tid, {"channels": ALL_CHANNELS})
    assert replayed == live.events  # same ids, seqs, timestamps and data
    runs = [e for e in replayed if e["method"] == "lifecycle" and e["params"]["namespace"] == []]
    assert [e["params"]["data"]["event"] for e in runs] == [
        "running",
        "completed",
        "running",
        "completed",
    ]
    cut = live.events[7]["seq"]
    resumed = await replay(http, tid, {"channels": ALL_CHANNELS, "since": cut})
    assert resumed == live.events[8:]
    assert await replay(http, tid, {"channels": ALL_CHANNELS, "since": 10**6}) == []
    ignored = await replay(http, tid, {"channels": ALL_CHANNELS, "since": -3})
    assert ignored == live.events


async def _two_runs(http: httpx.AsyncClient, tid: str) -> None:
    await start(http, tid, "agent", input=msg("one"))
    await start(http, tid, "agent", input=msg("two"))  # enqueued behind the first


async def test_channel_filters_leave_seq_gaps(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await finished(http, tid, "agent", msg("hi"))
    everything = await replay(http, tid, {"channels": ALL_CHANNELS})
    only_messages = await replay(http, tid, {"channels": ["messages"]})
    assert only_messages == [e for e in everything if e["method"] == "messages"]
    assert only_messages[0]["seq"] > 1
    watcher = await replay(http, tid, {"channels": ["lifecycle", "input"]})
    assert [e["seq"] for e in watcher] == [1, everything[-1]["seq"]]


async def test_custom_lanes(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await finished(http, tid, "lanes", {})
    plain = await replay(http, tid, {"channels": ["custom"]})
    assert [e["params"]["data"] for e in plain] == [
        {"step": 1},
        {"name": "progress", "payload": {"pct": 50}},
    ]
    lane = await replay(http, tid, {"channels": ["custom:progress"]})
    assert [e["params"]["data"] for e in lane] == [{"name": "progress", "payload": {"pct": 50}}]


async def test_subgraph_namespaces_and_depth(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await finished(http, tid, "deep", msg("go"))
    events = await replay(http, tid, {"channels": ALL_CHANNELS})
    lifecycle = [
        (
            len(e["params"]["namespace"]),
            e["params"]["data"]["event"],
            e["params"]["data"]["graph_name"],
        )
        for e in events
        if e["method"] == "lifecycle"
    ]
    assert lifecycle == [
        (0, "running", "deep"),
        (1, "started", "mid"),
        (2, "started", "leaf"),
        (2, "completed", "leaf"),
        (1, "completed", "mid"),
        (0, "completed", "deep"),
    ]
    started = next(e for e in events if e["params"]["data"].get("event") == "started")
    segment = started["params"]["namespace"][0]
    assert started["params"]["data"]["trigger_call_id"] == segment.split(":", 1)[1]
    leaf_tokens = [e for e in events if e["method"] == "messages"]
    assert leaf_tokens and all(len(e["params"]["namespace"]) == 2 for e in leaf_tokens)
    assert text_of(leaf_tokens) == "leaf says hi"

    async def depths(body: dict[str, Any]) -> set[int]:
        return {len(e["params"]["namespace"]) for e in await replay(http, tid, body)}

    channels = ["values", "lifecycle", "messages"]
    assert await depths({"channels": channels, "namespaces": [[]], "depth": 0}) == {0}
    assert await depths({"channels": channels, "namespaces": [[]], "depth": 1}) == {0, 1}
    assert await depths({"channels": channels, "namespaces": [["mid"]]}) == {1, 2}
    assert await depths({"channels": channels, "namespaces": [["mid"]], "depth": 0}) == {1}
    assert await depths({"channels": channels, "namespaces": [[segment]]}) == {1, 2}
    assert await depths({"channels": channels, "namespaces": [["leaf"]]}) == set()
    assert await depths({"channels": channels, "depth": 0}) == {0, 1, 2}  # depth needs a prefix


async def test_human_in_the_loop_on_one_stream(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    frames = await read_stream(
        http,
        tid,
        {"channels": ["lifecycle", "input", "values"]},
        ends_after(2),
        on_open=lambda: _hitl_driver(http, tid),
    )
    events = frames.events
    requested = [e for e in events if e["method"] == "input.requested"]
    assert len(requested) == 1
    data = requested[0]["params"]["data"]
    assert data["payload"] == {"question": "approve?", "n": 1}
    assert len(data["interrupt_id"]) == 32
    roots = [
        e["params"]["data"]["event"]
        for e in events
        if root_terminal(e)
        or (e["method"] == "lifecycle" and e["params"]["data"]["event"] == "running")
    ]
    assert roots == ["running", "interrupted", "running", "completed"]
    # The input request comes before the pause; no `__interrupt__` in values.
    assert events.index(requested[0]) < [e["params"]["data"].get("event") for e in events].index(
        "interrupted"
    )
    assert all(
        "__interrupt__" not in e["params"]["data"] for e in events if e["method"] == "values"
    )
    assert events[-2]["params"]["data"]["approved"] == "yes"


async def _hitl_driver(http: httpx.AsyncClient, tid: str) -> None:
    """Start `hitl`, wait for its pause, answer it (the stream's events wait in its buffer)."""
    await start(http, tid, "hitl", input=msg("please"))
    while (thread := (await http.get(f"/threads/{tid}")).json()).get("status") != "interrupted":
        await asyncio.sleep(0.05)
    (iid,) = [i["id"] for items in thread["interrupts"].values() for i in items]
    params = {"interrupt_id": iid, "namespace": [], "response": "yes"}
    reply = await command(http, tid, "input.respond", params)
    assert reply["type"] == "success", reply


async def test_errors_and_cancels_end_the_run_not_the_stream(http: httpx.AsyncClient) -> None:
    tid = new_thread()

    async def runs() -> None:
        await start(http, tid, "agent", input=msg("boom"))
        run_id = await start(http, tid, "slow", input=msg("50"))
        while (await http.get(f"/threads/{tid}/runs/{run_id}")).json()["status"] != "running":
            await asyncio.sleep(0.05)
        r = await http.post(f"/threads/{tid}/runs/{run_id}/cancel")
        assert r.status_code == 202

    frames = await read_stream(
        http, tid, {"channels": ["lifecycle", "input"]}, ends_after(2), on_open=runs
    )
    terminals = [e["params"]["data"] for e in frames.events if root_terminal(e)]
    assert terminals == [
        {"event": "failed", "graph_name": "agent", "error": "boom requested"},
        {"event": "interrupted", "graph_name": "slow"},
    ]
    assert not any(e["method"] == "input.requested" for e in frames.events)
    statuses = [r["status"] for r in (await http.get(f"/threads/{tid}/runs")).json()]
    assert sorted(statuses) == ["error", "interrupted"]


async def test_tool_calls_stream_with_their_results(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await finished(http, tid, "tools_agent", msg("weather?"))
    events = await replay(http, tid, {"channels": ALL_CHANNELS})
    tools = [e["params"]["data"] for e in events if e["method"] == "tools"]
    assert [t["event"] for t in tools] == ["tool-started", "tool-finished"]
    assert tools[0]["tool_call_id"] == "call_weather_1" and tools[0]["tool_name"] == "get_weather"
    assert tools[0]["input"] == {"city": "Paris"}
    assert tools[1]["output"]["content"] == "sunny in Paris"
    deltas = [
        e["params"]["data"]["delta"]
        for e in events
        if e["method"] == "messages"
        and e["params"]["data"]["event"] == "content-block-delta"
        and e["params"]["namespace"] == []
    ]
    assert (
        "".join(d["args"] for d in deltas if d["type"] == "tool-call-delta") == '{"city": "Paris"}'
    )
    mirror = [e for e in events if e["params"]["namespace"] == ["tools:call_weather_1"]]
    assert [e["params"]["data"]["event"] for e in mirror] == [
        "message-start",
        "content-block-start",
        "content-block-delta",
        "content-block-finish",
        "message-finish",
    ]
    assert mirror[0]["params"]["data"]["role"] == "tool"
    assert text_of(mirror) == "sunny in Paris"
    assert text_of([e for e in events if e["params"]["namespace"] == []]).endswith("sunny in Paris")


async def test_bad_requests(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    for body, detail in (
        ({}, "channels is required and must be a non-empty array"),
        ({"channels": []}, "channels is required and must be a non-empty array"),
        (
            {"channels": ["debug", "custom:", 5]},
            "channels contains unsupported entries: debug, custom:, 5.",
        ),
    ):
        r = await http.post(f"/threads/{tid}/stream/events", json=body)
        assert r.status_code == 400
        assert r.json()["detail"].startswith(detail)
    r = await http.post(f"/threads/{tid}/stream/events", content=b"nope")
    assert (r.status_code, r.json()) == (400, {"detail": "Invalid JSON body"})
    # Better than the reference (which answers 200 and ends at once): the SDKs give up on a 4xx.
    r = await http.post("/threads/not-a-uuid/stream/events", json={"channels": ["values"]})
    assert r.status_code == 422
    assert (await http.get(f"/threads/{tid}/stream/events")).status_code in (404, 405)


async def test_a_stream_on_an_unknown_thread_waits_with_heartbeats(
    http: httpx.AsyncClient,
) -> None:
    tid = new_thread()
    seen: list[str] = []

    async def read() -> None:
        async with http.stream(
            "POST", f"/threads/{tid}/stream/events", json={"channels": ["values"]}
        ) as r:
            async for line in r.aiter_lines():
                if line:
                    seen.append(line)
                if len(seen) == 2:
                    return

    await asyncio.wait_for(read(), 10 * HEARTBEAT)
    assert seen == [": heartbeat", ": heartbeat"]
    assert (await http.get(f"/threads/{tid}")).status_code == 404  # a stream creates nothing


async def test_v1_runs_show_on_v2_streams(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]

    async def v1_run() -> None:
        r = await http.post(
            f"/threads/{tid}/runs/wait", json={"assistant_id": "agent", "input": msg("v1")}
        )
        assert r.status_code == 200

    live = await read_stream(
        http, tid, {"channels": ["lifecycle", "values"]}, ends_after(1), on_open=v1_run
    )
    assert [e["method"] for e in live.events] == ["lifecycle", "values", "values", "lifecycle"]
    assert live.events[-1]["params"]["data"]["event"] == "completed"
    # A resumable v1 run is replayed to later streams too.
    other = (await http.post("/threads", json={})).json()["thread_id"]
    r = await http.post(
        f"/threads/{other}/runs/wait",
        json={"assistant_id": "agent", "input": msg("kept"), "stream_resumable": True},
    )
    assert r.status_code == 200
    replayed = await replay(http, other, {"channels": ["lifecycle", "values"]})
    assert [e["params"]["data"].get("event") for e in replayed if e["method"] == "lifecycle"] == [
        "running",
        "completed",
    ]
    assert replayed[-2]["params"]["data"]["messages"][-1]["content"] == "Hello there friend"


async def test_v2_runs_are_seen_by_v1(http: httpx.AsyncClient) -> None:
    tid = new_thread()
    run_id = await start(http, tid, "agent", input=msg("hi"))
    joined = (await http.get(f"/threads/{tid}/runs/{run_id}/join")).json()
    assert joined["messages"][-1]["content"] == "Hello there friend"
    run = (await http.get(f"/threads/{tid}/runs/{run_id}")).json()
    assert run["status"] == "success"
    # As the reference records a v2 run's (captures 10, 11).
    assert run["kwargs"]["stream_mode"] == (
        "values updates messages tools lifecycle custom tasks checkpoints".split()
    )


# -- WebSocket ---------------------------------------------------------------------------------


def _ws_url(srv: Server, thread_id: str) -> str:
    return f"ws://127.0.0.1:{srv.port}/threads/{thread_id}/stream/events"


class Socket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[Envelope] = []
        self.replies: dict[Any, dict[str, Any]] = {}

    async def call(self, command_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        return await self.reply(command_id)

    async def reply(self, command_id: Any) -> dict[str, Any]:
        while command_id not in self.replies:
            await self._next()
        return self.replies.pop(command_id)

    async def until(self, done: Any, timeout: float = 15) -> None:
        async def run() -> None:
            while not done(self.events):
                await self._next()

        await asyncio.wait_for(run(), timeout)

    async def _next(self) -> None:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
        if message["type"] == "event":
            self.events.append(message)
        else:
            self.replies[message["id"]] = message


async def test_websocket_commands_and_events_on_one_socket(srv: Server) -> None:
    tid = new_thread()
    async with connect(_ws_url(srv, tid)) as ws:
        s = Socket(ws)
        assert (await s.call(1, "agent.getTree", {}))["error"] == "no_such_run"
        one = await s.call(2, "subscription.subscribe", {"channels": ["lifecycle", "messages"]})
        assert one["type"] == "success" and one["result"]["replayed_events"] == 0
        # Overlapping subscriptions: each event still comes once.
        two = await s.call(3, "subscription.subscribe", {"channels": ["lifecycle"]})
        assert two["type"] == "success"
        started = await s.call(4, "run.start", {"assistant_id": "agent", "input": msg("ws")})
        assert "run_id" in started["result"]
        await s.until(ends_after(1))
        seqs = [e["seq"] for e in s.events]
        assert seqs == sorted(set(seqs))
        assert text_of(s.events) == "Hello there friend"
        tree = await s.call(5, "agent.getTree", {})
        assert tree["result"]["tree"]["status"] == "completed"
        assert tree["meta"]["applied_through_seq"] == s.events[-1]["seq"]
        # A third subscription replays its share of what went by, and only that.
        three = await s.call(6, "subscription.subscribe", {"channels": ["values"]})
        assert three["result"]["replayed_events"] == 2
        assert [e["method"] for e in s.events[-2:]] == ["values", "values"]
        gone = await s.call(
            7, "subscription.unsubscribe", {"subscription_id": one["result"]["subscription_id"]}
        )
        assert gone == {"type": "success", "id": 7, "result": {}, "meta": gone["meta"]}
        again = await s.call(
            8, "subscription.unsubscribe", {"subscription_id": one["result"]["subscription_id"]}
        )
        assert again["error"] == "no_such_subscription"
        await ws.send("{nope")
        bad = await s.reply(None)
        assert bad["message"] == "Protocol commands must be valid JSON."


async def test_websocket_reconnect_with_since(srv: Server, http: httpx.AsyncClient) -> None:
    tid = new_thread()
    await finished(http, tid, "agent", msg("hi"))
    everything = await replay(http, tid, {"channels": ALL_CHANNELS})
    async with connect(_ws_url(srv, tid)) as ws:
        s = Socket(ws)
        reply = await s.call(1, "subscription.reconnect", {"channels": ALL_CHANNELS, "since": 5})
        assert reply["type"] == "success"
        await s.until(lambda seen: len(seen) >= len(everything) - 5)
        assert s.events == everything[5:]
        bad = await s.call(2, "subscription.reconnect", {"channels": ["values"]})
        assert bad["error"] == "invalid_argument"


async def test_websocket_on_a_thread_id_that_is_no_uuid(srv: Server) -> None:
    async with connect(_ws_url(srv, "not-a-uuid")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422


async def test_each_values_event_follows_the_checkpoint_that_holds_it(
    http: httpx.AsyncClient,
) -> None:
    """The JS controller takes the checkpoint sent before a `values` event as that state's,
    for forks and edits: it must be the checkpoint that holds those values."""
    tid = new_thread()
    await finished(http, tid, "agent", msg("hi"))
    events = await replay(http, tid, {"channels": ["values", "checkpoints"]})
    history = {
        h["checkpoint"]["checkpoint_id"]: h["values"]
        for h in (await http.post(f"/threads/{tid}/history", json={"limit": 10})).json()
    }
    values = [i for i, e in enumerate(events) if e["method"] == "values"]
    assert len(values) == 2
    for i in values:
        before = events[i - 1]
        assert before["method"] == "checkpoints"
        held = history[before["params"]["data"]["id"]]
        shown = events[i]["params"]["data"]
        assert [m["id"] for m in held["messages"]] == [m["id"] for m in shown["messages"]]


async def test_a_cancelled_run_closes_the_message_it_was_streaming(
    http: httpx.AsyncClient,
) -> None:
    tid = new_thread()

    async def cancel_mid_answer() -> None:
        run_id = await start(http, tid, "typist", input=msg("go"))
        while not (await replay_so_far(http, tid)):
            await asyncio.sleep(0.05)
        assert (await http.post(f"/threads/{tid}/runs/{run_id}/cancel")).status_code == 202

    frames = await read_stream(
        http, tid, {"channels": ["lifecycle", "messages"]}, ends_after(1), on_open=cancel_mid_answer
    )
    kinds = [e["params"]["data"]["event"] for e in frames.events]
    assert kinds[-3:] == ["content-block-finish", "message-finish", "interrupted"]
    finished = frames.events[-3]["params"]["data"]["content"]
    assert finished["type"] == "text" and finished["text"] == text_of(frames.events)
    assert (
        0 < len(finished["text"]) < len("alpha beta gamma delta epsilon zeta eta theta iota kappa")
    )


async def replay_so_far(http: httpx.AsyncClient, tid: str) -> bool:
    """Whether the thread's stream has shown a token yet."""
    events = await replay(http, tid, {"channels": ["messages"]})
    return any(e["params"]["data"]["event"] == "content-block-delta" for e in events)


async def test_a_v1_runs_tokens_show_on_a_v2_stream(http: httpx.AsyncClient) -> None:
    """Better than the reference, which drops a v1 run's message tuples on a v2 stream."""
    tid = (await http.post("/threads", json={})).json()["thread_id"]

    async def v1_run() -> None:
        body = {"assistant_id": "agent", "input": msg("v1"), "stream_mode": ["messages-tuple"]}
        assert (await http.post(f"/threads/{tid}/runs/wait", json=body)).status_code == 200

    frames = await read_stream(
        http, tid, {"channels": ["lifecycle", "messages"]}, ends_after(1), on_open=v1_run
    )
    assert text_of(frames.events) == "Hello there friend"
    kinds = [e["params"]["data"]["event"] for e in frames.events if e["method"] == "messages"]
    assert kinds[:2] == ["message-start", "content-block-start"]
    assert kinds[-2:] == ["content-block-finish", "message-finish"]
