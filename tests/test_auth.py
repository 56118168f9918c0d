"""Custom auth from `langgraph.json`, driven with the real `langgraph_sdk` client.

`tests/auth_app/auth.py` gives alice, bob and carol bearer tokens, stamps what each creates with
an `owner` and limits everyone to their own; only users with `write` may delete threads; store
namespaces must start with the user. Every endpoint group is checked for isolation: bob must
not see, stream, change or cancel anything of alice's, and must not learn that it exists.
"""

from __future__ import annotations

import ast
import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.backends import DURABLE
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

APP = Path(__file__).parent / "auth_app"
TOKENS = {"alice": "alice-token", "bob": "bob-token", "carol": "carol-token"}


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _seen(values: Any) -> dict[str, Any]:
    """What the `whoami` graph reported."""
    return dict(ast.literal_eval(values["messages"][-1]["content"]))


async def status_of(call: Awaitable[Any]) -> tuple[int, Any]:
    """The HTTP status (and JSON detail) an SDK call ended with."""
    try:
        await call
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code, exc.response.json().get("detail")
    return 200, None


@pytest.fixture(scope="module", params=DURABLE)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        database_url(request.param, tmp_path_factory.mktemp("auth"), request),
        manifest=APP / "langgraph.json",
        # As under `distaff dev`: LangGraph Studio's requests may pass.
        env={
            "DISTAFF_STUDIO_AUTH": "true",
            "DISTAFF_TEST_SLOW_DELAY": "0.1",
            "DISTAFF_CRON_TICK_SECONDS": "0.2",
        },
        log_path=ARTIFACTS / f"auth-{request.param}.log",
    ) as srv:
        yield srv


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[dict[str, LangGraphClient]]:
    made = {
        name: get_client(url=server.url, headers={"Authorization": f"Bearer {token}"})
        for name, token in TOKENS.items()
    }
    yield made
    for client in made.values():
        await client.http.client.aclose()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.http() as client:
        yield client


# --- authentication -------------------------------------------------------------------------


async def test_missing_and_bad_credentials_get_401_with_the_handlers_detail(
    http: httpx.AsyncClient,
) -> None:
    missing = await http.post("/threads", json={})
    assert (missing.status_code, missing.json()) == (401, {"detail": "missing bearer token"})
    bad = await http.post("/threads", json={}, headers={"Authorization": "Bearer mallory"})
    assert (bad.status_code, bad.json()) == (401, {"detail": "unknown user"})
    # Authentication comes before the body is read: nothing leaks through validation errors.
    invalid = await http.post("/threads", json={"thread_id": 5})
    assert invalid.status_code == 401
    for path in ("/threads/search", "/assistants/search", "/runs/crons/search"):
        assert (await http.post(path, json={})).status_code == 401
    assert (await http.get(f"/threads/{uuid.uuid4()}/runs")).status_code == 401
    assert (await http.post("/store/items/search", json={})).status_code == 401
    # The run-creating routes (api/creation_route.py): a valid body, and one it hands back.
    tid = uuid.uuid4()
    for path in ("/runs", "/runs/stream", "/runs/wait", f"/threads/{tid}/runs/wait"):
        for body in ({"assistant_id": "whoami"}, {"assistant_id": 5}):
            answer = await http.post(path, json=body)
            assert (answer.status_code, answer.json()) == (401, {"detail": "missing bearer token"})


async def test_meta_routes_and_custom_routes_need_no_credentials(http: httpx.AsyncClient) -> None:
    for path in ("/ok", "/metrics", "/openapi.json", "/docs"):
        assert (await http.get(path)).status_code == 200, path
    hello = await http.get("/hello")
    assert hello.json() == {"hello": "world", "lifespan_ran": True}
    # The custom app's routes come first: its `/info` shadows distaff's.
    assert (await http.get("/info")).json() == {"custom": "info"}
    # Its middleware wraps distaff's routes too, whatever their answer.
    assert (await http.get("/ok")).headers["x-custom-middleware"] == "yes"
    assert (await http.post("/threads", json={})).headers["x-custom-middleware"] == "yes"


async def test_studio_requests_pass_as_a_studio_user(http: httpx.AsyncClient) -> None:
    studio = {"x-auth-scheme": "langsmith"}
    made = await http.post("/threads", json={}, headers=studio)
    assert made.status_code == 200
    assert made.json()["metadata"]["owner"] == "langgraph-studio-user"


