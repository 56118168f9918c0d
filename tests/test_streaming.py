"""Contract tests for the v1 streaming wire protocol (contract §6, §6.10, §12; captures 01,
02-mode-*, 03, 11-14, 20, 30, 34, 40-42, 50-54, 60, 61, 178).

Wire-level checks read the raw bytes with httpx; client-level checks go through the real
`langgraph_sdk` client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.conftest import ARTIFACTS
from tests.servers import Server

CAPTURES = Path(os.environ.get("DISTAFF_REFERENCE_CAPTURES", "/work/shared/reference/sse-captures"))
NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# One SSE message (§6.1): event line, one data line, optional id line *after* data, blank line.
EVENT_FRAME = rb"event: [^\r\n]+\r\ndata: [^\r\n]*\r\n(?:id: [^\r\n]+\r\n)?\r\n"
HEARTBEAT = b": heartbeat\r\n\r\n"
BODY_RE = re.compile(rb"(?:" + EVENT_FRAME + rb"|" + re.escape(HEARTBEAT) + rb")*")


def system_assistant_id(graph_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, graph_id))


def msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


# ---------------------------------------------------------------------------------------------
# SSE parsing helpers


@dataclass
class Event:
    event: str
    data: Any
    id: str | None
    raw_data: str


def parse_blocks(body: bytes) -> tuple[list[Event], list[bytes], bytes]:
    """Parse every complete CRLF-framed block; return (events, comments, incomplete tail)."""
    events: list[Event] = []
    comments: list[bytes] = []
    *blocks, tail = body.split(b"\r\n\r\n")
    for block in blocks:
        if not block:
            continue
        lines = block.split(b"\r\n")
        if all(line.startswith(b":") for line in lines):
            comments.extend(lines)
            continue
        fields: dict[str, str] = {}
        for line in lines:
            key, sep, value = line.decode().partition(": ")
            assert sep, f"malformed SSE line {line!r}"
            assert key not in fields, f"repeated SSE field {key!r} in {block!r}"
            fields[key] = value
        assert set(fields) <= {"event", "data", "id"}, fields
        events.append(
            Event(fields["event"], json.loads(fields["data"]), fields.get("id"), fields["data"])
        )
    return events, comments, tail


def parse_sse(body: bytes) -> list[Event]:
    events, _, tail = parse_blocks(body)
    assert tail == b"", f"stream ended mid-message: {tail!r}"
    return events


def names(events: list[Event]) -> list[str]:
    return [e.event for e in events]


def content_of(messages: list[dict[str, Any]]) -> list[Any]:
    return [m["content"] for m in messages]


def stream_id_key(stream_id: str) -> tuple[int, int]:
    assert re.fullmatch(r"\d+-\d+", stream_id), f"stream id {stream_id!r} is not <ms>-<seq>"
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


async def new_thread(http: httpx.AsyncClient, **body: Any) -> str:
    r = await http.post("/threads", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["thread_id"])


async def sse_request(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    params: Any = None,
) -> tuple[httpx.Response, bytes]:
    async with http.stream(method, path, json=json_body, headers=headers, params=params) as r:
        body = await r.aread()
    return r, body


async def stream_run(
    http: httpx.AsyncClient, thread_id: str | None, body: dict[str, Any]
) -> tuple[httpx.Response, bytes, list[Event]]:
    path = f"/threads/{thread_id}/runs/stream" if thread_id else "/runs/stream"
    r, raw = await sse_request(http, "POST", path, json_body=body)
    assert r.status_code == 200, raw
    return r, raw, parse_sse(raw)


async def read_until(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    stop: Callable[[Event], bool],
    *,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, list[Event]]:
    """Read a stream until an event matches `stop`, then drop the connection."""
    buf = b""
    async with http.stream(method, path, json=json_body, headers=headers) as r:
        assert r.status_code == 200
        async for chunk in r.aiter_raw():
            buf += chunk
            events, _, _ = parse_blocks(buf)
            if any(stop(e) for e in events):
                break
        else:
            pytest.fail(f"stream ended before the stop event: {buf!r}")
    events, _, _ = parse_blocks(buf)
    return r, events


async def wait_for_run(
    http: httpx.AsyncClient, thread_id: str, run_id: str, timeout: float = 15.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await http.get(f"/threads/{thread_id}/runs/{run_id}")
        assert r.status_code == 200, r.text
        run = r.json()
        if run["status"] not in ("pending", "running"):
            return dict(run)
        assert asyncio.get_running_loop().time() < deadline, f"run still {run['status']}"
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Framing, headers, the metadata event


@pytest.mark.parametrize("threaded", [False, True], ids=["stateless", "thread"])
async def test_first_event_is_metadata_with_run_id_and_attempt(
    http: httpx.AsyncClient, threaded: bool
) -> None:
    tid = await new_thread(http) if threaded else None
    r, _, events = await stream_run(http, tid, {"assistant_id": "agent", "input": msg("hi")})
    run_id = r.headers["content-location"].rsplit("/", 1)[1]
    assert events[0].event == "metadata"
    assert events[0].data == {"run_id": run_id, "attempt": 1}
    assert [e.event for e in events[1:]].count("metadata") == 0


async def test_sse_framing_is_crlf_exact(http: httpx.AsyncClient) -> None:
    _, raw, events = await stream_run(
        http,
        None,
        {"assistant_id": "agent", "input": msg("hi"), "stream_mode": ["values", "custom"]},
    )
    assert raw.startswith(b"event: metadata\r\ndata: {")
    assert raw.endswith(b"\r\n\r\n")
    assert BODY_RE.fullmatch(raw), raw
    # No bare LF anywhere: every line ends with CRLF.
    assert raw.replace(b"\r\n", b"").count(b"\n") == 0
    assert raw.count(b"\r") == raw.count(b"\r\n")
    # data is one line of compact JSON; no end/[DONE] marker; no ids without stream_resumable.
    for event in events:
        assert event.raw_data == json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
        assert event.id is None
    assert names(events) == ["metadata", "values", "custom", "values"]
    assert b"[DONE]" not in raw
    assert b"event: end" not in raw


@pytest.mark.parametrize("threaded", [False, True], ids=["stateless", "thread"])
async def test_stream_response_headers(http: httpx.AsyncClient, threaded: bool) -> None:
    tid = await new_thread(http) if threaded else None
    r, _, events = await stream_run(http, tid, {"assistant_id": "trivial", "input": msg("hi")})
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-accel-buffering"] == "no"
    run_id = events[0].data["run_id"]
    base = f"/threads/{tid}/runs/{run_id}" if threaded else f"/runs/{run_id}"
    assert r.headers["content-location"] == base
    assert r.headers["location"] == f"{base}/stream"


async def test_sdk_on_run_created_reads_content_location(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    created: list[Any] = []
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            "trivial",
            input=msg("hi"),
            on_run_created=created.append,
        )
    ]
    assert parts[0].event == "metadata"
    assert len(created) == 1
    assert created[0]["thread_id"] == thread["thread_id"]
    assert created[0]["run_id"] == parts[0].data["run_id"]


# ---------------------------------------------------------------------------------------------
# Per-mode payloads (§6.4)


@pytest.mark.parametrize("threaded", [False, True], ids=["stateless", "thread"])
async def test_values_mode(http: httpx.AsyncClient, threaded: bool) -> None:
    tid = await new_thread(http) if threaded else None
    _, _, events = await stream_run(
        http, tid, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "values"}
    )
    assert names(events) == ["metadata", "values", "values"]
    first, last = events[1].data, events[2].data
    assert content_of(first["messages"]) == ["hi"]
    assert first["messages"][0]["type"] == "human"
    assert isinstance(first["messages"][0]["id"], str)
    assert content_of(last["messages"]) == ["hi", "Hello there friend"]
    assert [m["type"] for m in last["messages"]] == ["human", "ai"]
    assert last["messages"][1]["tool_calls"] == []


async def test_default_stream_mode_is_values(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(http, None, {"assistant_id": "agent", "input": msg("hi")})
    assert names(events) == ["metadata", "values", "values"]


async def test_updates_mode(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "updates"}
    )
    assert names(events) == ["metadata", "updates"]
    update = events[1].data
    assert list(update) == ["chat"]
    assert [(m["type"], m["content"]) for m in update["chat"]["messages"]] == [
        ("ai", "Hello there friend")
    ]


async def test_messages_tuple_mode_streams_chunks(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "messages-tuple"}
    )
    assert events[0].event == "metadata"
    chunks = events[1:]
    assert len(chunks) > 1, "a streaming chat model must produce several chunks"
    assert {e.event for e in chunks} == {"messages"}
    text = ""
    ids = set()
    for event in chunks:
        assert isinstance(event.data, list) and len(event.data) == 2
        chunk, metadata = event.data
        assert chunk["type"] == "AIMessageChunk"
        assert "tool_call_chunks" in chunk
        assert metadata["langgraph_node"] == "chat"
        assert metadata["run_id"] == events[0].data["run_id"]
        for key in ("langgraph_step", "langgraph_triggers", "langgraph_path", "thread_id"):
            assert key in metadata, key
        text += chunk["content"]
        ids.add(chunk["id"])
    assert text == "Hello there friend"
    assert len(ids) == 1


async def test_messages_tuple_mode_non_streamed_node(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http,
        None,
        {"assistant_id": "trivial", "input": msg("hi"), "stream_mode": ["messages-tuple"]},
    )
    assert names(events) == ["metadata", "messages"]
    message, metadata = events[1].data
    assert (message["type"], message["content"]) == ("ai", "ok")
    assert metadata["langgraph_node"] == "echo"


async def test_legacy_messages_mode_sends_accumulated_partials(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "messages"}
    )
    assert events[0].event == "metadata"
    assert events[1].event == "messages/metadata"
    [(msg_id, meta)] = events[1].data.items()
    assert meta["metadata"]["langgraph_node"] == "chat"
    partials = events[2:]
    assert len(partials) > 1
    assert {e.event for e in partials} == {"messages/partial"}
    texts = []
    for event in partials:
        [message] = event.data
        assert message["type"] == "ai"
        assert message["id"] == msg_id
        texts.append(message["content"])
    # Each partial carries the whole text so far, not a delta.
    assert texts[-1] == "Hello there friend"
    for shorter, longer in itertools.pairwise(texts):
        assert longer.startswith(shorter) and len(longer) > len(shorter)


async def test_legacy_messages_mode_complete_for_non_streamed_node(
    http: httpx.AsyncClient,
) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "trivial", "input": msg("hi"), "stream_mode": ["messages"]}
    )
    assert names(events) == ["metadata", "messages/metadata", "messages/complete"]
    [(msg_id, meta)] = events[1].data.items()
    assert meta["metadata"]["langgraph_node"] == "echo"
    [message] = events[2].data
    assert (message["type"], message["content"], message["id"]) == ("ai", "ok", msg_id)


async def test_custom_mode(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "custom"}
    )
    assert names(events) == ["metadata", "custom"]
    assert events[1].data == {"custom_key": "custom value from node"}


@pytest.mark.parametrize("threaded", [False, True], ids=["stateless", "thread"])
async def test_debug_mode(http: httpx.AsyncClient, threaded: bool) -> None:
    tid = await new_thread(http) if threaded else None
    _, _, events = await stream_run(
        http, tid, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "debug"}
    )
    assert {e.event for e in events[1:]} == {"debug"}
    for event in events[1:]:
        assert set(event.data) == {"step", "timestamp", "type", "payload"}
    types = [e.data["type"] for e in events[1:]]
    task = next(e.data["payload"] for e in events[1:] if e.data["type"] == "task")
    result = next(e.data["payload"] for e in events[1:] if e.data["type"] == "task_result")
    assert task["name"] == result["name"] == "chat"
    assert task["id"] == result["id"]
    assert result["error"] is None
    if threaded:
        assert types == ["checkpoint", "checkpoint", "task", "task_result", "checkpoint"]
        checkpoint = events[-1].data["payload"]
        for key in ("config", "parent_config", "values", "metadata", "next", "tasks"):
            assert key in checkpoint, key
        assert checkpoint["checkpoint"]["thread_id"] == tid
    else:
        # Stateless runs have no checkpointer: no checkpoint entries (§3.4).
        assert types == ["task", "task_result"]


async def test_tasks_mode(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "tasks"}
    )
    assert names(events) == ["metadata", "tasks", "tasks"]
    start, end = events[1].data, events[2].data
    assert set(start) == {"id", "name", "input", "triggers", "metadata"}
    assert set(end) == {"id", "name", "error", "result", "interrupts"}
    assert start["id"] == end["id"]
    assert start["name"] == end["name"] == "chat"
    assert content_of(start["input"]["messages"]) == ["hi"]
    assert end["error"] is None and end["interrupts"] == []
    assert content_of(end["result"]["messages"]) == ["Hello there friend"]


async def test_checkpoints_mode_thread(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    _, _, events = await stream_run(
        http, tid, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": ["checkpoints"]}
    )
    assert names(events) == ["metadata", "checkpoints", "checkpoints", "checkpoints"]
    for event in events[1:]:
        assert {"config", "parent_config", "values", "metadata", "next", "tasks"} <= set(event.data)
        assert event.data["config"]["configurable"]["thread_id"] == tid
    assert events[-2].data["next"] == ["chat"]
    assert events[-1].data["next"] == []
    assert content_of(events[-1].data["values"]["messages"]) == ["hi", "Hello there friend"]
    assert events[-1].data["metadata"]["source"] == "loop"


async def test_checkpoints_mode_stateless_emits_nothing(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "checkpoints"}
    )
    assert names(events) == ["metadata"]


async def test_events_mode(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "events"}
    )
    assert {e.event for e in events[1:]} == {"events"}
    kinds = [e.data["event"] for e in events[1:]]
    for event in events[1:]:
        assert {"event", "name", "run_id", "tags", "metadata", "data"} <= set(event.data)
    assert kinds[0] == "on_chain_start"
    # The root chain is the graph itself, named after the graph (capture 02-mode-events).
    assert events[1].data["name"] == "agent"
    assert events[-1].data["name"] == "agent"
    assert kinds[-1] == "on_chain_end"
    assert "on_chat_model_start" in kinds and "on_chat_model_end" in kinds
    streamed = [
        e.data["data"]["chunk"]["content"]
        for e in events[1:]
        if e.data["event"] == "on_chat_model_stream"
    ]
    assert "".join(streamed) == "Hello there friend"


async def test_events_mode_root_run_id_is_the_run_id(http: httpx.AsyncClient) -> None:
    """Capture 02-mode-events: the root on_chain_start/on_chain_end carry the server's run_id."""
    _, _, events = await stream_run(
        http, None, {"assistant_id": "agent", "input": msg("hi"), "stream_mode": "events"}
    )
    run_id = events[0].data["run_id"]
    assert events[1].data["event"] == "on_chain_start"
    assert events[1].data["run_id"] == run_id
    assert events[-1].data["event"] == "on_chain_end"
    assert events[-1].data["run_id"] == run_id


