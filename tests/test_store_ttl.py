"""Store TTL: expired items are swept, per item or by the configured default; reading with
`refresh_ttl` restarts an item's clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.servers import Server

#: 0.02 minutes: 1.2 seconds.
SHORT = 0.02


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def sweeping(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = (
        "memory://"
        if request.param == "memory"
        else f"sqlite:///{tmp_path_factory.mktemp('ttl') / 'db.sqlite'}"
    )
    env = {"DISTAFF_STORE_SWEEP_SECONDS": "0.2", "DISTAFF_STORE_TTL_MINUTES": str(SHORT * 2)}
    with Server(url, env=env) as srv:
        yield srv


@pytest.fixture
async def store_client(sweeping: Server) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=sweeping.url)
    try:
        yield lg
    finally:
        await lg.http.client.aclose()


async def _gone(client: LangGraphClient, ns: list[str], key: str, timeout: float) -> bool:
    for _ in range(int(timeout / 0.1)):
        if await client.store.get_item(ns, key, refresh_ttl=False) is None:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_item_ttl_expires(store_client: LangGraphClient) -> None:
    ns = [f"t{uuid.uuid4().hex[:8]}"]
    await store_client.store.put_item(ns, "short", {"a": 1}, ttl=SHORT)
    assert await store_client.store.get_item(ns, "short", refresh_ttl=False) is not None
    assert await _gone(store_client, ns, "short", timeout=6)


async def test_default_ttl_applies_and_reads_refresh_it(store_client: LangGraphClient) -> None:
    ns = [f"t{uuid.uuid4().hex[:8]}"]
    http = store_client.http.client
    # Without a ttl (absent, or null as the SDK sends it) the server's default, 2.4 s, applies.
    r = await http.put("/store/items", json={"namespace": ns, "key": "kept", "value": {}})
    assert r.status_code == 204
    await store_client.store.put_item(ns, "dropped", {})
    # Keep reading one item with refresh_ttl for longer than its TTL: it stays.
    for _ in range(8):
        assert await store_client.store.get_item(ns, "kept", refresh_ttl=True) is not None
        await asyncio.sleep(0.5)
    assert await store_client.store.get_item(ns, "dropped", refresh_ttl=False) is None
    assert await store_client.store.get_item(ns, "kept", refresh_ttl=False) is not None


async def test_bad_ttl_is_422(sweeping: Server) -> None:
    async with httpx.AsyncClient(base_url=sweeping.url) as http:
        body = {"namespace": ["a"], "key": "k", "value": {}, "ttl": -1}
        assert (await http.put("/store/items", json=body)).status_code == 422
