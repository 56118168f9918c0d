"""`/a2a/{assistant_id}` with the official `a2a-sdk` client (1.3.0) in both of its protocols,
1.0 and the 0.3 compat transport, against a real server on SQLite and PostgreSQL, and under
custom auth (protocol-surfaces contract section 3)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import A2AError
from google.protobuf.json_format import MessageToDict

from tests.backends import DURABLE
from tests.conftest import ARTIFACTS, database_url
from tests.servers import MANIFEST, Server

AUTH_APP = Path(__file__).parent / "auth_app"
PROTOCOLS = ["1.0", "0.3"]


@pytest.fixture(scope="module", params=DURABLE)
def srv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    url = database_url(request.param, tmp_path_factory.mktemp("a2a"), request)
    server = Server(url, log_path=ARTIFACTS / f"a2a-{request.param}.log").start()
    yield server
    server.stop()


async def _assistant(srv: Server, graph_id: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=srv.url, headers=headers) as http:
        found = await http.post("/assistants/search", json={"graph_id": graph_id})
    found.raise_for_status()
    return str(found.json()[0]["assistant_id"])


@asynccontextmanager
async def agent(
    srv: Server, assistant_id: str, protocol: str, token: str | None = None
) -> AsyncIterator[Any]:
    """An SDK client of the assistant's agent, from its card, speaking `protocol`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        card_json = (
            await http.get(f"{srv.url}/a2a/{assistant_id}/.well-known/agent-card.json")
        ).json()
        card = a2a.AgentCard()
        from google.protobuf.json_format import ParseDict

        ParseDict(card_json, card, ignore_unknown_fields=True)
        # Both protocols are on the card; keep the one under test.
        kept = [i for i in card.supported_interfaces if i.protocol_version == protocol]
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(kept)
        client = ClientFactory(ClientConfig(httpx_client=http)).create(card)
        try:
            yield client
        finally:
            await client.close()


def _message(text: str | None = None, **fields: Any) -> a2a.SendMessageRequest:
    parts = [a2a.Part(text=text)] if text is not None else []
    message = a2a.Message(message_id=str(uuid.uuid4()), role=a2a.ROLE_USER, parts=parts, **fields)
    return a2a.SendMessageRequest(message=message)


async def _send(client: Any, request: a2a.SendMessageRequest) -> list[Any]:
    return [event async for event in client.send_message(request)]


def _texts(parts: Any) -> list[str]:
    return [p.text for p in parts if p.WhichOneof("content") == "text"]