async def test_several_modes_interleave(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http,
        None,
        {
            "assistant_id": "agent",
            "input": msg("hi"),
            "stream_mode": ["values", "updates", "messages-tuple", "custom"],
        },
    )
    collapsed = [n for i, n in enumerate(names(events)) if i == 0 or names(events)[i - 1] != n]
    assert collapsed == ["metadata", "values", "custom", "messages", "updates", "values"]
    assert content_of(events[-1].data["messages"]) == ["hi", "Hello there friend"]


async def test_subgraph_events_are_namespaced(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http,
        None,
        {
            "assistant_id": "parent",
            "input": msg("hi"),
            "stream_mode": ["updates", "values"],
            "stream_subgraphs": True,
        },
    )
    namespaced = [e for e in events if "|" in e.event]
    assert namespaced, names(events)
    for event in namespaced:
        assert re.fullmatch(rf"(values|updates)\|child:{UUID_RE}", event.event), event.event
    assert len({e.event.split("|", 1)[1] for e in namespaced}) == 1
    inner = [e.data for e in namespaced if e.event.startswith("updates|")]
    assert inner == [{"inner": inner[0]["inner"]}]
    assert content_of(inner[0]["inner"]["messages"]) == ["from inner"]
    # Parent-level events keep bare names; metadata is never namespaced.
    assert events[0].event == "metadata"
    parent_updates = [list(e.data) for e in events if e.event == "updates"]
    assert parent_updates == [["outer"], ["child"]]


