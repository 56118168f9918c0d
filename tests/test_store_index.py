"""Semantic store search (`store.index`) through the real SDK, on memory, SQLite and PostgreSQL.

The embedding is `tests/graphs/embed.py`: deterministic, so every score is checked against the
cosine similarity computed here. The memory server names it the manifest's way (a file path to
an async function); the SQLite and PostgreSQL servers the settings' way (`DISTAFF_STORE_INDEX`
naming a sync function as `module:attr`). PostgreSQL ranks with pgvector, on the throwaway
embedded cluster of `conftest.py`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.backends import BACKENDS
from tests.conftest import ARTIFACTS, database_url
from tests.graphs.embed import cosine, vector
from tests.servers import MANIFEST, Server

INDEXED = MANIFEST.with_name("langgraph.index.json")
#: The same index, given as a setting naming an importable sync function.
AS_SETTING = {"dims": 16, "embed": "embed:embed_texts", "fields": ["text"]}


def _server(backend: str, root: Path, request: pytest.FixtureRequest | None = None) -> Server:
    if backend == "memory":
        return Server("memory://", manifest=INDEXED, log_path=ARTIFACTS / "server-index-memory.log")
    if backend == "postgres":
        assert request is not None, "a PostgreSQL database comes from the pg_cluster fixture"
        url = database_url(backend, root, request)
    else:
        url = f"sqlite:///{root / 'db.sqlite'}"
    # The main manifest has no `store.index`: here the setting alone turns it on.
    return Server(
        url,
        env={"DISTAFF_STORE_INDEX": json.dumps(AS_SETTING)},
        log_path=ARTIFACTS / f"server-index-{backend}.log",
    )


@pytest.fixture(scope="module", params=BACKENDS)
def index_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    srv = _server(request.param, tmp_path_factory.mktemp("index"), request).start()
    yield srv
    srv.stop()


@pytest.fixture
async def sdk(index_server: Server) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=index_server.url)
    try:
        yield lg
    finally:
        await lg.http.client.aclose()


def _ns(*labels: str) -> list[str]:
    return [f"t{uuid.uuid4().hex[:12]}", *labels]


def _expected(text: str, query: str) -> float:
    return cosine(vector(text), vector(query))


def _ranking(items: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    return [(i["key"], None if i["score"] is None else round(i["score"], 5)) for i in items]


DOCS = {
    "mat": "the cat sat on the mat",
    "dog": "a dog on a mat",
    "pets": "cats and dogs",
    "money": "quarterly revenue report finance",
    "short": "the mat",
}
QUERY = "cat on a mat"


def _ranked_docs(docs: dict[str, str], query: str) -> list[tuple[str, float]]:
    scored = [(key, round(_expected(text, query), 5)) for key, text in docs.items()]
    assert len({score for _, score in scored}) == len(scored), "pick texts without ties"
    return sorted(scored, key=lambda pair: -pair[1])


async def test_query_ranks_by_similarity_and_unindexed_items_come_last(
    sdk: LangGraphClient,
) -> None:
    ns = _ns("notes")
    for key, text in DOCS.items():
        await sdk.store.put_item(ns, key, {"text": text, "tag": key})
    await sdk.store.put_item(ns, "plain", {"text": "cat on a mat"}, index=False)
    found = await sdk.store.search_items(ns[:1], query=QUERY, limit=10)
    assert _ranking(found["items"]) == [*_ranked_docs(DOCS, QUERY), ("plain", None)]
    top = found["items"][0]
    assert top["namespace"] == ns and top["value"] == {"text": DOCS["dog"], "tag": "dog"}
    # Without a query the same search is the plain one, with no scores.
    plain = await sdk.store.search_items(ns[:1], limit=10)
    assert {(i["key"], i["score"]) for i in plain["items"]} == {(k, None) for k in [*DOCS, "plain"]}


async def test_pages_of_a_ranked_search_follow_each_other(sdk: LangGraphClient) -> None:
    ns = _ns()
    for key, text in DOCS.items():
        await sdk.store.put_item(ns, key, {"text": text})
    await sdk.store.put_item(ns, "plain", {"text": "unindexed"}, index=False)
    whole = await sdk.store.search_items(ns, query=QUERY, limit=10)
    pages = []
    for offset in (0, 2, 4, 6):
        page = await sdk.store.search_items(ns, query=QUERY, limit=2, offset=offset)
        pages += page["items"]
    assert _ranking(pages) == _ranking(whole["items"])
    assert len(pages) == 6


async def test_fields_decide_what_is_embedded_and_an_item_can_override_them(
    sdk: LangGraphClient,
) -> None:
    ns = _ns()
    value = {"text": "quarterly revenue report", "title": "the cat sat on the mat"}
    await sdk.store.put_item(ns, "by-config", value)  # fields: ["text"]
    await sdk.store.put_item(ns, "by-item", value, index=["title"])
    found = await sdk.store.search_items(ns, query=QUERY)
    scores = {i["key"]: i["score"] for i in found["items"]}
    assert scores["by-item"] == pytest.approx(_expected(value["title"], QUERY), abs=1e-5)
    assert scores["by-config"] == pytest.approx(_expected(value["text"], QUERY), abs=1e-5)
    # `text[*]` embeds each element of a list; the item scores as its best one.
    await sdk.store.put_item(ns, "list", {"text": ["revenue", "a dog on a mat"]}, index=["text[*]"])
    found = await sdk.store.search_items(ns, query=QUERY)
    assert found["items"][0]["key"] == "list"
    assert found["items"][0]["score"] == pytest.approx(_expected("a dog on a mat", QUERY), abs=1e-5)


async def test_filter_and_namespace_narrow_a_ranked_search(sdk: LangGraphClient) -> None:
    root = _ns()
    await sdk.store.put_item([*root, "a"], "k1", {"text": "the cat sat on the mat", "n": 1})
    await sdk.store.put_item([*root, "a"], "k2", {"text": "a dog on a mat", "n": 2})
    await sdk.store.put_item([*root, "b"], "k3", {"text": "cat on a mat", "n": 3})
    found = await sdk.store.search_items(root, query=QUERY, filter={"n": {"$lt": 3}})
    assert [i["key"] for i in found["items"]] == ["k2", "k1"]
    found = await sdk.store.search_items([*root, "b"], query=QUERY)
    assert _ranking(found["items"]) == [("k3", 1.0)]


async def test_a_new_value_replaces_the_old_vectors(sdk: LangGraphClient) -> None:
    ns = _ns()
    await sdk.store.put_item(ns, "k", {"text": ["cat on a mat", "a cat"]}, index=["text[*]"])
    await sdk.store.put_item(ns, "k", {"text": "quarterly revenue report"})
    found = await sdk.store.search_items(ns, query=QUERY)
    assert _ranking(found["items"]) == [
        ("k", round(_expected("quarterly revenue report", QUERY), 5))
    ]
    await sdk.store.put_item(ns, "k", {"text": "cat on a mat"}, index=False)
    found = await sdk.store.search_items(ns, query=QUERY)
    assert _ranking(found["items"]) == [("k", None)]
    await sdk.store.delete_item(ns, "k")
    assert (await sdk.store.search_items(ns, query=QUERY))["items"] == []


async def test_a_failing_embedding_is_a_json_error_and_stores_nothing(
    index_server: Server,
) -> None:
    ns = _ns()
    async with index_server.http() as http:
        r = await http.put(
            "/store/items", json={"namespace": ns, "key": "k", "value": {"text": "explode"}}
        )
        assert r.status_code == 500
        assert "the embedding service is down" in r.json()["detail"]
        r = await http.get("/store/items", params={"namespace": ".".join(ns), "key": "k"})
        assert r.status_code == 200 and r.json() is None
        r = await http.post(
            "/store/items/search", json={"namespace_prefix": ns, "query": "explode"}
        )
        assert r.status_code == 500 and "embedding" in r.json()["detail"]


async def test_a_sync_node_files_and_finds_by_meaning(sdk: LangGraphClient) -> None:
    ns = _ns("library")
    result = await sdk.runs.wait(
        None, "recall", input={"namespace": ns, "docs": DOCS, "query": QUERY}
    )
    assert isinstance(result, dict)
    assert [(key, round(score, 5)) for key, score in result["hits"]] == _ranked_docs(DOCS, QUERY)
    # What the graph filed, the API finds the same way.
    found = await sdk.store.search_items(ns, query=QUERY, limit=10)
    assert _ranking(found["items"]) == _ranked_docs(DOCS, QUERY)


async def test_an_async_node_writes_items_the_api_finds_by_meaning(sdk: LangGraphClient) -> None:
    text = f"zebra {uuid.uuid4().hex}"
    await sdk.runs.wait(None, "remember", input={"messages": [{"role": "user", "content": text}]})
    found = await sdk.store.search_items(["notes"], query=text, limit=1)
    assert _ranking(found["items"]) == [(text, 1.0)]


def test_vectors_survive_a_restart(tmp_path: Path) -> None:
    srv = _server("sqlite", tmp_path).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            for key, text in DOCS.items():
                body = {"namespace": ["kept"], "key": key, "value": {"text": text}}
                assert http.put("/store/items", json=body).status_code == 204
        srv.stop()
        srv.start()
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            r = http.post(
                "/store/items/search",
                json={"namespace_prefix": ["kept"], "query": QUERY, "limit": 10},
            )
            assert r.status_code == 200
            assert _ranking(r.json()["items"]) == _ranked_docs(DOCS, QUERY)
    finally:
        srv.stop()