# --- threads ----------------------------------------------------------------------------------


async def test_threads_are_stamped_with_their_owner_and_invisible_to_others(
    clients: dict[str, LangGraphClient],
) -> None:
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    thread = await alice.threads.create(metadata={"topic": "x"})
    tid = thread["thread_id"]
    assert thread["metadata"] == {"topic": "x", "owner": "alice"}
    assert (await alice.threads.get(tid))["thread_id"] == tid

    hidden = (404, f"Thread with ID {tid} not found")
    assert await status_of(bob.threads.get(tid)) == hidden
    assert await status_of(bob.threads.update(tid, metadata={"owner": "bob"})) == hidden
    assert await status_of(bob.threads.delete(tid)) == hidden
    assert await status_of(bob.threads.copy(tid)) == hidden
    assert await status_of(bob.threads.get_state(tid)) == hidden
    assert await status_of(bob.threads.get_history(tid)) == hidden
    assert await status_of(bob.threads.update_state(tid, {"messages": []})) == hidden
    # A handler that refuses answers 403 with its detail, before any filter.
    assert await status_of(carol.threads.delete(tid)) == (403, "carol may not delete")

    mine = {t["thread_id"] for t in await alice.threads.search(limit=100)}
    assert tid in mine
    theirs = {t["thread_id"] for t in await bob.threads.search(limit=100)}
    assert tid not in theirs
    assert await bob.threads.search(metadata={"topic": "x"}) == []
    assert await bob.threads.search(metadata={"owner": "alice"}) == []
    assert await bob.threads.count(metadata={"owner": "alice"}) == 0
    assert await alice.threads.count(metadata={"topic": "x"}) >= 1

    # An id someone else holds is neither handed over nor described.
    taken = await status_of(bob.threads.create(thread_id=tid, if_exists="do_nothing"))
    assert taken[0] == 409

    # Nothing of the above changed alice's thread; she may change it, and delete it.
    assert (await alice.threads.get(tid))["metadata"] == {"topic": "x", "owner": "alice"}
    updated = await alice.threads.update(tid, metadata={"topic": "y"})
    assert updated["metadata"] == {"topic": "y", "owner": "alice"}
    copy = await alice.threads.copy(tid)
    assert copy["metadata"]["owner"] == "alice"
    await alice.threads.delete(tid)
    assert (await status_of(alice.threads.get(tid)))[0] == 404


