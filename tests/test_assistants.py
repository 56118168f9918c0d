"""Contract tests for `/assistants` (contract §2, §3.1, §12; captures 110-125).

Servers are shared by the whole session, so every test makes its own assistants, tags them with
a unique metadata value and filters on it.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

SYSTEM_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
GRAPHS: list[str] = list(
    json.loads((Path(__file__).parent / "graphs" / "langgraph.json").read_text())["graphs"]
)
ASSISTANT_KEYS = {
    "assistant_id",
    "graph_id",
    "config",
    "context",
    "metadata",
    "name",
    "created_at",
    "updated_at",
    "version",
    "description",
}
VERSION_KEYS = {
    "assistant_id",
    "version",
    "graph_id",
    "config",
    "context",
    "metadata",
    "created_at",
    "name",
    "description",
}
SCHEMA_KEYS = {
    "graph_id",
    "input_schema",
    "output_schema",
    "state_schema",
    "config_schema",
    "context_schema",
}
# ISO-8601 with microseconds and an explicit UTC offset (contract §2 "Timestamps").
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def system_id(graph_id: str) -> str:
    return str(uuid.uuid5(SYSTEM_NAMESPACE, graph_id))


def tag() -> str:
    return uuid.uuid4().hex


async def make(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("graph_id", "agent")
    r = await http.post("/assistants", json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def assert_error(r: httpx.Response, status: int, detail: str | None = None) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    if detail is not None:
        assert body["detail"] == detail
    return str(body["detail"])


# ---------------------------------------------------------------------------------------------
# System assistants


@pytest.mark.parametrize("graph_id", GRAPHS)
async def test_system_assistant_exists_per_graph(http: httpx.AsyncClient, graph_id: str) -> None:
    aid = system_id(graph_id)
    r = await http.get(f"/assistants/{aid}")
    assert r.status_code == 200, r.text
    a = r.json()
    assert set(a) == ASSISTANT_KEYS
    assert a["assistant_id"] == aid
    assert a["graph_id"] == graph_id
    # The compiled graph's name when it was given one (the templated graph only).
    assert a["name"] == ("Templated Agent" if graph_id == "templated" else graph_id)
    assert a["metadata"] == {"created_by": "system"}
    assert a["version"] == 1
    assert a["config"] == {}
    assert a["context"] == {}
    assert TIMESTAMP.match(a["created_at"]), a["created_at"]


async def test_system_assistants_found_by_search(client: LangGraphClient) -> None:
    found = await client.assistants.search(metadata={"created_by": "system"}, limit=100)
    pairs = {(a["graph_id"], a["assistant_id"]) for a in found}
    assert pairs >= {(g, system_id(g)) for g in GRAPHS}
    assert all(a["metadata"] == {"created_by": "system"} for a in found)


# ---------------------------------------------------------------------------------------------
# Create, get


async def test_create_with_explicit_id_mirrors_context_into_configurable(
    http: httpx.AsyncClient,
) -> None:
    aid, t = str(uuid.uuid4()), tag()
    a = await make(
        http,
        assistant_id=aid,
        graph_id="agent",
        name="my-agent",
        config={"tags": ["x"]},
        context={"model": "fake"},
        metadata={"t": t},
        if_exists="raise",
    )
    assert set(a) == ASSISTANT_KEYS
    assert a["assistant_id"] == aid
    assert a["graph_id"] == "agent"
    assert a["name"] == "my-agent"
    assert a["config"] == {"tags": ["x"], "configurable": {"model": "fake"}}
    assert a["context"] == {"model": "fake"}
    assert a["metadata"] == {"t": t}
    assert a["version"] == 1
    assert a["description"] is None
    assert TIMESTAMP.match(a["created_at"]) and TIMESTAMP.match(a["updated_at"])
    assert a["created_at"] == a["updated_at"]


async def test_create_without_id_generates_uuid(client: LangGraphClient) -> None:
    t = tag()
    a = await client.assistants.create("trivial", metadata={"t": t})
    uuid.UUID(a["assistant_id"])
    assert a["assistant_id"] != system_id("trivial")
    assert a["graph_id"] == "trivial"
    assert a["metadata"] == {"t": t}
    assert a["version"] == 1


async def test_get_returns_created_assistant(client: LangGraphClient) -> None:
    created = await client.assistants.create(
        "agent", metadata={"t": tag()}, name="get-me", context={"model": "m"}
    )
    got = await client.assistants.get(created["assistant_id"])
    assert got == created


async def test_create_duplicate_id_raise_is_409(http: httpx.AsyncClient) -> None:
    aid = str(uuid.uuid4())
    await make(http, assistant_id=aid, metadata={"t": tag()})
    r = await http.post("/assistants", json={"graph_id": "agent", "assistant_id": aid})
    assert_error(r, 409, f"Assistant {aid} already exists")  # capture 112
    r = await http.post(
        "/assistants", json={"graph_id": "agent", "assistant_id": aid, "if_exists": "raise"}
    )
    assert_error(r, 409)


async def test_create_duplicate_id_do_nothing_returns_existing(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    aid, t = str(uuid.uuid4()), tag()
    original = await make(http, assistant_id=aid, name="first", metadata={"t": t})
    again = await client.assistants.create(
        "trivial", assistant_id=aid, name="second", metadata={"t": "other"}, if_exists="do_nothing"
    )
    assert again == original
    assert (await client.assistants.get(aid))["name"] == "first"
    versions = await client.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [1]


async def test_get_by_graph_name_is_422(http: httpx.AsyncClient) -> None:
    r = await http.get("/assistants/agent")
    assert_error(r, 422, "Invalid assistant ID: must be a UUID")  # capture 120


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/assistants/agent/schemas"),
        ("GET", "/assistants/parent/subgraphs"),
        ("PATCH", "/assistants/agent"),
        ("DELETE", "/assistants/agent"),
    ],
)
async def test_graph_name_rejected_where_uuid_required(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    kwargs: dict[str, Any] = {"json": {"metadata": {"x": 1}}} if method == "PATCH" else {}
    r = await http.request(method, path, **kwargs)
    assert_error(r, 422, "Invalid assistant ID: must be a UUID")  # contract §2
    # and the system assistant was not touched
    got = (await http.get(f"/assistants/{system_id('agent')}")).json()
    assert got["version"] == 1 and got["metadata"] == {"created_by": "system"}


async def test_unknown_uuid_is_404_not_found(http: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    assert_error(await http.get(f"/assistants/{missing}"), 404, "Not Found")  # capture 123
    r = await http.patch(f"/assistants/{missing}", json={"metadata": {"a": 1}})
    assert_error(r, 404)
    assert_error(await http.delete(f"/assistants/{missing}"), 404)


async def test_create_with_unknown_graph_is_4xx(http: httpx.AsyncClient) -> None:
    t = tag()
    r = await http.post("/assistants", json={"graph_id": "nosuchgraph", "metadata": {"t": t}})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json()["detail"], str)
    r = await http.post("/assistants/count", json={"metadata": {"t": t}})
    assert r.json() == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/assistants/search", {"limit": "abc"}),
        ("/assistants/search", {"offset": -1}),
        ("/assistants/search", {"sort_by": "nope"}),
        ("/assistants/search", {"select": ["assistant_id", "nope"]}),
        ("/assistants/search", {"metadata": "not-an-object"}),
        ("/assistants", {"name": "no graph"}),
        ("/assistants", {"graph_id": "agent", "if_exists": "sometimes"}),
        ("/assistants", {"graph_id": "agent", "assistant_id": "not-a-uuid"}),
        ("/assistants/count", {"graph_id": 7}),
    ],
)
async def test_bad_bodies_are_422_with_string_detail(
    http: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    assert_error(await http.post(path, json=body), 422)  # capture 124


async def test_non_json_body_is_4xx_json(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/assistants/search", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500
    assert isinstance(r.json()["detail"], str)


# ---------------------------------------------------------------------------------------------
# Patch, versions, latest, delete


async def test_patch_creates_new_version_and_merges_metadata(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t = tag()
    created = await make(
        http,
        name="my-agent",
        config={"tags": ["x"]},
        context={"model": "fake"},
        metadata={"t": t, "team": "a", "keep": 1},
    )
    aid = created["assistant_id"]
    r = await http.patch(f"/assistants/{aid}", json={"metadata": {"team": "b"}, "name": "renamed"})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert set(patched) == ASSISTANT_KEYS
    assert patched["assistant_id"] == aid
    assert patched["version"] == 2
    assert patched["name"] == "renamed"
    assert patched["metadata"] == {"t": t, "team": "b", "keep": 1}
    # fields not in the patch are carried over (capture 114)
    assert patched["config"] == {"tags": ["x"], "configurable": {"model": "fake"}}
    assert patched["context"] == {"model": "fake"}
    assert patched["graph_id"] == "agent"
    assert patched["created_at"] == created["created_at"]
    assert patched["updated_at"] > created["updated_at"]
    assert await client.assistants.get(aid) == patched


async def test_patch_context_is_mirrored_into_configurable(client: LangGraphClient) -> None:
    a = await client.assistants.create("configured", metadata={"t": tag()})
    patched = await client.assistants.update(a["assistant_id"], context={"model": "m2"})
    assert patched["version"] == 2
    assert patched["context"] == {"model": "m2"}
    assert patched["config"].get("configurable", {}).get("model") == "m2"


async def test_versions_newest_first(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t = tag()
    a = await make(http, name="v1", metadata={"t": t, "step": 1})
    aid = a["assistant_id"]
    await client.assistants.update(aid, name="v2", metadata={"step": 2})
    await client.assistants.update(aid, name="v3", metadata={"step": 3})
    r = await http.post(f"/assistants/{aid}/versions", json={})
    assert r.status_code == 200, r.text
    versions = r.json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["name"] for v in versions] == ["v3", "v2", "v1"]
    assert [v["metadata"]["step"] for v in versions] == [3, 2, 1]
    assert all(v["assistant_id"] == aid for v in versions)
    assert all(set(v) == VERSION_KEYS for v in versions)  # capture 115
    # limit / offset
    r = await http.post(f"/assistants/{aid}/versions", json={"limit": 1, "offset": 1})
    assert [v["version"] for v in r.json()] == [2]
    # metadata filter
    r = await http.post(f"/assistants/{aid}/versions", json={"metadata": {"step": 1}})
    assert [v["version"] for v in r.json()] == [1]


async def test_set_latest_restores_old_version(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t = tag()
    a = await make(http, name="my-agent", metadata={"t": t, "team": "a"})
    aid = a["assistant_id"]
    await client.assistants.update(aid, name="renamed", metadata={"team": "b"})
    r = await http.post(f"/assistants/{aid}/latest", json={"version": 1})
    assert r.status_code == 200, r.text
    latest = r.json()
    assert latest["assistant_id"] == aid
    assert latest["version"] == 1
    assert latest["name"] == "my-agent"
    assert latest["metadata"] == {"t": t, "team": "a"}
    got = await client.assistants.get(aid)
    assert got["version"] == 1 and got["name"] == "my-agent"
    # the newer version is not lost
    versions = await client.assistants.get_versions(aid)
    assert sorted(v["version"] for v in versions) == [1, 2]
    # and can be made latest again
    back = await client.assistants.set_latest(aid, 2)
    assert back["version"] == 2 and back["name"] == "renamed"


async def test_set_latest_unknown_version_is_404(http: httpx.AsyncClient) -> None:
    a = await make(http, metadata={"t": tag()})
    r = await http.post(f"/assistants/{a['assistant_id']}/latest", json={"version": 7})
    assert_error(r, 404)
    assert (await http.get(f"/assistants/{a['assistant_id']}")).json()["version"] == 1


async def test_delete_then_404(http: httpx.AsyncClient) -> None:
    t = tag()
    a = await make(http, metadata={"t": t})
    aid = a["assistant_id"]
    r = await http.delete(f"/assistants/{aid}")
    assert r.status_code == 204
    assert r.content == b""
    assert_error(await http.get(f"/assistants/{aid}"), 404, "Not Found")
    assert_error(await http.delete(f"/assistants/{aid}"), 404)
    r = await http.post("/assistants/search", json={"metadata": {"t": t}})
    assert r.json() == []
    r = await http.post(f"/assistants/{aid}/versions", json={})
    assert r.status_code == 404


async def test_delete_with_delete_threads(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    doomed = await make(http, metadata={"t": tag()})
    kept = await make(http, metadata={"t": tag()})
    threads = {}
    for a in (doomed, kept):
        thread = await client.threads.create(metadata={"t": tag()})
        await client.runs.wait(
            thread["thread_id"],
            a["assistant_id"],
            input={"messages": [{"role": "user", "content": "hi"}]},
        )
        threads[a["assistant_id"]] = thread["thread_id"]
    # without the flag, the assistant's threads stay
    r = await http.delete(f"/assistants/{kept['assistant_id']}")
    assert r.status_code == 204
    assert (await http.get(f"/threads/{threads[kept['assistant_id']]}")).status_code == 200
    # with it, they go too
    r = await http.delete(
        f"/assistants/{doomed['assistant_id']}", params={"delete_threads": "true"}
    )
    assert r.status_code == 204
    assert_error(await http.get(f"/threads/{threads[doomed['assistant_id']]}"), 404)


# ---------------------------------------------------------------------------------------------
# Search, count


async def _family(http: httpx.AsyncClient, n: int = 5) -> tuple[str, list[dict[str, Any]]]:
    """n assistants sharing metadata {"t": t}: names b-0..b-n with graph agent, one trivial."""
    t = tag()
    made = []
    for i in range(n):
        made.append(
            await make(
                http,
                graph_id="trivial" if i == 1 else "agent",
                name=f"Fam-{t}-{chr(ord('e') - i)}",  # names sort in reverse creation order
                metadata={"t": t, "i": i, "parity": i % 2},
            )
        )
    return t, made


async def test_search_filters_by_metadata_graph_and_name(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t, made = await _family(http)
    ids = {a["assistant_id"] for a in made}
    found = await client.assistants.search(metadata={"t": t}, limit=100)
    assert {a["assistant_id"] for a in found} == ids
    found = await client.assistants.search(metadata={"t": t, "parity": 1}, limit=100)
    assert sorted(a["metadata"]["i"] for a in found) == [1, 3]
    found = await client.assistants.search(metadata={"t": t}, graph_id="trivial")
    assert [a["assistant_id"] for a in found] == [made[1]["assistant_id"]]
    # name: case-insensitive substring
    found = await client.assistants.search(name=f"fam-{t}-".upper(), limit=100)
    assert {a["assistant_id"] for a in found} == ids
    found = await client.assistants.search(name=f"{t}-c")
    assert [a["assistant_id"] for a in found] == [made[2]["assistant_id"]]
    assert await client.assistants.search(metadata={"t": t, "i": 99}) == []


async def test_search_returns_full_objects_as_bare_array(http: httpx.AsyncClient) -> None:
    t, made = await _family(http, 1)
    r = await http.post("/assistants/search", json={"metadata": {"t": t}})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, list)
    assert body == made


async def test_search_sort_by_and_order(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t, made = await _family(http)
    created_order = [a["assistant_id"] for a in made]

    async def ids(**kw: Any) -> list[str]:
        found = await client.assistants.search(metadata={"t": t}, limit=100, **kw)
        return [a["assistant_id"] for a in found]

    assert await ids(sort_by="created_at", sort_order="asc") == created_order
    assert await ids(sort_by="created_at", sort_order="desc") == created_order[::-1]
    # names were chosen to sort opposite to creation order
    assert await ids(sort_by="name", sort_order="asc") == created_order[::-1]
    assert await ids(sort_by="name", sort_order="desc") == created_order
    assert await ids(sort_by="assistant_id", sort_order="asc") == sorted(created_order)
    assert await ids(sort_by="assistant_id", sort_order="desc") == sorted(created_order)[::-1]
    by_graph = await client.assistants.search(
        metadata={"t": t}, sort_by="graph_id", sort_order="desc", limit=100
    )
    assert by_graph[-1]["graph_id"] == "agent" and by_graph[0]["graph_id"] == "trivial"
    # updated_at: patching the oldest one makes it the most recently updated
    await client.assistants.update(created_order[0], metadata={"bumped": True})
    assert (await ids(sort_by="updated_at", sort_order="desc"))[0] == created_order[0]
    assert (await ids(sort_by="updated_at", sort_order="asc"))[-1] == created_order[0]


async def test_search_limit_offset_and_pagination_headers(http: httpx.AsyncClient) -> None:
    t, made = await _family(http)
    order = [a["assistant_id"] for a in made]  # created_at asc
    base = {"metadata": {"t": t}, "sort_by": "created_at", "sort_order": "asc"}

    r = await http.post("/assistants/search", json={**base, "limit": 2, "offset": 0})
    assert [a["assistant_id"] for a in r.json()] == order[0:2]
    # contract §2 / quirk 3: Total is next_offset+1 while more pages exist
    assert r.headers["x-pagination-next"] == "2"
    assert r.headers["x-pagination-total"] == "3"

    r = await http.post("/assistants/search", json={**base, "limit": 2, "offset": 2})
    assert [a["assistant_id"] for a in r.json()] == order[2:4]
    assert r.headers["x-pagination-next"] == "4"
    assert r.headers["x-pagination-total"] == "5"

    r = await http.post("/assistants/search", json={**base, "limit": 2, "offset": 4})
    assert [a["assistant_id"] for a in r.json()] == order[4:5]
    assert "x-pagination-next" not in r.headers
    assert r.headers["x-pagination-total"] == "5"

    # a page that exactly exhausts the results has no Next either
    r = await http.post("/assistants/search", json={**base, "limit": 5, "offset": 0})
    assert len(r.json()) == 5
    assert "x-pagination-next" not in r.headers
    assert r.headers["x-pagination-total"] == "5"

    r = await http.post("/assistants/search", json={**base, "limit": 2, "offset": 10})
    assert r.json() == []
    assert "x-pagination-next" not in r.headers


async def test_search_default_limit_is_10(http: httpx.AsyncClient) -> None:
    t = tag()
    for i in range(11):
        await make(http, metadata={"t": t, "i": i})
    r = await http.post("/assistants/search", json={"metadata": {"t": t}})
    assert len(r.json()) == 10
    assert r.headers["x-pagination-next"] == "10"


async def test_search_sdk_object_format_exposes_next_cursor(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    t, _ = await _family(http, 3)
    page = await client.assistants.search(metadata={"t": t}, limit=2, response_format="object")
    assert len(page["assistants"]) == 2
    assert page["next"] == "2"
    page = await client.assistants.search(
        metadata={"t": t}, limit=2, offset=2, response_format="object"
    )
    assert len(page["assistants"]) == 1
    assert page["next"] is None


@pytest.mark.parametrize(
    "select",
    [["assistant_id"], ["assistant_id", "graph_id", "name", "version"], ["metadata", "context"]],
)
async def test_search_select_returns_only_those_keys(
    http: httpx.AsyncClient, select: list[str]
) -> None:
    t, made = await _family(http, 2)
    r = await http.post(
        "/assistants/search",
        json={"metadata": {"t": t}, "select": select, "sort_by": "created_at", "sort_order": "asc"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body) == 2
    for item, full in zip(body, made, strict=True):
        assert set(item) == set(select)
        assert item == {k: full[k] for k in select}


async def test_count(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    t, _ = await _family(http)
    r = await http.post("/assistants/count", json={"metadata": {"t": t}})
    assert r.status_code == 200
    assert r.json() == 5  # bare integer (capture 121)
    assert await client.assistants.count(metadata={"t": t, "parity": 0}) == 3
    assert await client.assistants.count(metadata={"t": t}, graph_id="trivial") == 1
    assert await client.assistants.count(name=f"FAM-{t}-A") == 1
    assert await client.assistants.count(metadata={"t": "no-such-tag"}) == 0
    total = await client.assistants.count()
    assert total >= 5 + len(GRAPHS)


# ---------------------------------------------------------------------------------------------
# Graph, schemas, subgraphs


async def test_graph_by_uuid_and_by_graph_name(http: httpx.AsyncClient) -> None:
    by_id = await http.get(f"/assistants/{system_id('agent')}/graph")
    by_name = await http.get("/assistants/agent/graph")
    assert by_id.status_code == 200 and by_name.status_code == 200
    assert by_id.json() == by_name.json()
    g = by_name.json()
    assert {n["id"] for n in g["nodes"]} == {"__start__", "chat", "__end__"}
    edges = {(e["source"], e["target"]) for e in g["edges"]}
    assert edges == {("__start__", "chat"), ("chat", "__end__")}  # capture 117
    chat = next(n for n in g["nodes"] if n["id"] == "chat")
    assert chat["type"] == "runnable"
    assert chat["data"]["name"] == "chat"


async def test_graph_of_user_assistant(client: LangGraphClient) -> None:
    a = await client.assistants.create("hitl", metadata={"t": tag()})
    g = await client.assistants.get_graph(a["assistant_id"])
    assert {n["id"] for n in g["nodes"]} == {"__start__", "ask", "after", "__end__"}
    assert {(e["source"], e["target"]) for e in g["edges"]} >= {("ask", "after")}


async def test_graph_xray_expands_subgraphs(http: httpx.AsyncClient) -> None:
    flat = (await http.get("/assistants/parent/graph")).json()
    flat_ids = {n["id"] for n in flat["nodes"]}
    assert "child" in flat_ids
    assert not any(i.startswith("child:") for i in flat_ids)
    for xray in ("true", "1"):
        r = await http.get("/assistants/parent/graph", params={"xray": xray})
        assert r.status_code == 200, r.text
        ids = {n["id"] for n in r.json()["nodes"]}
        assert "child:inner" in ids, ids
        assert "outer" in ids


async def test_graph_unknown_is_404(http: httpx.AsyncClient) -> None:
    r = await http.get(f"/assistants/{uuid.uuid4()}/graph")
    assert_error(r, 404)


async def test_schemas_keys(client: LangGraphClient, http: httpx.AsyncClient) -> None:
    r = await http.get(f"/assistants/{system_id('agent')}/schemas")
    assert r.status_code == 200, r.text
    s = r.json()
    assert set(s) == SCHEMA_KEYS  # capture 118
    assert s["graph_id"] == "agent"
    assert isinstance(s["state_schema"], dict)
    assert "messages" in s["state_schema"]["properties"]
    via_sdk = await client.assistants.get_schemas(system_id("agent"))
    assert via_sdk == s


async def test_schemas_of_configured_graph_have_context_model(client: LangGraphClient) -> None:
    s = await client.assistants.get_schemas(system_id("configured"))
    assert s["graph_id"] == "configured"
    ctx = s["context_schema"]
    assert isinstance(ctx, dict)
    assert "model" in ctx.get("properties", {}), ctx
    assert "tone" in ctx.get("properties", {}), ctx
    assert "seen" in s["state_schema"]["properties"]


async def test_schemas_unknown_is_404(http: httpx.AsyncClient) -> None:
    assert_error(await http.get(f"/assistants/{uuid.uuid4()}/schemas"), 404)


async def test_subgraphs_of_parent_include_child(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    pid = system_id("parent")
    r = await http.get(f"/assistants/{pid}/subgraphs")
    assert r.status_code == 200, r.text
    subs = r.json()
    assert set(subs) == {"child"}  # capture 119
    assert isinstance(subs["child"]["state_schema"], dict)
    assert {"input_schema", "output_schema", "state_schema"} <= set(subs["child"])
    recursed = await client.assistants.get_subgraphs(pid, recurse=True)
    assert "child" in recursed
    r = await http.get(f"/assistants/{pid}/subgraphs/child")
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"child"}


async def test_subgraphs_of_flat_graph_empty(client: LangGraphClient) -> None:
    assert await client.assistants.get_subgraphs(system_id("agent")) == {}


async def test_system_assistant_takes_the_compiled_graphs_name(http: httpx.AsyncClient) -> None:
    named = (await http.get(f"/assistants/{system_id('templated')}")).json()
    assert named["name"] == "Templated Agent"  # compile(name=...)
    unnamed = (await http.get(f"/assistants/{system_id('trivial')}")).json()
    assert unnamed["name"] == "trivial"  # langgraph's default name stands for none


async def test_schemas_as_the_reference_shapes_them(http: httpx.AsyncClient) -> None:
    templated = (await http.get(f"/assistants/{system_id('templated')}/schemas")).json()
    # config_schema: the schema of `configurable`, which for a graph with a context schema is
    # the context's; `{}` when the graph declares none.
    config = templated["config_schema"]
    assert config["title"] == "TemplateContext"
    assert config["properties"]["model"]["default"] == "fake/default-model"
    assert templated["context_schema"]["properties"] == config["properties"]
    # Managed values are langgraph's to fill: not part of the state a client sees.
    assert set(templated["state_schema"]["properties"]) == {"messages"}
    trivial = (await http.get(f"/assistants/{system_id('trivial')}/schemas")).json()
    assert trivial["config_schema"] == {}


async def test_graph_drawing_carries_a_tool_nodes_tools(http: httpx.AsyncClient) -> None:
    drawn = (await http.get(f"/assistants/{system_id('tooled')}/graph")).json()
    tools = next(n for n in drawn["nodes"] if n["id"] == "tools")
    assert tools == {
        "id": "tools",
        "type": "runnable",
        "data": {"name": "tools"},
        "metadata": {"__tools": ["get_weather"]},
    }
    assert all("metadata" not in n for n in drawn["nodes"] if n["id"] != "tools")


async def test_deleting_an_assistant_deletes_its_crons(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    assistant = await make(http, graph_id="trivial")
    thread = await client.threads.create()
    stateless = await client.crons.create(assistant["assistant_id"], schedule="0 0 1 1 *")
    on_thread = await client.crons.create_for_thread(
        thread["thread_id"], assistant["assistant_id"], schedule="0 0 1 1 *"
    )
    other = await client.crons.create("trivial", schedule="0 0 1 1 *")
    await client.assistants.delete(assistant["assistant_id"])
    for cron in (stateless, on_thread):
        assert (await http.get(f"/runs/crons/{cron['cron_id']}")).status_code == 404
    assert (await http.get(f"/runs/crons/{other['cron_id']}")).status_code == 200
    await client.crons.delete(other["cron_id"])
