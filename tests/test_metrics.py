"""`/metrics` in Prometheus text and JSON: request counts by route template, queue, workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.servers import Server


def _count(metrics: dict[str, Any], method: str, path: str, status: int) -> int:
    for row in metrics["api"]["http_requests_total"]:
        if (row["method"], row["path"], row["status"]) == (method, path, status):
            return int(row["count"])
    return 0


async def test_json_counts_requests_by_route_template(http: httpx.AsyncClient) -> None:
    before = (await http.get("/metrics", params={"format": "json"})).json()
    thread = (await http.post("/threads", json={})).json()
    await http.get(f"/threads/{thread['thread_id']}")
    await http.get("/threads/00000000-0000-4000-8000-000000000000")
    after = (await http.get("/metrics", params={"format": "json"})).json()
    assert set(after) == {"queue", "api", "workers", "tokens", "storage"}
    assert _count(after, "POST", "/threads", 200) == _count(before, "POST", "/threads", 200) + 1
    assert (
        _count(after, "GET", "/threads/{thread_id}", 200)
        == _count(before, "GET", "/threads/{thread_id}", 200) + 1
    )
    assert (
        _count(after, "GET", "/threads/{thread_id}", 404)
        == _count(before, "GET", "/threads/{thread_id}", 404) + 1
    )
    assert set(after["queue"]) >= {"n_pending", "n_running", "pending_runs_wait_time_max_secs"}
    workers = after["workers"]
    assert workers["max"] == workers["active"] + workers["available"] >= 1


async def test_prometheus_text(http: httpx.AsyncClient) -> None:
    await http.post("/threads", json={})
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert 'lg_api_http_requests_total{method="POST",path="/threads",status="200"}' in text
    assert "lg_api_http_requests_latency_seconds_bucket" in text
    for gauge in ("lg_api_workers_max", "lg_api_runs_pending", "lg_api_runs_running"):
        assert f"\n{gauge} " in text, gauge
    assert "process_cpu_seconds_total" in text


async def test_unknown_format_is_422(http: httpx.AsyncClient) -> None:
    r = await http.get("/metrics", params={"format": "xml"})
    assert r.status_code == 422


@pytest.fixture(scope="module")
def one_slot() -> Iterator[Server]:
    with Server("memory://", env={"DISTAFF_MAX_CONCURRENT_RUNS": "1"}) as srv:
        yield srv


@pytest.fixture
async def one_slot_http(one_slot: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with one_slot.http() as c:
        yield c


async def test_queue_and_workers_while_busy(one_slot_http: httpx.AsyncClient) -> None:
    slow = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "10"}]}}
    for _ in range(3):
        assert (await one_slot_http.post("/runs", json=slow)).status_code == 200
    await asyncio.sleep(0.3)
    m = (await one_slot_http.get("/metrics", params={"format": "json"})).json()
    assert m["workers"] == {"max": 1, "active": 1, "available": 0}
    assert m["queue"]["n_running"] == 1
    assert m["queue"]["n_pending"] == 2
    assert m["queue"]["pending_runs_wait_time_max_secs"] >= 0.2
    await one_slot_http.post("/runs/cancel", json={"status": "all"})
