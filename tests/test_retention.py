"""Checkpoint retention and storage accounting: the sweeper keeps what each thread's policy
promises (its own, else the deployment's), never the latest state or a pending interrupt; the
storage figures shrink with it, per thread, per assistant and in `/metrics`; SQLite gives the
freed pages back to the file system.

One server per backend, sweeping every 0.3 s, with a deployment default of `keep_last: 4`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.clients import sdk
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server

DEFAULT_KEEP = 4


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module", params=["memory", "sqlite", "postgres"])
def swept(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = database_url(request.param, tmp_path_factory.mktemp("retention"), request)
    srv = Server(
        url,
        env={
            "DISTAFF_RETENTION_SWEEP_SECONDS": "0.3",
            "DISTAFF_CHECKPOINT_KEEP_LAST": str(DEFAULT_KEEP),
        },
        log_path=ARTIFACTS / f"server-retention-{request.param}.log",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
async def client(swept: Server) -> AsyncIterator[LangGraphClient]:
    async with sdk(swept) as lg:
        yield lg


@pytest.fixture
async def http(swept: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with swept.http() as c:
        yield c


async def _history(client: LangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    return list(await client.threads.get_history(thread_id, limit=1000))


async def _until_history(
    client: LangGraphClient, thread_id: str, n: int, timeout: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(history := await _history(client, thread_id)) != n:
        assert time.monotonic() < deadline, f"{len(history)} checkpoints, not {n}"
        await asyncio.sleep(0.1)
    return history


async def _thread_keeping_everything(http: httpx.AsyncClient, client: LangGraphClient) -> str:
    tid = (await client.threads.create())["thread_id"]
    answer = await http.put(f"/threads/{tid}/retention", json={})
    assert answer.json() == {
        "thread_id": tid,
        "policy": {"keep_last": None, "max_age_seconds": None},
        "effective": {"keep_last": None, "max_age_seconds": None},
    }
    return tid


async def test_keep_last_keeps_exactly_the_newest_and_storage_shrinks(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = await _thread_keeping_everything(http, client)
    for i in range(4):
        await client.runs.wait(tid, "trivial", input=_msg(f"turn {i}"))
    full = await _history(client, tid)
    assert len(full) == 12  # input, start and node of each run, all kept
    before = (await http.get(f"/threads/{tid}/storage")).json()
    state = await client.threads.get_state(tid)

    policy = await http.put(f"/threads/{tid}/retention", json={"keep_last": 3})
    assert policy.json()["effective"] == {"keep_last": 3, "max_age_seconds": None}
    kept = await _until_history(client, tid, 3)
    assert [h["checkpoint_id"] for h in kept] == [h["checkpoint_id"] for h in full[:3]]
    assert await client.threads.get_state(tid) == state  # the latest state, untouched
    after = (await http.get(f"/threads/{tid}/storage")).json()
    assert after["checkpoints"]["count"] == 3
    assert after["total_bytes"] < before["total_bytes"]
    # The thread goes on: a new turn, and retention keeps it at 3.
    await client.runs.wait(tid, "trivial", input=_msg("after"))
    await _until_history(client, tid, 3)
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 10


async def test_the_deployment_policy_applies_to_threads_without_their_own(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    own = (await http.get(f"/threads/{tid}/retention")).json()
    assert own == {
        "thread_id": tid,
        "policy": None,
        "effective": {"keep_last": DEFAULT_KEEP, "max_age_seconds": None},
    }
    for i in range(3):
        await client.runs.wait(tid, "trivial", input=_msg(f"turn {i}"))
    await _until_history(client, tid, DEFAULT_KEEP)
    # Back from a policy of its own to the deployment's.
    await http.put(f"/threads/{tid}/retention", json={"keep_last": 1})
    await _until_history(client, tid, 1)
    cleared = (await http.delete(f"/threads/{tid}/retention")).json()
    assert cleared["policy"] is None and cleared["effective"]["keep_last"] == DEFAULT_KEEP


async def test_a_pending_interrupt_survives_and_resumes(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    await http.put(f"/threads/{tid}/retention", json={"keep_last": 1})
    await client.runs.wait(tid, "hitl", input=_msg("go"))
    (latest,) = await _until_history(client, tid, 1)
    assert latest["next"] == ["ask"] and latest["tasks"][0]["interrupts"]
    result = await client.runs.wait(tid, "hitl", command={"resume": "yes"})
    assert isinstance(result, dict)
    assert result["approved"] == "yes"
    assert [m["content"] for m in result["messages"]] == ["go", "human said yes", "done"]


async def test_max_age_keeps_only_the_latest_once_all_else_is_old(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    await http.put(f"/threads/{tid}/retention", json={"max_age_seconds": 1.0})
    await client.runs.wait(tid, "trivial", input=_msg("one"))
    await client.runs.wait(tid, "trivial", input=_msg("two"))
    (latest,) = await _until_history(client, tid, 1)
    assert [m["content"] for m in latest["values"]["messages"]] == ["one", "ok", "two", "ok"]


async def test_subgraph_checkpoints_go_too(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    """Each subgraph call has a namespace of its own: keeping each one's newest would keep one
    checkpoint per call forever."""
    tid = (await client.threads.create())["thread_id"]
    await http.put(f"/threads/{tid}/retention", json={})
    for i in range(3):
        await client.runs.wait(tid, "parent", input=_msg(f"turn {i}"))
    before = (await http.get(f"/threads/{tid}/storage")).json()["checkpoints"]["count"]
    await http.put(f"/threads/{tid}/retention", json={"keep_last": 1})
    await _until_history(client, tid, 1)
    deadline = time.monotonic() + 10
    while (await http.get(f"/threads/{tid}/storage")).json()["checkpoints"]["count"] != 1:
        assert time.monotonic() < deadline, before
        await asyncio.sleep(0.1)
    assert before > 9  # the root's and the subgraph's
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == 9


async def test_storage_per_assistant_and_in_metrics(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "trivial", input=_msg("measure me"))
    aid = (await client.threads.get(tid))["metadata"]["assistant_id"]
    stored = (await http.get(f"/assistants/{aid}/storage")).json()
    assert stored["assistant_id"] == aid and stored["checkpoints"] >= 3
    assert (
        stored["total_bytes"]
        == (stored["checkpoint_bytes"] + stored["blob_bytes"] + stored["write_bytes"])
        > 0
    )
    deadline = time.monotonic() + 10
    while True:  # the next pass measures it
        report = (await http.get("/metrics", params={"format": "json"})).json()
        mine = [row for row in report["storage"] if row["assistant_id"] == aid]
        if mine and mine[0]["checkpoints"] > 0:
            break
        assert time.monotonic() < deadline, report["storage"]
        await asyncio.sleep(0.1)
    text = (await http.get("/metrics")).text
    assert f'distaff_storage_bytes{{assistant_id="{aid}",kind="checkpoint"}}' in text


async def test_sqlite_gives_freed_pages_back(
    swept: Server, client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    if not swept.database_url.startswith("sqlite"):
        pytest.skip("SQLite's file only")
    path = Path(swept.database_url.removeprefix("sqlite:///"))
    tid = await _thread_keeping_everything(http, client)
    for i in range(6):  # ~2 MB of checkpoints: each holds the whole message list
        await client.runs.wait(tid, "trivial", input=_msg(f"{i}" + "x" * 100_000))
    pages_before = _pragma(path, "page_count")
    await http.put(f"/threads/{tid}/retention", json={"keep_last": 1})
    await _until_history(client, tid, 1)
    # The deleted checkpoints' pages leave the file (not only its free list): it shrinks.
    deadline = time.monotonic() + 10
    # (Both: the vacuum goes 256 pages at a time, so the file passes half its size mid-way.)
    while (
        _pragma(path, "page_count") > pages_before // 2
        or _pragma(path, "freelist_count") >= pages_before // 10
    ):
        figures = (_pragma(path, "page_count"), _pragma(path, "freelist_count"), pages_before)
        assert time.monotonic() < deadline, figures
        await asyncio.sleep(0.1)
    assert _pragma(path, "auto_vacuum") == 2  # INCREMENTAL, set when the file was made


def _pragma(path: Path, name: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


async def test_a_bad_policy_is_a_422_and_a_missing_thread_a_404(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    for body in (
        {"keep_last": 0},
        {"max_age_seconds": -1},
        {"max_age_seconds": 1e300},
        {"keep": 3},
    ):
        answer = await http.put(f"/threads/{tid}/retention", json=body)
        assert answer.status_code == 422 and "detail" in answer.json(), (body, answer.text)
    assert (await http.get(f"/threads/{tid}/retention")).json()["policy"] is None  # unchanged
    missing = await http.put(
        "/threads/00000000-0000-4000-8000-000000000000/retention", json={"keep_last": 2}
    )
    assert missing.status_code == 404 and "detail" in missing.json()
