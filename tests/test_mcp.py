"""`/mcp` with the official `mcp` client (2.x, Streamable HTTP) against a real server, on
SQLite and PostgreSQL, and under custom auth (protocol-surfaces contract section 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.backends import DURABLE
from tests.conftest import ARTIFACTS, database_url
from tests.servers import MANIFEST, Server

AUTH_APP = Path(__file__).parent / "auth_app"


@pytest.fixture(scope="module", params=DURABLE)
def srv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    url = database_url(request.param, tmp_path_factory.mktemp("mcp"), request)
    server = Server(url, log_path=ARTIFACTS / f"mcp-{request.param}.log").start()
    yield server
    server.stop()


@asynccontextmanager
async def mcp_client(srv: Server, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{srv.url}/mcp", http_client=http)) as client,
    ):
        yield client


async def _all_tools(client: Client) -> tuple[list[str], int]:
    """Every tool name, page by page, and how many pages."""
    names: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        pages += 1
        names += [t.name for t in page.tools]
        if page.next_cursor is None:
            return names, pages
        assert isinstance(page.next_cursor, str)
        cursor = page.next_cursor


async def test_assistants_are_tools_and_a_call_runs_one(srv: Server) -> None:
    async with mcp_client(srv) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        agent = tools["agent"]
        # Message lists are asked for as the text of one message.
        assert agent.input_schema["properties"]["messages"]["type"] == "string"
        assert "$defs" not in agent.input_schema
        assert agent.description == "Tool based on the agent assistant"
        result = await client.call_tool("agent", {"messages": "hi"})
    assert not result.is_error
    # JSON, not the reference's Python repr.
    output = json.loads(result.content[0].text)
    assert [m["content"] for m in output["messages"]] == ["hi", "Hello there friend"]


async def test_a_failing_run_is_an_error_result_with_its_message(srv: Server) -> None:
    async with mcp_client(srv) as client:
        result = await client.call_tool("agent", {"messages": "boom"})
        with pytest.raises(MCPError, match="Unknown tool: nope"):
            await client.call_tool("nope", {})
    assert result.is_error
    assert result.content[0].text == "ValueError: boom requested"


async def test_tools_come_page_by_page_with_string_cursors(srv: Server) -> None:
    if "postgresql" in srv.database_url:
        pytest.skip("paging is the service's; one backend shows it (9 s a backend)")
    async with srv.http() as http:
        ids = [
            (
                await http.post(
                    "/assistants", json={"graph_id": "trivial", "name": f"bulk {i:03d}"}
                )
            ).json()["assistant_id"]
            for i in range(150)
        ]
        try:
            async with mcp_client(srv) as client:
                names, pages = await _all_tools(client)
        finally:
            for assistant_id in ids:
                await http.delete(f"/assistants/{assistant_id}")
    assert pages == 2
    bulk = [n for n in names if n.startswith("bulk_")]
    assert sorted(bulk) == [f"bulk_{i:03d}" for i in range(150)]
    assert len(names) == len(set(names))


async def test_the_transport_is_stateless_json(srv: Server) -> None:
    async with srv.http() as http:
        headers = {"Accept": "application/json, text/event-stream"}
        ping = await http.post(
            "/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "ping"}, headers=headers
        )
        note = await http.post(
            "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        )
        text = await http.post("/mcp", content=b"ping", headers={"Content-Type": "text/plain"})
        get, delete = await http.get("/mcp"), await http.delete("/mcp")
        spec = (await http.get("/openapi.json")).json()
    assert ping.status_code == 200 and ping.headers["content-type"] == "application/json"
    assert ping.json() == {"jsonrpc": "2.0", "id": 0, "result": {}}
    assert "mcp-session-id" not in ping.headers
    assert note.status_code == 202
    assert text.status_code == 400 and text.json()["error"]["code"] == -32700
    assert (get.status_code, delete.status_code) == (405, 404)
    assert "post" in spec["paths"]["/mcp"]


@pytest.fixture(scope="module")
def auth_srv() -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    server = Server(
        "memory://", manifest=AUTH_APP / "langgraph.json", log_path=ARTIFACTS / "mcp-auth.log"
    ).start()
    yield server
    server.stop()


async def test_under_auth_each_user_sees_and_calls_only_their_tools(auth_srv: Server) -> None:
    async with httpx.AsyncClient(base_url=auth_srv.url) as http:
        anonymous = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        created = await http.post(
            "/assistants",
            json={"graph_id": "whoami", "name": "alice secret"},
            headers={"Authorization": "Bearer alice-token"},
        )
    assert anonymous.status_code == 401 and "detail" in anonymous.json()
    assert created.status_code == 200, created.text
    async with mcp_client(auth_srv, "alice-token") as alice:
        names = [t.name for t in (await alice.list_tools()).tools]
        result = await alice.call_tool("alice_secret", {})
    assert "alice_secret" in names
    assert not result.is_error
    async with mcp_client(auth_srv, "bob-token") as bob:
        assert "alice_secret" not in [t.name for t in (await bob.list_tools()).tools]
        with pytest.raises(MCPError, match="Unknown tool"):
            await bob.call_tool("alice_secret", {})


def test_http_disable_mcp_removes_the_route(tmp_path: Path) -> None:
    manifest = json.loads(MANIFEST.read_text())
    manifest["graphs"] = {
        k: str(MANIFEST.parent / v.split(":")[0].removeprefix("./")) + ":" + v.split(":")[1]
        for k, v in manifest["graphs"].items()
        if k == "agent"
    }
    manifest["dependencies"] = [str(MANIFEST.parent)]
    manifest["http"] = {"disable_mcp": True}
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(manifest))
    with Server("memory://", manifest=path, log_path=tmp_path / "server.log") as srv:
        r = httpx.post(f"{srv.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        spec = httpx.get(f"{srv.url}/openapi.json").json()
    assert r.status_code == 404
    assert "/mcp" not in spec["paths"]


def test_a_server_imports_the_mcp_and_a2a_sdks_only_when_first_asked() -> None:
    # About a second of every start (every test server too) went to importing the two SDKs.
    probe = (
        "import sys, distaff.app, distaff.cli\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mcp', 'mcp_types', 'a2a'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