async def test_the_card_describes_the_assistant_and_honours_forwarded_headers(srv: Server) -> None:
    aid = await _assistant(srv, "agent")
    async with httpx.AsyncClient(base_url=srv.url) as http:
        card = (await http.get(f"/a2a/{aid}/.well-known/agent-card.json")).json()
        root = await http.get("/.well-known/agent-card.json", params={"assistant_id": aid})
        proxied = await http.get(
            f"/a2a/{aid}", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "a.example"}
        )
        missing = await http.get("/.well-known/agent-card.json")
        unknown = await http.get(f"/a2a/{uuid.uuid4()}/.well-known/agent-card.json")
        not_uuid = await http.get("/a2a/agent/.well-known/agent-card.json")
        spec = (await http.get("/openapi.json")).json()
    assert card["name"] == "agent"
    assert card["supportedInterfaces"][0] == {
        "url": f"{srv.url}/a2a/{aid}",
        "protocolBinding": "JSONRPC",
        "protocolVersion": "1.0",
    }
    assert card["capabilities"]["streaming"] is True
    assert card["skills"][0]["id"] == f"{aid}-main"
    assert root.json() == card
    assert proxied.json()["supportedInterfaces"][0]["url"] == f"https://a.example/a2a/{aid}"
    assert missing.status_code == unknown.status_code == not_uuid.status_code == 400
    assert missing.json()["error"]["message"] == "Missing required query parameter: assistant_id"
    assert "/a2a/{assistant_id}" in spec["paths"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_send_then_get_and_list_the_task(srv: Server, protocol: str) -> None:
    aid = await _assistant(srv, "agent")
    async with agent(srv, aid, protocol) as client:
        client._config.streaming = False  # the blocking SendMessage
        (response,) = await _send(client, _message("hi"))
        task = response.task
        assert task.status.state == a2a.TASK_STATE_COMPLETED
        thread_id, _, run_id = task.id.partition(":")
        assert thread_id == task.context_id and uuid.UUID(run_id)
        assert _texts(task.artifacts[0].parts) == ["Hello there friend"]
        got = await client.get_task(a2a.GetTaskRequest(id=task.id))
        assert got.status.state == a2a.TASK_STATE_COMPLETED
        assert _texts(got.artifacts[0].parts) == ["Hello there friend"]  # the reference: none
        assert [_texts(m.parts) for m in got.history] == [["hi"], ["Hello there friend"]]
        assert [m.role for m in got.history] == [a2a.ROLE_USER, a2a.ROLE_AGENT]
        # A second message in the same context is a new task, on the same thread.
        (again,) = await _send(client, _message("more", context_id=task.context_id))
        assert again.task.context_id == task.context_id and again.task.id != task.id
        whole = await client.get_task(a2a.GetTaskRequest(id=task.id))
        assert len(whole.history) == 4  # the context's, by default
        async with httpx.AsyncClient(base_url=srv.url) as http:
            scoped = await http.post(
                f"/a2a/{aid}",
                headers={"LangGraph-A2A-History-Scope": "task"},
                json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task.id}},
            )
        assert len(scoped.json()["result"]["history"]) == 2
        if protocol == "1.0":  # the SDK's 0.3 transport has no ListTasks
            listed = await client.list_tasks(a2a.ListTasksRequest(context_id=task.context_id))
            assert [t.id for t in listed.tasks] == [again.task.id, task.id]
            assert listed.total_size == 2
        with pytest.raises(A2AError, match="not found"):
            await client.get_task(a2a.GetTaskRequest(id=f"{task.context_id}:{uuid.uuid4()}"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_stream_grows_the_text_and_ends_completed(srv: Server, protocol: str) -> None:
    """The reference's v1.0 stream parses as empty events in this client; distaff's does not."""
    aid = await _assistant(srv, "agent")
    async with agent(srv, aid, protocol) as client:
        events = await _send(client, _message("hi"))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and kinds[-1] == "status_update"
    assert events[0].task.status.state == a2a.TASK_STATE_SUBMITTED
    working = [
        _texts(e.status_update.status.message.parts)[0]
        for e in events
        if e.WhichOneof("payload") == "status_update"
        and e.status_update.status.state == a2a.TASK_STATE_WORKING
    ]
    assert working and working[-1] == "Hello there friend"
    assert all(b.startswith(a) for a, b in itertools.pairwise(working))
    (artifact,) = [
        e.artifact_update for e in events if e.WhichOneof("payload") == "artifact_update"
    ]
    assert _texts(artifact.artifact.parts) == ["Hello there friend"]
    assert events[-1].status_update.status.state == a2a.TASK_STATE_COMPLETED


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_failing_run_is_a_failed_task_with_its_message(srv: Server, protocol: str) -> None:
    aid = await _assistant(srv, "agent")
    async with agent(srv, aid, protocol) as client:
        events = await _send(client, _message("boom"))
        final = events[-1].status_update.status
        assert final.state == a2a.TASK_STATE_FAILED
        assert "boom requested" in _texts(final.message.parts)[0]
        client._config.streaming = False
        (blocking,) = await _send(client, _message("boom"))
    assert blocking.task.status.state == a2a.TASK_STATE_FAILED
    assert "boom requested" in _texts(blocking.task.status.message.parts)[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_input_required_then_continued_under_the_same_task(
    srv: Server, protocol: str
) -> None:
    aid = await _assistant(srv, "hitl")
    async with agent(srv, aid, protocol) as client:
        client._config.streaming = False
        (first,) = await _send(client, _message("go"))
        task = first.task
        assert task.status.state == a2a.TASK_STATE_INPUT_REQUIRED
        (interrupt,) = task.artifacts
        assert interrupt.name == "Interrupt"
        assert MessageToDict(interrupt.parts[0])["data"]["value"] == {
            "question": "approve?",
            "n": 1,
        }
        (second,) = await _send(
            client, _message("yes", task_id=task.id, context_id=task.context_id)
        )
        assert second.task.id == task.id
        assert second.task.status.state == a2a.TASK_STATE_COMPLETED
        assert _texts(second.task.artifacts[0].parts) == ["done"]
        # The answer resumed the graph; it is no message of the conversation.
        got = await client.get_task(a2a.GetTaskRequest(id=task.id))
        assert [_texts(m.parts) for m in got.history] == [["go"], ["human said yes"], ["done"]]
        with pytest.raises(A2AError, match="terminal"):
            await _send(client, _message("again", task_id=task.id, context_id=task.context_id))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cancel_ends_a_stream_canceled(srv: Server, protocol: str) -> None:
    aid = await _assistant(srv, "slow")
    async with agent(srv, aid, protocol) as client:
        events: list[Any] = []

        async def stream() -> None:
            async for event in client.send_message(_message("50")):
                events.append(event)

        streaming = asyncio.create_task(stream())
        while not events:
            await asyncio.sleep(0.05)
        task_id = events[0].task.id
        canceled = await client.cancel_task(a2a.CancelTaskRequest(id=task_id))
        await asyncio.wait_for(streaming, 30)
        assert canceled.status.state == a2a.TASK_STATE_CANCELED
        assert events[-1].status_update.status.state == a2a.TASK_STATE_CANCELED
        got = await client.get_task(a2a.GetTaskRequest(id=task_id))
        assert got.status.state == a2a.TASK_STATE_CANCELED
        with pytest.raises(A2AError, match="not cancelable"):
            await client.cancel_task(a2a.CancelTaskRequest(id=task_id))


async def test_cancel_while_waiting_for_input(srv: Server) -> None:
    aid = await _assistant(srv, "hitl")
    async with agent(srv, aid, "1.0") as client:
        client._config.streaming = False
        (first,) = await _send(client, _message("go"))
        canceled = await client.cancel_task(a2a.CancelTaskRequest(id=first.task.id))
        got = await client.get_task(a2a.GetTaskRequest(id=first.task.id))
        # The context takes a new task afterwards.
        (fresh,) = await _send(client, _message("go", context_id=first.task.context_id))
    assert canceled.status.state == got.status.state == a2a.TASK_STATE_CANCELED
    assert fresh.task.status.state == a2a.TASK_STATE_INPUT_REQUIRED


async def test_raw_json_rpc_errors(srv: Server) -> None:
    aid = await _assistant(srv, "agent")
    url = f"/a2a/{aid}"
    async with httpx.AsyncClient(base_url=srv.url) as http:
        parse = await http.post(url, content=b"{", headers={"content-type": "application/json"})
        unknown = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "nope"})
        bad_id = await http.post(
            "/a2a/agent", json={"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {}}
        )
        no_task = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": "x"}},
        )
        deep = await http.post(
            url, content=b"[" * 100_000, headers={"content-type": "application/json"}
        )
        odd_method = await http.post(url, json={"jsonrpc": "2.0", "id": 4, "method": {}})
        odd_id = await http.post(
            "/a2a/agent", json={"jsonrpc": "2.0", "id": {}, "method": "GetTask", "params": {}}
        )
    assert parse.status_code == unknown.status_code == bad_id.status_code == 200
    assert parse.json()["error"]["code"] == -32700
    assert unknown.json()["error"]["code"] == -32601
    assert bad_id.json()["error"] == {
        "code": -32602,
        "message": "Invalid assistant ID: must be a UUID",
    }
    assert no_task.json()["error"]["code"] == -32001
    assert deep.status_code == 422 and "detail" in deep.json()
    assert odd_method.status_code == 200 and odd_method.json()["error"]["code"] == -32600
    assert odd_id.json()["id"] is None


# --------------------------------------------------------------------------- auth


@pytest.fixture(scope="module", params=DURABLE)
def auth_srv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = database_url(request.param, tmp_path_factory.mktemp("a2a-auth"), request)
    server = Server(
        url,
        manifest=AUTH_APP / "langgraph.json",
        log_path=ARTIFACTS / f"a2a-auth-{request.param}.log",
    ).start()
    yield server
    server.stop()


async def test_under_auth_a_user_cannot_reach_another_users_tasks(auth_srv: Server) -> None:
    aid = await _assistant(auth_srv, "whoami", "alice-token")
    async with httpx.AsyncClient(base_url=auth_srv.url) as http:
        anonymous = await http.get(f"/a2a/{aid}/.well-known/agent-card.json")
    assert anonymous.status_code == 401 and "detail" in anonymous.json()
    async with agent(auth_srv, aid, "1.0", "alice-token") as alice:
        alice._config.streaming = False
        (sent,) = await _send(alice, _message("hello"))
        task = sent.task
        assert task.status.state == a2a.TASK_STATE_COMPLETED
        listed = await alice.list_tasks(a2a.ListTasksRequest())
        assert task.id in [t.id for t in listed.tasks]
    for protocol in PROTOCOLS:
        async with agent(auth_srv, aid, protocol, "bob-token") as bob:
            with pytest.raises(A2AError, match="not found"):
                await bob.get_task(a2a.GetTaskRequest(id=task.id))
            with pytest.raises(A2AError, match="not found"):
                await bob.cancel_task(a2a.CancelTaskRequest(id=task.id))
            bob._config.streaming = False
            with pytest.raises(A2AError, match=r"not found|Access denied"):
                await _send(bob, _message("mine now", context_id=task.context_id))
            if protocol == "1.0":
                assert task.id not in [
                    t.id for t in (await bob.list_tasks(a2a.ListTasksRequest())).tasks
                ]


def test_http_disable_a2a_removes_the_routes(tmp_path: Path) -> None:
    manifest = json.loads(MANIFEST.read_text())
    manifest["graphs"] = {"agent": str(MANIFEST.parent / "graphs.py") + ":agent"}
    manifest["dependencies"] = [str(MANIFEST.parent)]
    manifest["http"] = {"disable_a2a": True}
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(manifest))
    with Server("memory://", manifest=path, log_path=tmp_path / "server.log") as srv:
        aid = asyncio.run(_assistant(srv, "agent"))
        posted = httpx.post(f"{srv.url}/a2a/{aid}", json={"jsonrpc": "2.0", "id": 1})
        card = httpx.get(f"{srv.url}/.well-known/agent-card.json", params={"assistant_id": aid})
        spec = httpx.get(f"{srv.url}/openapi.json").json()
    assert posted.status_code == card.status_code == 404
    assert not [p for p in spec["paths"] if "a2a" in p or "agent-card" in p]
