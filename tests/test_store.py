"""The long-term store through the real SDK: items, search with filters, namespaces, and the
same store seen by graphs."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient


def _ns(*labels: str) -> list[str]:
    """A namespace unique to one test (the session's servers are shared)."""
    return [f"t{uuid.uuid4().hex[:12]}", *labels]


async def test_put_get_delete_round_trip(client: LangGraphClient) -> None:
    ns = _ns("users", "u1")
    await client.store.put_item(ns, "prefs", {"theme": "dark", "lang": "en"})
    item = await client.store.get_item(ns, "prefs")
    assert item["namespace"] == ns
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark", "lang": "en"}
    assert item["created_at"].endswith("+00:00") and item["updated_at"]
    await client.store.put_item(ns, "prefs", {"theme": "light"})
    assert (await client.store.get_item(ns, "prefs"))["value"] == {"theme": "light"}
    await client.store.delete_item(ns, "prefs")
    assert await client.store.get_item(ns, "prefs") is None


async def test_missing_item_is_200_null_and_missing_key_is_400(http: httpx.AsyncClient) -> None:
    r = await http.get("/store/items", params={"namespace": "nobody.here", "key": "k"})
    assert r.status_code == 200
    assert r.json() is None
    r = await http.get("/store/items", params={"namespace": "a.b"})
    assert r.status_code == 400
    assert r.json() == {"detail": "Key is required"}


async def test_put_and_delete_answer_204(http: httpx.AsyncClient) -> None:
    ns = _ns()
    r = await http.put("/store/items", json={"namespace": ns, "key": "k", "value": {"a": 1}})
    assert r.status_code == 204
    r = await http.request("DELETE", "/store/items", json={"namespace": ns, "key": "k"})
    assert r.status_code == 204


async def test_search_filters_by_equality_and_numeric_comparisons(
    client: LangGraphClient,
) -> None:
    root = _ns()
    for i, (colour, size) in enumerate([("red", 2), ("blue", 10), ("red", 30), ("green", 9)]):
        await client.store.put_item([*root, "items"], f"k{i}", {"colour": colour, "size": size})

    async def keys(**filters: object) -> list[str]:
        found = await client.store.search_items(root, filter=filters, limit=50)
        return sorted(item["key"] for item in found["items"])

    assert await keys(colour="red") == ["k0", "k2"]
    # Numbers compare as numbers: 10 > 9 > 2 (as strings "10" < "9").
    assert await keys(size={"$gt": 9}) == ["k1", "k2"]
    assert await keys(size={"$gte": 9}) == ["k1", "k2", "k3"]
    assert await keys(size={"$lt": 10}) == ["k0", "k3"]
    assert await keys(size={"$lte": 10}) == ["k0", "k1", "k3"]
    assert await keys(size={"$eq": 30}) == ["k2"]
    assert await keys(colour={"$ne": "red"}) == ["k1", "k3"]
    assert await keys(colour="red", size={"$gt": 5}) == ["k2"]
    found = await client.store.search_items(root, limit=50)
    assert all(item["score"] is None for item in found["items"])


async def test_search_pages_with_limit_and_offset(client: LangGraphClient) -> None:
    root = _ns()
    for i in range(5):
        await client.store.put_item(root, f"k{i}", {"i": i})
    first = await client.store.search_items(root, limit=2)
    second = await client.store.search_items(root, limit=2, offset=2)
    rest = await client.store.search_items(root, limit=10, offset=4)
    keys = [i["key"] for i in first["items"] + second["items"] + rest["items"]]
    assert sorted(keys) == [f"k{i}" for i in range(5)]
    assert len(set(keys)) == 5


async def test_namespaces_with_prefix_suffix_and_depth(client: LangGraphClient) -> None:
    root = _ns()
    for labels in (["a", "x"], ["a", "y"], ["b", "x"], ["a", "x", "deep"]):
        await client.store.put_item([*root, *labels], "k", {"v": 1})
    found = await client.store.list_namespaces(prefix=root)
    assert sorted(map(tuple, found["namespaces"])) == sorted(
        tuple([*root, *labels])
        for labels in (["a", "x"], ["a", "y"], ["b", "x"], ["a", "x", "deep"])
    )
    by_suffix = await client.store.list_namespaces(prefix=root, suffix=["x"])
    assert sorted(map(tuple, by_suffix["namespaces"])) == [(*root, "a", "x"), (*root, "b", "x")]
    shallow = await client.store.list_namespaces(prefix=root, max_depth=2)
    assert sorted(map(tuple, shallow["namespaces"])) == [(*root, "a"), (*root, "b")]
    limited = await client.store.list_namespaces(prefix=root, limit=1)
    assert len(limited["namespaces"]) == 1


async def test_item_ttl_is_accepted(client: LangGraphClient) -> None:
    ns = _ns()
    await client.store.put_item(ns, "k", {"a": 1}, ttl=5)
    assert (await client.store.get_item(ns, "k", refresh_ttl=True))["value"] == {"a": 1}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/store/items", {"namespace": ["a.b"], "key": "k", "value": {}}),
        ("PUT", "/store/items", {"namespace": ["a", ""], "key": "k", "value": {}}),
        ("PUT", "/store/items", {"namespace": ["a"], "key": "", "value": {}}),
        ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": [1, 2]}),
        (
            "POST",
            "/store/items/search",
            {"namespace_prefix": ["a"], "filter": {"x') OR 1=1 --": 1}},
        ),
        ("POST", "/store/items/search", {"namespace_prefix": ["a"], "limit": 0}),
        ("POST", "/store/namespaces", {"prefix": ["a.b"]}),
    ],
)
async def test_bad_store_requests_are_422(
    http: httpx.AsyncClient, method: str, path: str, body: dict[str, object]
) -> None:
    r = await http.request(method, path, json=body)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str)


