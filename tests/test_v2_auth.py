"""Custom auth on the v2 routes, exactly as on v1: every command and stream authenticates, and
a thread the user may not see is not found (contract section 2, "(read; not captured)")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ARTIFACTS
from tests.servers import Server
from tests.v2 import ends_after, new_thread, read_stream

APP = Path(__file__).parent / "auth_app"


@pytest.fixture(scope="module")
def srv() -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    server = Server(
        "memory://",
        manifest=APP / "langgraph.json",
        env={"DISTAFF_HEARTBEAT_SECONDS": "0.3"},
        log_path=ARTIFACTS / "v2-auth.log",
    ).start()
    yield server
    server.stop()


def _as(srv: Server, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=20)


@pytest.fixture
async def alice(srv: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with _as(srv, "alice-token") as c:
        yield c


@pytest.fixture
async def bob(srv: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with _as(srv, "bob-token") as c:
        yield c


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def _cmd(c: httpx.AsyncClient, tid: str, method: str, params: dict[str, Any]) -> Any:
    r = await c.post(f"/threads/{tid}/commands", json={"id": 1, "method": method, "params": params})
    return r


async def test_commands_and_streams_are_the_owners(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient, srv: Server
) -> None:
    tid = new_thread()

    async def run() -> None:
        r = await _cmd(alice, tid, "run.start", {"assistant_id": "whoami", "input": _msg("hi")})
        assert r.json()["type"] == "success", r.text

    frames = await read_stream(
        alice, tid, {"channels": ["lifecycle", "values"]}, ends_after(1), on_open=run
    )
    answer = frames.events[-2]["params"]["data"]["messages"][-1]["content"]
    assert "('config_user', 'alice')" in answer  # the run ran as alice
    thread = (await alice.get(f"/threads/{tid}")).json()
    assert thread["metadata"]["owner"] == "alice"

    # Bob sees nothing of it, however he asks.
    r = await bob.post(f"/threads/{tid}/stream/events", json={"channels": ["values"]})
    assert r.status_code == 404
    for method, params in (
        ("run.start", {"assistant_id": "whoami", "input": _msg("mine now")}),
        ("input.respond", {"interrupt_id": "x", "response": 1}),
        ("agent.getTree", {}),
        ("state.get", {}),
    ):
        reply = (await _cmd(bob, tid, method, params)).json()
        assert reply["type"] == "error", (method, reply)
    assert len((await alice.get(f"/threads/{tid}/runs")).json()) == 1
    url = f"ws://127.0.0.1:{srv.port}/threads/{tid}/stream/events"
    async with connect(url, additional_headers={"Authorization": "Bearer bob-token"}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_no_credentials_no_protocol(srv: Server) -> None:
    tid = new_thread()
    async with _as(srv, None) as anonymous:
        assert (
            await _cmd(anonymous, tid, "run.start", {"assistant_id": "whoami"})
        ).status_code == 401
        r = await anonymous.post(f"/threads/{tid}/stream/events", json={"channels": ["values"]})
        assert r.status_code == 401
    url = f"ws://127.0.0.1:{srv.port}/threads/{tid}/stream/events"
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_stream_opened_before_its_thread_shows_only_its_owner_the_events(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    """A stream may open before `run.start` makes its thread; if someone else's run makes
    it, the early stream ends without showing anything."""
    tid = new_thread()
    lines: list[str] = []

    async def bob_watches() -> None:
        async with bob.stream(
            "POST", f"/threads/{tid}/stream/events", json={"channels": ["values", "lifecycle"]}
        ) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                lines.append(line)

    watcher = asyncio.create_task(bob_watches())
    await asyncio.sleep(0.5)
    r = await _cmd(alice, tid, "run.start", {"assistant_id": "whoami", "input": _msg("hi")})
    assert r.json()["type"] == "success"
    await asyncio.wait_for(watcher, 10)  # the stream ended
    assert [line for line in lines if line and not line.startswith(":")] == []
