"""Thread TTL: a thread idle past its TTL is deleted with its runs and checkpoints, or pruned to
its latest checkpoint; the manifest's `checkpointer.ttl` gives every new thread one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import MANIFEST, Server

FAST_SWEEP = {"DISTAFF_TTL_SWEEP_SECONDS": "0.2"}
MSG = {"messages": [{"role": "user", "content": "hi"}]}
#: 0.01 minutes: 0.6 seconds.
SHORT = 0.01


@pytest.fixture(scope="module")
def sweeping() -> Iterator[Server]:
    with Server("memory://", env=FAST_SWEEP) as srv:
        yield srv


@pytest.fixture
async def http(sweeping: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with sweeping.http() as c:
        yield c


async def _gone(http: httpx.AsyncClient, tid: str, timeout: float = 5) -> bool:
    for _ in range(int(timeout / 0.1)):
        if (await http.get(f"/threads/{tid}")).status_code == 404:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_expired_thread_is_deleted_with_its_runs_and_checkpoints(
    http: httpx.AsyncClient,
) -> None:
    body = {"metadata": {"graph_id": "trivial"}, "ttl": {"strategy": "delete", "ttl": SHORT}}
    tid = (await http.post("/threads", json=body)).json()["thread_id"]
    keep = (await http.post("/threads", json={"metadata": {"graph_id": "trivial"}})).json()
    assert (
        await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "trivial", "input": MSG})
    ).status_code == 200
    assert await _gone(http, tid)
    # Re-created under the same id, nothing of the old thread is left.
    again = {"thread_id": tid, "metadata": {"graph_id": "trivial"}}
    assert (await http.post("/threads", json=again)).status_code == 200
    assert (await http.get(f"/threads/{tid}/state")).json()["values"] == {}
    assert (await http.get(f"/threads/{tid}/runs")).json() == []
    # A thread without a TTL stays.
    assert (await http.get(f"/threads/{keep['thread_id']}")).status_code == 200


async def test_keep_latest_prunes_history_and_keeps_the_thread(http: httpx.AsyncClient) -> None:
    body = {"ttl": {"strategy": "keep_latest", "ttl": SHORT}}
    tid = (await http.post("/threads", json=body)).json()["thread_id"]
    run = {"assistant_id": "trivial", "input": MSG}
    for _ in range(2):
        assert (await http.post(f"/threads/{tid}/runs/wait", json=run)).status_code == 200
    assert len((await http.post(f"/threads/{tid}/history", json={"limit": 50})).json()) > 1
    for _ in range(100):  # the sweeper prunes it within a tick or two of the TTL
        history = (await http.post(f"/threads/{tid}/history", json={"limit": 50})).json()
        if len(history) == 1:
            break
        await asyncio.sleep(0.1)
    assert len(history) == 1
    state = (await http.get(f"/threads/{tid}/state")).json()
    assert [m["content"] for m in state["values"]["messages"]] == ["hi", "ok", "hi", "ok"]
    assert (await http.get(f"/threads/{tid}")).status_code == 200


@pytest.fixture
def manifest_with_ttl(tmp_path: Path) -> Path:
    raw = json.loads(MANIFEST.read_text())
    graphs_dir = MANIFEST.parent
    raw["graphs"] = {k: str(graphs_dir / v.removeprefix("./")) for k, v in raw["graphs"].items()}
    raw["dependencies"] = [str(graphs_dir)]
    raw["checkpointer"] = {
        "ttl": {"strategy": "delete", "default_ttl": SHORT, "sweep_interval_minutes": 0.005}
    }
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(raw))
    return path


async def test_manifest_default_ttl_applies_to_new_threads(manifest_with_ttl: Path) -> None:
    srv = Server("memory://", manifest=manifest_with_ttl).start()
    try:
        async with srv.http() as http:
            thread = (await http.post("/threads", json={})).json()
            r = await http.get(f"/threads/{thread['thread_id']}", params={"include": "ttl"})
            assert r.json()["ttl"] == {"strategy": "delete", "ttl": SHORT}
            assert await _gone(http, thread["thread_id"])
    finally:
        srv.stop()