async def test_graphs_share_the_store_with_the_api(client: LangGraphClient) -> None:
    text = f"note-{uuid.uuid4().hex}"
    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"], "remember", input={"messages": [{"role": "user", "content": text}]}
    )
    assert result["messages"][-1]["content"].endswith("notes")
    item = await client.store.get_item(["notes"], text)
    assert item["value"] == {"text": text, "length": len(text)}
    # And what the API writes, the graph reads.
    before = int(result["messages"][-1]["content"].split()[0])
    await client.store.put_item(["notes"], f"api-{text}", {"text": "from the api", "length": 0})
    again = await client.runs.wait(
        thread["thread_id"], "remember", input={"messages": [{"role": "user", "content": text}]}
    )
    assert int(again["messages"][-1]["content"].split()[0]) >= before + 1


async def test_without_an_index_a_query_searches_plainly(client: LangGraphClient) -> None:
    ns = _ns("users")
    await client.store.put_item(ns, "prefs", {"theme": "dark", "lang": "en"})
    found = await client.store.search_items(ns[:1], query="dark theme")
    assert [(i["key"], i["score"]) for i in found["items"]] == [("prefs", None)]


async def test_sync_nodes_use_the_store_alongside_everything_else(client: LangGraphClient) -> None:
    # A sync node runs on a thread of its own; its store calls must still go through the
    # server's one connection. (Sharing the connection across threads failed ~1 run in 8 here.)
    async def sync_node_run(n: int) -> tuple[list[str], object]:
        ns = _ns("library")
        docs = {f"k{j}": f"text {j}" for j in range(20)}
        result = await client.runs.wait(
            None, "recall", input={"namespace": ns, "docs": docs, "query": "anything"}
        )
        return ns, result

    async def api_writes(n: int) -> None:
        for j in range(20):
            await client.store.put_item(_ns("api"), f"k{j}", {"n": n})

    results = await asyncio.gather(*map(sync_node_run, range(12)), *map(api_writes, range(3)))
    for ns, result in results[:12]:
        assert isinstance(result, dict), result
        assert len(result["hits"]) == 10 and all(score is None for _, score in result["hits"])
        assert (await client.store.get_item(ns, "k19"))["value"] == {"text": "text 19"}