async def test_no_subgraph_events_without_stream_subgraphs(http: httpx.AsyncClient) -> None:
    _, _, events = await stream_run(
        http,
        None,
        {"assistant_id": "parent", "input": msg("hi"), "stream_mode": ["updates", "values"]},
    )
    assert not [e.event for e in events if "|" in e.event]
    assert [list(e.data) for e in events if e.event == "updates"] == [["outer"], ["child"]]


@pytest.mark.parametrize("threaded", [False, True], ids=["stateless", "thread"])
async def test_error_event_then_end(http: httpx.AsyncClient, threaded: bool) -> None:
    tid = await new_thread(http) if threaded else None
    _, _, events = await stream_run(
        http,
        tid,
        {"assistant_id": "agent", "input": msg("boom"), "stream_mode": ["values", "updates"]},
    )
    assert names(events) == ["metadata", "values", "error"]
    assert events[-1].data == {"error": "ValueError", "message": "boom requested"}
    if tid is not None:
        run = await wait_for_run(http, tid, events[0].data["run_id"])
        assert run["status"] == "error"
        thread = (await http.get(f"/threads/{tid}")).json()
        assert thread["status"] == "error"
        assert thread["error"] == {"error": "ValueError", "message": "boom requested"}


async def test_interrupt_in_values_mode(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    _, _, events = await stream_run(
        http, tid, {"assistant_id": "hitl", "input": msg("please approve")}
    )
    assert names(events) == ["metadata", "values", "values"]
    last = events[-1].data
    assert content_of(last["messages"]) == ["please approve"]
    [interrupt] = last["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?", "n": 1}
    assert isinstance(interrupt["id"], str) and interrupt["id"]
    assert "__interrupt__" not in events[1].data


async def test_interrupt_in_updates_mode(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    _, _, events = await stream_run(
        http, tid, {"assistant_id": "hitl", "input": msg("x"), "stream_mode": ["updates"]}
    )
    assert names(events) == ["metadata", "updates"]
    [interrupt] = events[1].data["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?", "n": 1}


async def test_resume_interrupt_over_stream(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    await stream_run(http, tid, {"assistant_id": "hitl", "input": msg("please approve")})
    _, _, events = await stream_run(
        http,
        tid,
        {
            "assistant_id": "hitl",
            "command": {"resume": "yes"},
            "stream_mode": ["values", "updates"],
        },
    )
    assert names(events) == ["metadata", "values", "updates", "values", "updates", "values"]
    assert events[2].data["ask"]["approved"] == "yes"
    final = events[-1].data
    assert content_of(final["messages"]) == ["please approve", "human said yes", "done"]
    assert final["approved"] == "yes"
    assert "__interrupt__" not in final


@pytest.mark.parametrize("mode", [["tools"], ["lifecycle"], "tools"])
async def test_v2_only_stream_modes_rejected(http: httpx.AsyncClient, mode: Any) -> None:
    r = await http.post(
        "/runs/stream", json={"assistant_id": "trivial", "input": msg("hi"), "stream_mode": mode}
    )
    assert r.status_code == 422, r.text
    assert "detail" in r.json()


# ---------------------------------------------------------------------------------------------
# Resumable streams and rejoin (§6.8, captures 50-54)


async def test_resumable_stream_rejoin_replays_exactly_the_rest(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    body = {
        "assistant_id": "slow",
        "input": msg("6"),
        "stream_mode": ["custom", "values"],
        "stream_resumable": True,
    }
    r, first = await read_until(
        http,
        "POST",
        f"/threads/{tid}/runs/stream",
        lambda e: e.event == "custom" and e.data == {"tick": 2},
        json_body=body,
    )
    location = r.headers["location"]
    run_id = first[0].data["run_id"]
    assert location == f"/threads/{tid}/runs/{run_id}/stream"
    assert all(e.id is not None for e in first), "resumable events carry id: lines"
    assert names(first)[:5] == ["metadata", "values", "custom", "custom", "custom"]

    # Reconnect while the run is still going, from the last event we saw.
    r2, raw2 = await sse_request(http, "GET", location, headers={"Last-Event-ID": first[-1].id})
    assert r2.status_code == 200
    assert r2.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r2.headers["location"] == location
    assert r2.headers["content-location"] == f"/threads/{tid}/runs/{run_id}"
    assert BODY_RE.fullmatch(raw2)
    rest = parse_sse(raw2)
    assert rest, "the rejoin must deliver the remaining events"

    # A full replay from the start, after the run ended.
    run = await wait_for_run(http, tid, run_id)
    assert run["status"] == "success"
    _, raw_all = await sse_request(http, "GET", location, headers={"Last-Event-ID": "0"})
    everything = parse_sse(raw_all)
    assert names(everything) == ["metadata", "values"] + ["custom"] * 6 + ["values"]
    assert [e.data for e in everything if e.event == "custom"] == [{"tick": i} for i in range(6)]
    keys = [stream_id_key(e.id or "") for e in everything]
    assert keys == sorted(set(keys)), "stream ids must be strictly increasing"

    def ident(events: list[Event]) -> list[tuple[str | None, str, str]]:
        return [(e.id, e.event, e.raw_data) for e in events]

    # first connection + rejoin == full replay: no duplicates, no gaps.
    assert ident(first) + ident(rest) == ident(everything)


@pytest.mark.parametrize("last_event_id", ["-1", "0"])
async def test_rejoin_with_last_event_id_zero_replays_all(
    http: httpx.AsyncClient, last_event_id: str
) -> None:
    tid = await new_thread(http)
    r, raw, live = await stream_run(
        http,
        tid,
        {
            "assistant_id": "agent",
            "input": msg("hi"),
            "stream_mode": ["values", "custom"],
            "stream_resumable": True,
        },
    )
    assert BODY_RE.fullmatch(raw)
    assert re.search(rb"data: [^\r\n]*\r\nid: [^\r\n]+\r\n\r\n", raw), "id: comes after data:"
    await wait_for_run(http, tid, live[0].data["run_id"])
    _, replay_raw = await sse_request(
        http, "GET", r.headers["location"], headers={"Last-Event-ID": last_event_id}
    )
    replay = parse_sse(replay_raw)
    assert [(e.id, e.event, e.data) for e in replay] == [(e.id, e.event, e.data) for e in live]


async def test_rejoin_finished_run_without_last_event_id_is_empty(
    http: httpx.AsyncClient,
) -> None:
    tid = await new_thread(http)
    r, _, live = await stream_run(
        http,
        tid,
        {"assistant_id": "slow", "input": msg("1"), "stream_resumable": True},
    )
    await wait_for_run(http, tid, live[0].data["run_id"])
    r2, raw = await asyncio.wait_for(sse_request(http, "GET", r.headers["location"]), 10)
    assert r2.status_code == 200
    assert r2.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert parse_sse(raw) == []


async def test_rejoin_filtered_by_stream_mode(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    r, _, live = await stream_run(
        http,
        tid,
        {
            "assistant_id": "slow",
            "input": msg("3"),
            "stream_mode": ["custom", "values"],
            "stream_resumable": True,
        },
    )
    await wait_for_run(http, tid, live[0].data["run_id"])
    _, raw = await sse_request(
        http,
        "GET",
        r.headers["location"],
        headers={"Last-Event-ID": "0"},
        params={"stream_mode": "custom"},
    )
    filtered = parse_sse(raw)
    assert names(filtered) == ["custom"] * 3
    assert [(e.id, e.data) for e in filtered] == [
        (e.id, e.data) for e in live if e.event == "custom"
    ]


async def test_rejoin_with_empty_query_params_is_unfiltered(http: httpx.AsyncClient) -> None:
    """The SDKs always send `cancel_on_disconnect` and `stream_mode` on a join; the Python SDK
    sends `stream_mode=` (empty) when no mode is asked for. That means no filter."""
    tid = await new_thread(http)
    r, _, live = await stream_run(
        http,
        tid,
        {"assistant_id": "trivial", "input": msg("x"), "stream_resumable": True},
    )
    await wait_for_run(http, tid, live[0].data["run_id"])
    _, raw = await sse_request(
        http,
        "GET",
        r.headers["location"] + "?cancel_on_disconnect=false&stream_mode=",
        headers={"Last-Event-ID": "-1"},
    )
    assert [(e.id, e.event) for e in parse_sse(raw)] == [(e.id, e.event) for e in live]


async def test_live_join_stream_without_resumable(http: httpx.AsyncClient) -> None:
    """A plain join relays live events of a running run and ends when the run ends."""
    tid = await new_thread(http)
    created = await http.post(
        f"/threads/{tid}/runs",
        json={"assistant_id": "slow", "input": msg("4"), "stream_mode": ["custom", "values"]},
    )
    run_id = created.json()["run_id"]
    r, raw = await asyncio.wait_for(
        sse_request(http, "GET", f"/threads/{tid}/runs/{run_id}/stream"), 15
    )
    assert r.status_code == 200
    events = parse_sse(raw)
    assert events, "the join started while the run was live, so it must see events"
    assert events[-1].event == "values"
    assert content_of(events[-1].data["messages"]) == ["4", "slow done"]
    assert all(e.id is None for e in events)
    run = (await http.get(f"/threads/{tid}/runs/{run_id}")).json()
    assert run["status"] == "success"


async def test_sdk_join_stream_replays_resumable_run(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"],
        "slow",
        input=msg("2"),
        stream_mode=["custom", "values"],
        stream_resumable=True,
    )
    parts = [
        part
        async for part in client.runs.join_stream(
            thread["thread_id"], run["run_id"], last_event_id="-1"
        )
    ]
    assert [p.event for p in parts] == ["metadata", "values", "custom", "custom", "values"]
    assert parts[0].data == {"run_id": run["run_id"], "attempt": 1}
    assert [p.data for p in parts if p.event == "custom"] == [{"tick": 0}, {"tick": 1}]
    assert all(p.id for p in parts)
    final = await client.runs.get(thread["thread_id"], run["run_id"])
    assert final["status"] == "success"


# ---------------------------------------------------------------------------------------------
# SDK-level checks


async def test_sdk_stream_modes(client: LangGraphClient) -> None:
    parts = [
        part
        async for part in client.runs.stream(
            None, "agent", input=msg("hi"), stream_mode=["messages-tuple", "values", "custom"]
        )
    ]
    assert parts[0].event == "metadata"
    events = {p.event for p in parts}
    assert events == {"metadata", "messages", "values", "custom"}
    text = "".join(p.data[0]["content"] for p in parts if p.event == "messages")
    assert text == "Hello there friend"
    assert content_of(parts[-1].data["messages"]) == ["hi", "Hello there friend"]


async def test_sdk_stream_error_part(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = [
        part async for part in client.runs.stream(thread["thread_id"], "agent", input=msg("boom"))
    ]
    assert [p.event for p in parts] == ["metadata", "values", "error"]
    assert parts[-1].data == {"error": "ValueError", "message": "boom requested"}


async def test_sdk_stream_interrupt_and_resume(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = [
        p async for p in client.runs.stream(thread["thread_id"], "hitl", input=msg("approve?"))
    ]
    assert parts[-1].event == "values"
    assert parts[-1].data["__interrupt__"][0]["value"] == {"question": "approve?", "n": 1}
    resumed = [
        p async for p in client.runs.stream(thread["thread_id"], "hitl", command={"resume": "sure"})
    ]
    assert content_of(resumed[-1].data["messages"]) == ["approve?", "human said sure", "done"]


async def test_sdk_stream_subgraphs(client: LangGraphClient) -> None:
    parts = [
        p
        async for p in client.runs.stream(
            None, "parent", input=msg("hi"), stream_mode="updates", stream_subgraphs=True
        )
    ]
    assert any(p.event.startswith("updates|child:") for p in parts)


# ---------------------------------------------------------------------------------------------
# Heartbeats and keepalive (§6.10, captures 60, 61) on a server with a short heartbeat interval


@pytest.fixture(scope="module")
def heartbeat_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if server.database_url.startswith("memory"):
        url = "memory://"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('heartbeat') / 'db.sqlite'}"
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        url,
        env={"DISTAFF_HEARTBEAT_SECONDS": "0.5"},
        log_path=ARTIFACTS / "server-heartbeat.log",
    ) as srv:
        yield srv


@pytest.fixture
async def hb_http(heartbeat_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with heartbeat_server.http() as c:
        yield c


async def test_heartbeat_comment_on_slow_stream(
    hb_http: httpx.AsyncClient, heartbeat_server: Server
) -> None:
    _, raw, events = await stream_run(
        hb_http, None, {"assistant_id": "slow", "input": msg("8"), "stream_mode": ["values"]}
    )
    assert HEARTBEAT in raw, raw
    assert BODY_RE.fullmatch(raw), raw
    _, comments, _ = parse_blocks(raw)
    assert comments and set(comments) == {b": heartbeat"}
    assert names(events) == ["metadata", "values", "values"]

    # The SDK ignores the comments.
    sdk = get_client(url=heartbeat_server.url)
    try:
        parts = [
            p async for p in sdk.runs.stream(None, "slow", input=msg("4"), stream_mode="values")
        ]
    finally:
        await sdk.http.client.aclose()
    assert [p.event for p in parts] == ["metadata", "values", "values"]


async def test_wait_keepalive_newline_before_body(hb_http: httpx.AsyncClient) -> None:
    async with hb_http.stream(
        "POST", "/runs/wait", json={"assistant_id": "slow", "input": msg("8")}
    ) as r:
        raw = await r.aread()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert raw.startswith(b"\n"), raw[:40]
    assert raw.lstrip(b"\n").startswith(b"{")
    assert content_of(json.loads(raw)["messages"]) == ["8", "slow done"]


# ---------------------------------------------------------------------------------------------
# Shape comparison against the reference captures


@dataclass
class Capture:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    events: list[Event]


def load_capture(name: str) -> Capture:
    text = (CAPTURES / name).read_bytes()
    head, _, rest = text.partition(b"### RESPONSE")
    request = re.search(rb"### REQUEST: (\w+) http://[^/]+(\S+)", head)
    assert request
    body_match = re.search(rb"### BODY: (.*)", head)
    rest = rest.split(b"\n", 1)[1]  # drop the rest of the "### RESPONSE ..." line
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.split(b"\r\n")[1:]:
        key, _, value = line.decode().partition(": ")
        headers[key.lower()] = value
    return Capture(
        method=request.group(1).decode(),
        path=request.group(2).decode(),
        body=json.loads(body_match.group(1)) if body_match else None,
        headers=headers,
        events=parse_sse(body),
    )


def normalize_name(name: str) -> str:
    return re.sub(UUID_RE, "<task>", name)


def shape(event: Event) -> Any:
    """The part of an event that must match the reference: name and payload structure."""
    data = event.data
    if event.event == "messages/metadata":
        return ("metadata-by-id", len(data), sorted({k for v in data.values() for k in v}))
    if event.event == "events":
        return (data["event"], data["name"], sorted(data))
    if isinstance(data, list):
        return [
            sorted(item) if isinstance(item, dict) and "type" in item else "meta" for item in data
        ]
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == "messages" and isinstance(value, list):
                out[key] = [sorted(m) for m in value]
            elif key == "__interrupt__":
                out[key] = [sorted(i) for i in value]
            elif key in ("parent_config", "parent_checkpoint"):
                # null for the first checkpoint of a fresh thread; the captures reused a thread
                out[key] = "dict-or-null"
            elif key in ("chat", "outer", "inner", "child") and isinstance(value, dict):
                out[key] = {k: [sorted(m) for m in v] for k, v in value.items()}
            else:
                out[key] = type(value).__name__
        if event.event == "debug":
            out["type"] = data["type"]
        return out
    return type(data).__name__


CAPTURE_FILES = [
    "01-stateless-values.txt",
    "02-mode-checkpoints.txt",
    "02-mode-custom.txt",
    "02-mode-debug.txt",
    "02-mode-events.txt",
    "02-mode-messages-nonstreamed-node.txt",
    "02-mode-messages-tuple-nonstreamed-node.txt",
    "02-mode-messages-tuple.txt",
    "02-mode-messages.txt",
    "02-mode-tasks.txt",
    "02-mode-updates.txt",
    "03-multi-modes.txt",
    "12-thread-mode-checkpoints.txt",
    "13-thread-mode-debug.txt",
    "14-thread-mode-tasks.txt",
    "20-error-in-node-stateless.txt",
    "30-interrupt-stream-values.txt",
    "34-interrupt-stream-updates.txt",
    "40-subgraphs-updates-values.txt",
    "41-subgraphs-messages-tuple-debug.txt",
    "42-no-subgraphs-updates.txt",
]


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="reference captures not available")
@pytest.mark.parametrize("capture_file", CAPTURE_FILES)
async def test_stream_matches_reference_capture(http: httpx.AsyncClient, capture_file: str) -> None:
    capture = load_capture(capture_file)
    assert capture.method == "POST"
    tid = None
    if capture.path.startswith("/threads/"):
        tid = await new_thread(http)
    r, raw, events = await stream_run(http, tid, capture.body)
    assert BODY_RE.fullmatch(raw)
    for header in ("content-type", "cache-control", "x-accel-buffering"):
        assert r.headers[header] == capture.headers[header], header
    for header in ("location", "content-location"):
        ours = re.sub(UUID_RE, "<id>", r.headers[header])
        theirs = re.sub(UUID_RE, "<id>", capture.headers[header])
        assert ours == theirs, header
    assert [normalize_name(e.event) for e in events] == [
        normalize_name(e.event) for e in capture.events
    ]
    assert [shape(e) for e in events] == [shape(e) for e in capture.events]


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="reference captures not available")
async def test_resumable_rejoin_matches_captures_50_to_54(http: httpx.AsyncClient) -> None:
    cut = load_capture("50-resumable-first-connection-cut.txt")
    tid = await new_thread(http)
    r, first = await read_until(
        http,
        "POST",
        f"/threads/{tid}/runs/stream",
        lambda e: e.data == {"tick": 2},
        json_body=cut.body,
    )
    assert names(first) == names(cut.events)
    rejoin_ref = load_capture("51-rejoin-with-last-event-id.txt")
    _, raw = await sse_request(
        http, "GET", r.headers["location"], headers={"Last-Event-ID": first[-1].id or ""}
    )
    rejoined = parse_sse(raw)
    assert names(rejoined) == names(rejoin_ref.events)
    assert [shape(e) for e in rejoined] == [shape(e) for e in rejoin_ref.events]
    await wait_for_run(http, tid, first[0].data["run_id"])

    replay_ref = load_capture("52-rejoin-finished-last-event-id-0.txt")
    _, raw = await sse_request(http, "GET", r.headers["location"], headers={"Last-Event-ID": "0"})
    assert [shape(e) for e in parse_sse(raw)] == [shape(e) for e in replay_ref.events]
    assert names(parse_sse(raw)) == names(replay_ref.events)

    empty_ref = load_capture("53-rejoin-finished-no-last-event-id.txt")
    _, raw = await sse_request(http, "GET", r.headers["location"])
    assert parse_sse(raw) == empty_ref.events == []

    filtered_ref = load_capture("54-rejoin-finished-filtered-stream-mode.txt")
    _, raw = await sse_request(
        http,
        "GET",
        r.headers["location"],
        headers={"Last-Event-ID": "0"},
        params={"stream_mode": "custom"},
    )
    assert [(e.event, e.data) for e in parse_sse(raw)] == [
        (e.event, e.data) for e in filtered_ref.events
    ]
