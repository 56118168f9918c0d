"""Talking the v2 streaming protocol to a test server at the wire level: commands, and the SSE
event stream read frame by frame."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ARTIFACTS
from tests.servers import MANIFEST, Server

Envelope = dict[str, Any]
#: Test servers beat often: a replay of a finished thread is all that comes before a beat.
HEARTBEAT = 0.5

ALL_CHANNELS = [
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "checkpoints",
    "tasks",
    "custom",
]


def new_thread() -> str:
    return str(uuid.uuid4())


def msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def server_fixture(name: str, **options: Any) -> Any:
    """A module's `srv` fixture: `start_server(name, **options)` for the module's tests."""

    @pytest.fixture(scope="module")
    def srv() -> Iterator[Server]:
        server = start_server(name, **options)
        yield server
        server.stop()

    return srv


@pytest.fixture(name="http")
async def module_http(srv: Server) -> AsyncIterator[httpx.AsyncClient]:
    """The fixture `http`: a client of the module's `srv` (a module imports it by this name,
    which its tests' `http` parameters do not shadow)."""
    async with srv.http() as c:
        yield c


def start_server(
    name: str,
    url: str = "memory://",
    *,
    manifest: Path = MANIFEST,
    env: dict[str, str] | None = None,
) -> Server:
    """A test module's server, its log in test-artifacts/`name`.log."""
    ARTIFACTS.mkdir(exist_ok=True)
    return Server(
        url,
        manifest=manifest,
        env={"DISTAFF_HEARTBEAT_SECONDS": str(HEARTBEAT), **(env or {})},
        log_path=ARTIFACTS / f"{name}.log",
    ).start()


async def replay(
    http: httpx.AsyncClient | str, thread_id: str, body: dict[str, Any] | None = None
) -> list[Envelope]:
    """Everything a new connection replays of a thread whose runs ended: what arrives before
    the first heartbeat. `http`: a client, or a server's URL."""
    if isinstance(http, str):
        async with httpx.AsyncClient(base_url=http, timeout=30) as client:
            return await replay(client, thread_id, body)
    seen: list[Envelope] = []
    body = body if body is not None else {"channels": ALL_CHANNELS}

    async def run() -> None:
        async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith(":"):
                    return
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))

    await asyncio.wait_for(run(), 20)
    return seen


async def command(
    http: httpx.AsyncClient, thread_id: str, method: str, params: Any = None, command_id: int = 1
) -> dict[str, Any]:
    """A command's reply envelope (asserting the HTTP 200 every protocol answer has)."""
    body: dict[str, Any] = {"id": command_id, "method": method}
    if params is not None:
        body["params"] = params
    r = await http.post(f"/threads/{thread_id}/commands", json=body)
    assert r.status_code == 200, r.text
    reply: dict[str, Any] = r.json()
    return reply


async def start(http: httpx.AsyncClient, thread_id: str, assistant_id: str, **params: Any) -> str:
    reply = await command(http, thread_id, "run.start", {"assistant_id": assistant_id, **params})
    assert reply["type"] == "success", reply
    return str(reply["result"]["run_id"])


def root_terminal(envelope: Envelope) -> bool:
    return (
        envelope["method"] == "lifecycle"
        and envelope["params"]["namespace"] == []
        and envelope["params"]["data"]["event"] in ("completed", "failed", "interrupted")
    )


def ends_after(count: int) -> Callable[[list[Envelope]], bool]:
    """Stop once `count` runs have reached their root terminal."""
    return lambda seen: sum(1 for e in seen if root_terminal(e)) >= count


class Frames:
    """The raw SSE of one stream: events (with their `event:` and `id:` lines) and comments."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self.names: list[str] = []
        self.ids: list[str] = []
        self.comments: list[str] = []


async def read_stream(
    http: httpx.AsyncClient,
    thread_id: str,
    body: dict[str, Any],
    until: Callable[[list[Envelope]], bool],
    *,
    timeout: float = 20.0,
    on_open: Callable[[], Any] | None = None,
) -> Frames:
    """Open `POST /threads/{id}/stream/events` and read it until `until(events)` holds."""
    frames = Frames()

    async def run() -> None:
        async with http.stream(
            "POST", f"/threads/{thread_id}/stream/events", json=body, timeout=timeout
        ) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
            if on_open is not None:
                result = on_open()
                if asyncio.iscoroutine(result):
                    await result
            fields: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line.startswith(":"):
                    frames.comments.append(line)
                elif line == "":
                    if "data" in fields:
                        frames.events.append(json.loads(fields["data"]))
                        frames.names.append(fields.get("event", ""))
                        frames.ids.append(fields.get("id", ""))
                        if until(frames.events):
                            return
                    fields = {}
                else:
                    key, _, value = line.partition(": ")
                    fields[key] = value

    await asyncio.wait_for(run(), timeout)
    return frames


def text_of(events: list[Envelope]) -> str:
    """The text the `messages` deltas spell."""
    return "".join(
        e["params"]["data"]["delta"].get("text", "")
        for e in events
        if e["method"] == "messages"
        and e["params"]["data"].get("event") == "content-block-delta"
        and isinstance(e["params"]["data"].get("delta"), dict)
    )
