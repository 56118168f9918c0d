"""Bad input gets a 4xx, and no interleaving of cancels and run ends leaves anything stuck."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Server

MSG = {"messages": [{"role": "user", "content": "hi"}]}
TERMINAL = {"success", "error", "interrupted", "timeout"}


async def test_integers_beyond_64_bits_are_kept(http: httpx.AsyncClient) -> None:
    big = 123456789012345678901234567890
    thread = await http.post("/threads", json={"metadata": {"big": big}})
    assert thread.status_code == 200, thread.text
    assert thread.json()["metadata"]["big"] == big
    tid = thread.json()["thread_id"]
    body = {"assistant_id": "trivial", "input": {"messages": [], "n": big}}
    assert (await http.post(f"/threads/{tid}/runs/wait", json=body)).status_code == 200
    runs = (await http.get(f"/threads/{tid}/runs")).json()
    assert runs[0]["kwargs"]["input"]["n"] == big
    # langgraph's checkpoint serialiser (msgpack) refuses such an integer; the run must still
    # end, and say why, rather than hang or take the server down.
    assert runs[0]["status"] in TERMINAL


async def test_deep_json_is_stored_or_refused_never_500(http: httpx.AsyncClient) -> None:
    def nested(depth: int) -> str:
        return '{"metadata":' + '{"a":' * depth + "1" + "}" * depth + "}"

    ok = await http.post(
        "/threads", content=nested(300), headers={"content-type": "application/json"}
    )
    assert ok.status_code == 200
    deep = await http.post(
        "/threads", content=nested(5000), headers={"content-type": "application/json"}
    )
    assert 400 <= deep.status_code < 500
    assert "detail" in deep.json()


async def test_a_nul_character_is_stored_or_refused_with_422(
    http: httpx.AsyncClient, backend_name: str
) -> None:
    # PostgreSQL's jsonb cannot hold "\u0000"; SQLite can. Either way: no 500, no half write.
    tag = uuid.uuid4().hex
    r = await http.post("/threads", json={"metadata": {"tag": tag, "note": "a\u0000b"}})
    found = await http.post("/threads/search", json={"metadata": {"tag": tag}})
    if backend_name == "postgres":
        assert r.status_code == 422, r.text
        assert "cannot store" in r.json()["detail"]
        assert found.json() == []
    else:
        assert r.status_code == 200, r.text
        assert [t["metadata"]["note"] for t in found.json()] == ["a\u0000b"]


@pytest.mark.parametrize(
    "body",
    [
        {"assistant_id": "trivial", "after_seconds": 1e300},
        {"assistant_id": "trivial", "config": {"configurable": "x"}},
        {"assistant_id": "trivial", "config": {"recursion_limit": 0}},
    ],
)
async def test_invalid_run_options_are_422(
    http: httpx.AsyncClient, body: dict[str, object]
) -> None:
    r = await http.post("/runs/wait", json=body)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str)


async def test_update_state_with_values_the_reducer_refuses_is_400(http: httpx.AsyncClient) -> None:
    thread = (await http.post("/threads", json={"metadata": {"graph_id": "agent"}})).json()
    r = await http.post(f"/threads/{thread['thread_id']}/state", json={"values": {"messages": 5}})
    assert r.status_code == 400
    assert "Unsupported message type" in r.json()["detail"]


async def test_cancelled_pending_stateless_run_takes_its_thread_along(
    http: httpx.AsyncClient,
) -> None:
    run = (await http.post("/runs", json={"assistant_id": "trivial", "after_seconds": 60})).json()
    r = await http.post(
        "/runs/cancel", json={"thread_id": run["thread_id"], "run_ids": [run["run_id"]]}
    )
    assert r.status_code == 204
    assert (await http.get(f"/threads/{run['thread_id']}")).status_code == 404


async def test_cancels_racing_run_ends_leave_nothing_stuck(http: httpx.AsyncClient) -> None:
    """Cancel streams of a short run at random moments around its end: every stream must close
    and every run must reach a terminal status with its thread no longer busy."""
    rng = random.Random(7)

    async def one() -> tuple[str, str]:
        thread = (await http.post("/threads", json={})).json()
        tid = thread["thread_id"]
        body = {"assistant_id": "trivial", "input": MSG}
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as r:
            rid = r.headers["content-location"].rsplit("/", 1)[-1]
            await asyncio.sleep(rng.uniform(0, 0.02))
            await http.post(f"/threads/{tid}/runs/{rid}/cancel")
            await asyncio.wait_for(r.aread(), 10)  # the stream must end
        return tid, rid

    pairs = await asyncio.gather(*(one() for _ in range(40)))
    await asyncio.sleep(0.3)
    for tid, rid in pairs:
        run = (await http.get(f"/threads/{tid}/runs/{rid}")).json()
        assert run["status"] in TERMINAL, run["status"]
        thread = (await http.get(f"/threads/{tid}")).json()
        assert thread["status"] != "busy"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def one_slot_server(tmp_path: Path) -> Iterator[Server]:
    with Server("memory://", env={"DISTAFF_MAX_CONCURRENT_RUNS": "1"}) as srv:
        yield srv


@pytest.fixture
async def one_slot_http(one_slot_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with one_slot_server.http() as c:
        yield c


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_a_full_worker_waits_instead_of_spinning(
    one_slot_server: Server, one_slot_http: httpx.AsyncClient
) -> None:
    """With every slot busy and runs queued, the worker must sleep until a slot frees: a loop
    that spins would burn a whole core for the length of the slow run."""
    slow = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "10"}]}}
    for _ in range(3):
        r = await one_slot_http.post("/runs", json=slow)
        assert r.status_code == 200
    assert one_slot_server.process is not None
    pid = one_slot_server.process.pid
    await asyncio.sleep(0.3)
    before = _cpu_seconds(pid)
    await asyncio.sleep(1.5)
    used = _cpu_seconds(pid) - before
    assert used < 0.75, f"the server used {used:.2f}s of CPU in 1.5s while runs waited"


async def test_deleting_a_thread_mid_run_leaves_no_state_behind(http: httpx.AsyncClient) -> None:
    """A thread deleted while its run is running takes its checkpoints along: re-created under
    the same id (and graph), it starts empty."""
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    slow = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "20"}]}}
    rid = (await http.post(f"/threads/{tid}/runs", json=slow)).json()["run_id"]
    for _ in range(100):
        if (await http.get(f"/threads/{tid}/runs/{rid}")).json()["status"] == "running":
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.15)  # let it checkpoint its input
    assert (await http.delete(f"/threads/{tid}")).status_code == 204
    await asyncio.sleep(0.3)
    again = {"thread_id": tid, "metadata": {"graph_id": "slow"}}
    assert (await http.post("/threads", json=again)).status_code == 200
    state = (await http.get(f"/threads/{tid}/state")).json()
    assert state["values"] == {}
    assert (await http.post(f"/threads/{tid}/history", json={"limit": 10})).json() == []