async def test_prune_only_touches_the_callers_threads(
    clients: dict[str, LangGraphClient], http: httpx.AsyncClient
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    hers = (await alice.threads.create())["thread_id"]
    his = (await bob.threads.create())["thread_id"]
    pruned = await http.post(
        "/threads/prune",
        json={"thread_ids": [hers, his], "strategy": "delete"},
        headers={"Authorization": "Bearer bob-token"},
    )
    assert pruned.json() == {"pruned_count": 1}
    assert (await alice.threads.get(hers))["thread_id"] == hers
    assert (await status_of(bob.threads.get(his)))[0] == 404


# --- runs -------------------------------------------------------------------------------------


async def test_runs_on_someone_elses_thread_are_out_of_reach(
    clients: dict[str, LangGraphClient], http: httpx.AsyncClient
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    tid = (await alice.threads.create())["thread_id"]
    done = await alice.runs.wait(tid, "whoami", input=_msg("hi"))
    assert _seen(done)["config_user"] == "alice"
    running = await alice.runs.create(tid, "slow", input=_msg("30"))
    rid = running["run_id"]

    assert await status_of(bob.runs.create(tid, "whoami", input=_msg("x"))) == (
        404,
        "Thread or assistant not found.",
    )
    assert (await status_of(bob.runs.wait(tid, "whoami", input=_msg("x"))))[0] == 404
    hidden = 404
    assert (await status_of(bob.runs.get(tid, rid)))[0] == hidden
    assert (await status_of(bob.runs.list(tid)))[0] == hidden
    assert (await status_of(bob.runs.join(tid, rid)))[0] == hidden
    assert (await status_of(bob.runs.cancel(tid, rid)))[0] == hidden
    assert (await status_of(bob.runs.delete(tid, rid)))[0] == hidden
    bob_headers = {"Authorization": "Bearer bob-token"}
    for path in (f"/threads/{tid}/runs/{rid}/stream", f"/runs/{rid}", f"/runs/{rid}/stream"):
        response = await http.get(path, headers=bob_headers)
        assert response.status_code == 404, path
    stream = await http.get(f"/threads/{tid}/stream", headers=bob_headers)
    assert stream.status_code == 404
    bulk = await http.post(
        "/runs/cancel", json={"thread_id": tid, "run_ids": [rid]}, headers=bob_headers
    )
    assert bulk.status_code == 404
    everything = await http.post("/runs/cancel", json={"status": "all"}, headers=bob_headers)
    assert everything.status_code == 404

    # Alice's run went on untouched by all of that; she may see and cancel it.
    assert (await alice.runs.get(tid, rid))["status"] in ("pending", "running")
    assert (await alice.runs.list(tid))[0]["run_id"] == rid
    await alice.runs.cancel(tid, rid, wait=True)
    assert (await alice.runs.get(tid, rid))["status"] == "interrupted"


async def test_the_graph_sees_the_user_and_the_chosen_headers(
    clients: dict[str, LangGraphClient], server: Server
) -> None:
    bob = get_client(
        url=server.url,
        headers={"Authorization": "Bearer bob-token", "x-tenant": "acme"},
    )
    try:
        result = await bob.runs.wait(None, "whoami", input=_msg("who"))
        seen = _seen(result)
        assert seen == {
            "config_user": "bob",
            "config_user_attr": "bob",
            "user_id": "bob",
            "permissions": ["write"],
            "runtime_user": "bob",
            "tenant": "acme",
            # Listed in configurable_headers, but credentials are never copied.
            "authorization": None,
        }
        run = await bob.runs.create(None, "whoami", input=_msg("x"), on_completion="keep")
        assert run["metadata"]["owner"] == "bob"
        configurable = run["kwargs"]["config"]["configurable"]
        assert configurable["langgraph_auth_user"]["identity"] == "bob"
        assert configurable["langgraph_auth_user"]["team"] == "blue"
        await bob.runs.join(run["thread_id"], run["run_id"])
        # A stateless run's kept thread is its creator's.
        kept = await bob.threads.get(run["thread_id"])
        assert kept["metadata"]["owner"] == "bob"
        assert (await status_of(clients["alice"].threads.get(run["thread_id"])))[0] == 404
    finally:
        await bob.http.client.aclose()


async def test_a_graph_factorys_runtime_carries_the_user(
    clients: dict[str, LangGraphClient],
) -> None:
    result = await clients["alice"].runs.wait(None, "runtime_factory", input=_msg("x"))
    assert isinstance(result, dict)
    assert result["messages"][-1]["content"].endswith("user=alice")


async def test_thread_storage_is_a_thread_read(
    clients: dict[str, LangGraphClient], http: httpx.AsyncClient
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    tid = (await alice.threads.create())["thread_id"]
    assert (await alice.http.client.get(f"/threads/{tid}/storage")).status_code == 200
    hidden = await bob.http.client.get(f"/threads/{tid}/storage")
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": f"Thread with ID {tid} not found"}
    assert (await http.get(f"/threads/{tid}/storage")).status_code == 401


# --- assistants -------------------------------------------------------------------------------


async def test_assistants_are_private_but_the_graphs_own_are_everyones(
    clients: dict[str, LangGraphClient],
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    mine = await alice.assistants.create("whoami", name="alice's", metadata={"k": "v"})
    aid = mine["assistant_id"]
    assert mine["metadata"] == {"k": "v", "owner": "alice"}

    assert (await status_of(bob.assistants.get(aid)))[0] == 404
    assert (await status_of(bob.assistants.get_graph(aid)))[0] == 404
    assert (await status_of(bob.assistants.get_schemas(aid)))[0] == 404
    assert (await status_of(bob.assistants.update(aid, name="bob's")))[0] == 404
    assert (await status_of(bob.assistants.delete(aid)))[0] == 404
    assert (await status_of(bob.assistants.get_versions(aid)))[0] == 404
    assert (await status_of(bob.runs.wait(None, aid, input=_msg("x"))))[0] == 404

    bobs = {a["assistant_id"] for a in await bob.assistants.search(limit=100)}
    graphs = {a["graph_id"] for a in await bob.assistants.search(metadata={"created_by": "system"})}
    assert aid not in bobs
    assert graphs == {"whoami", "slow", "runtime_factory"}
    assert await bob.assistants.count(metadata={"k": "v"}) == 0
    assert aid in {a["assistant_id"] for a in await alice.assistants.search(limit=100)}
    # Bob uses the graphs' own assistants freely.
    assert _seen(await bob.runs.wait(None, "whoami", input=_msg("x")))["user_id"] == "bob"

    assert (await alice.assistants.update(aid, name="renamed"))["name"] == "renamed"
    assert (await alice.runs.wait(None, aid, input=_msg("x")))["messages"]
    await alice.assistants.delete(aid)


# --- crons ------------------------------------------------------------------------------------


async def test_crons_belong_to_their_creator(clients: dict[str, LangGraphClient]) -> None:
    alice, bob = clients["alice"], clients["bob"]
    tid = (await alice.threads.create())["thread_id"]
    cron = await alice.crons.create_for_thread(tid, "whoami", schedule="0 0 1 1 *")
    cid = cron["cron_id"]
    assert cron["user_id"] == "alice"
    assert cron["metadata"]["owner"] == "alice"

    assert cid not in {c["cron_id"] for c in await bob.crons.search(limit=100)}
    assert await bob.crons.count(thread_id=tid) == 0
    assert (await status_of(bob.crons.delete(cid)))[0] == 404
    assert (await status_of(bob.crons.update(cid, schedule="* * * * *")))[0] == 404
    assert (await status_of(bob.crons.create_for_thread(tid, "whoami", schedule="* * * * *")))[
        0
    ] == 404

    assert cid in {c["cron_id"] for c in await alice.crons.search(limit=100)}
    await alice.crons.delete(cid)


async def test_a_crons_runs_carry_its_creator(clients: dict[str, LangGraphClient]) -> None:
    alice = clients["alice"]
    tid = (await alice.threads.create())["thread_id"]
    cron = await alice.crons.create_for_thread(
        tid,
        "whoami",
        schedule="* * * * * *",
        input=_msg("cron"),  # every second
    )
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not await alice.runs.list(tid):
            assert asyncio.get_running_loop().time() < deadline, "the cron never fired"
            await asyncio.sleep(0.5)
        run = (await alice.runs.list(tid))[0]
        await alice.runs.join(tid, run["run_id"])
        state = await alice.threads.get_state(tid)
        assert _seen(state["values"])["user_id"] == "alice"
    finally:
        await alice.crons.delete(cron["cron_id"])


# --- store ------------------------------------------------------------------------------------


async def test_store_namespaces_are_scoped_to_their_user(
    clients: dict[str, LangGraphClient],
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    await alice.store.put_item(["alice", "notes"], "k", {"text": "mine"})
    refused = await status_of(alice.store.put_item(["bob", "notes"], "k", {"text": "x"}))
    assert refused == (403, "namespace must start with your identity")
    assert (await status_of(bob.store.get_item(["alice", "notes"], "k")))[0] == 403
    assert (await status_of(bob.store.delete_item(["alice", "notes"], "k")))[0] == 403
    # Searches are narrowed to the caller's own namespace by the handler.
    found = await bob.store.search_items(["notes"])
    assert found["items"] == []
    own = await alice.store.search_items(["notes"])
    assert [i["value"] for i in own["items"]] == [{"text": "mine"}]
    spaces = await bob.store.list_namespaces()
    assert all(ns[0] == "bob" for ns in spaces["namespaces"])
    item = await alice.store.get_item(["alice", "notes"], "k")
    assert item is not None and item["value"] == {"text": "mine"}


# --- CORS -------------------------------------------------------------------------------------


async def test_cors_allows_the_configured_origins_only(http: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    good = await http.options("/threads", headers={"Origin": "https://good.example", **preflight})
    assert good.status_code == 200
    assert good.headers["access-control-allow-origin"] == "https://good.example"
    bad = await http.options("/threads", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in bad.headers
    simple = await http.get("/ok", headers={"Origin": "https://good.example"})
    assert simple.headers["access-control-allow-origin"] == "https://good.example"
    # The SDKs read these; configuring origins does not hide them.
    assert "content-location" in simple.headers["access-control-expose-headers"]


# --- a stricter deployment --------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with Server(
        database_url("sqlite", tmp_path_factory.mktemp("strict"), request),
        manifest=APP / "langgraph.strict.json",
        env={"DISTAFF_STUDIO_AUTH": "true"},
        log_path=ARTIFACTS / "auth-strict.log",
    ) as srv:
        yield srv


async def test_custom_routes_studio_and_meta_as_the_manifest_says(strict: Server) -> None:
    async with strict.http() as http:
        # enable_custom_route_auth: the custom app's routes authenticate too.
        assert (await http.get("/hello")).status_code == 401
        alice = {"Authorization": "Bearer alice-token"}
        assert (await http.get("/hello", headers=alice)).json()["hello"] == "world"
        # disable_studio_auth: Studio's header is no pass.
        studio = await http.post("/threads", json={}, headers={"x-auth-scheme": "langsmith"})
        assert studio.status_code == 401
        # disable_meta: /metrics and /docs are gone, /ok stays (and /info is the custom app's).
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/ok")).status_code == 200
        # auth.openapi and the custom routes are in the document.
        document = (await http.get("/openapi.json")).json()
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert document["security"] == [{"bearer": []}]
        assert "/hello" in document["paths"]
        assert "/threads" in document["paths"]


# --- the documented example (docs/auth.md) ----------------------------------------------------

EXAMPLE = Path(__file__).parent.parent / "examples" / "auth"


def test_the_docs_show_the_example_auth_file_verbatim() -> None:
    page = (Path(__file__).parent.parent / "docs" / "auth.md").read_text()
    code = (EXAMPLE / "auth.py").read_text().split("\n\n", 1)[1]  # without its docstring
    assert f"```python\n{code}```" in page


async def test_the_documented_example_works(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    srv = Server(
        database_url("sqlite", tmp_path, request),
        manifest=EXAMPLE / "langgraph.json",
        log_path=ARTIFACTS / "auth-example.log",
    ).start()
    alice = get_client(url=srv.url, headers={"Authorization": "Bearer alice-token"})
    bob = get_client(url=srv.url, headers={"Authorization": "Bearer bob-token"})
    try:
        tid = (await alice.threads.create())["thread_id"]
        assert (await alice.runs.wait(tid, "echo", input=_msg("hi")))["messages"]
        assert (await status_of(bob.threads.get(tid)))[0] == 404
        mine = (await bob.threads.create())["thread_id"]
        assert await status_of(bob.threads.delete(mine)) == (403, "only editors delete")
        await alice.store.put_item(["notes"], "k", {"v": 1})
        assert (await alice.store.get_item(["alice", "notes"], "k"))["value"] == {"v": 1}
        assert await bob.store.get_item(["notes"], "k") is None
    finally:
        await alice.http.client.aclose()
        await bob.http.client.aclose()
        srv.stop()


GENERIC_ONLY = """
from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def who(authorization: str | None) -> str:
    assert authorization, "no token"
    return authorization.removeprefix("Bearer ")


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict) -> dict:
    return {"owner": ctx.user.identity}
"""


async def test_a_store_call_whose_handler_returns_a_filter_is_refused_not_let_through(
    tmp_path: Path,
) -> None:
    # One generic `@auth.on` returning an owner filter: for threads it isolates users; store
    # items have no metadata, so ignoring the filter would leave them open to everyone.
    (tmp_path / "auth.py").write_text(GENERIC_ONLY)
    manifest = json.loads((APP / "langgraph.json").read_text())
    manifest = {
        "dependencies": [str(APP)],
        "graphs": {"whoami": f"{APP / 'graphs.py'}:whoami"},
        "env": manifest["env"],
        "auth": {"path": "./auth.py:auth"},
    }
    (tmp_path / "langgraph.json").write_text(json.dumps(manifest))
    log = tmp_path / "server.log"
    srv = Server("memory://", manifest=tmp_path / "langgraph.json", log_path=log).start()
    alice = get_client(url=srv.url, headers={"Authorization": "Bearer alice"})
    try:
        assert (await alice.threads.create())["metadata"] == {"owner": "alice"}
        status, detail = await status_of(alice.store.put_item(["notes"], "k", {"v": 1}))
        assert status == 403
        assert "store items have no metadata" in detail and "@auth.on.store" in detail
        assert (await status_of(alice.store.search_items(["notes"])))[0] == 403
    finally:
        await alice.http.client.aclose()
        srv.stop()
    assert "a generic handler (@auth.on) also decides store calls" in log.read_text()
