"""Several server processes on one PostgreSQL database: any replica serves any run.

`front` runs no queue worker (`serve --no-worker`), so every run created through it executes
in `back`: whatever a client of `front` sees of a run came across processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.backends import SHARED_SERVERS
from tests.clients import wait_status
from tests.conftest import ARTIFACTS, backend_env, database_url
from tests.servers import MANIFEST, Server, big_header, send_head

SLOW_ENV = {"DISTAFF_TEST_SLOW_DELAY": "0.1"}


@pytest.fixture(scope="module", params=SHARED_SERVERS)
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two processes on one database; with `redis`, stream events and cancels go through
    Redis."""
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.param
    url = database_url(backend, tmp_path_factory.mktemp("replicas"), request)
    env = {**SLOW_ENV, **backend_env(backend, request)}
    back = Server(url, env=env, log_path=ARTIFACTS / f"replicas-{backend}-back.log").start()
    front = Server(
        url, env=env, log_path=ARTIFACTS / f"replicas-{backend}-front.log", args=["--no-worker"]
    ).start()
    yield front, back
    front.stop()
    back.stop()


@pytest.fixture
async def front(replicas: tuple[Server, Server]) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=replicas[0].url, timeout=30)
    yield lg
    await lg.http.client.aclose()


@pytest.fixture
async def back(replicas: tuple[Server, Server]) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=replicas[1].url, timeout=30)
    yield lg
    await lg.http.client.aclose()


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _contents(values: Any) -> list[str]:
    return [m["content"] for m in (values or {}).get("messages", [])]


async def test_wait_on_a_replica_that_does_not_execute(front: LangGraphClient) -> None:
    thread = await front.threads.create()
    result = await front.runs.wait(thread["thread_id"], "agent", input=_msg("hi"))
    assert _contents(result) == ["hi", "Hello there friend"]
    # Stateless: the temporary thread is gone when the run ends; the values come with the end.
    stateless = await front.runs.wait(None, "trivial", input=_msg("x"))
    assert _contents(stateless) == ["x", "ok"]
    runs = await front.runs.list(thread["thread_id"])
    assert [r["status"] for r in runs] == ["success"]


async def test_stream_across_replicas_matches_a_local_stream(
    front: LangGraphClient, back: LangGraphClient
) -> None:
    async def chunks(client: LangGraphClient) -> list[tuple[str, Any]]:
        thread = await client.threads.create()
        got = []
        async for part in client.runs.stream(
            thread["thread_id"],
            "slow",
            input=_msg("4"),
            stream_mode=["values", "updates", "custom"],
        ):
            data = part.data
            if part.event == "metadata":
                data = sorted(data)  # run ids differ; the keys do not
            elif part.event == "values":
                data = _contents(data)
            elif part.event == "updates":
                data = {k: _contents(v) for k, v in data.items()}
            got.append((part.event, data))
        return got

    remote, local = await chunks(front), await chunks(back)
    assert remote == local
    assert [e for e, _ in remote].count("custom") == 4
    assert remote[-1] == ("values", ["4", "slow done"])


async def test_join_and_join_stream_a_run_executing_elsewhere(
    front: LangGraphClient, back: LangGraphClient
) -> None:
    thread = await back.threads.create()
    tid = thread["thread_id"]
    run = await back.runs.create(tid, "slow", input=_msg("8"), stream_mode=["custom", "values"])
    await wait_status(front, tid, run["run_id"], {"running"})
    events = [p.event async for p in front.runs.join_stream(tid, run["run_id"])]
    assert "custom" in events
    assert events[-1] == "values"
    # The run is over: join answers from the stored state.
    assert _contents(await front.runs.join(tid, run["run_id"])) == ["8", "slow done"]

    # A join waiting on `front` for a run that `back` is still executing.
    second = await back.runs.create(tid, "slow", input=_msg("5"))
    joined = await front.runs.join(tid, second["run_id"])
    assert _contents(joined)[-2:] == ["5", "slow done"]


async def test_resumable_stream_rejoined_on_either_replica(
    replicas: tuple[Server, Server], front: LangGraphClient
) -> None:
    thread = await front.threads.create()
    tid = thread["thread_id"]
    run = await front.runs.create(
        tid, "slow", input=_msg("10"), stream_mode=["custom"], stream_resumable=True
    )
    rid = run["run_id"]
    await wait_status(front, tid, rid, {"success"})
    full: dict[str, list[tuple[str, str]]] = {}
    for srv in replicas:
        async with srv.http() as http:
            response = await http.get(
                f"/threads/{tid}/runs/{rid}/stream", headers={"Last-Event-ID": "-1"}
            )
            assert response.status_code == 200
            full[srv.url] = _frames(response.content)
    first, second = full.values()
    assert first == second
    ticks = [f for f in first if f[0] == "custom"]
    assert len(ticks) == 10
    # Resume after the fourth tick, from each replica: exactly the rest, the same ids.
    after = ticks[3][1]
    for srv in replicas:
        async with srv.http() as http:
            response = await http.get(
                f"/threads/{tid}/runs/{rid}/stream", headers={"Last-Event-ID": after}
            )
            rest = _frames(response.content)
            assert rest == first[first.index(ticks[3]) + 1 :]


def _frames(body: bytes) -> list[tuple[str, str]]:
    """(event, id) of each SSE frame that has an id."""
    frames = []
    for block in body.decode().split("\r\n\r\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\r\n") if ": " in line and line[0] != ":"
        )
        if "id" in fields:
            frames.append((fields["event"], fields["id"]))
    return frames


async def test_live_resumable_stream_resumed_on_the_other_replica(
    replicas: tuple[Server, Server], front: LangGraphClient
) -> None:
    """Read part of a live stream on one replica, drop it, resume on the other: every event
    exactly once."""
    thread = await front.threads.create()
    tid = thread["thread_id"]
    seen: list[tuple[str, str]] = []
    last_id = None
    async with replicas[1].http() as http:
        body = {
            "assistant_id": "slow",
            "input": _msg("12"),
            "stream_mode": ["custom"],
            "stream_resumable": True,
        }
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
            location = response.headers["content-location"]
            buffer = b""
            async for raw in response.aiter_bytes():
                buffer += raw
                *complete, buffer = buffer.split(b"\r\n\r\n")
                for frame in _frames(b"\r\n\r\n".join(complete) + b"\r\n\r\n"):
                    seen.append(frame)
                    last_id = frame[1]
                if sum(1 for e, _ in seen if e == "custom") >= 3:
                    break
    assert last_id is not None
    async with replicas[0].http() as http:
        response = await http.get(f"{location}/stream", headers={"Last-Event-ID": last_id})
        seen += _frames(response.content)
    ticks = [e for e, _ in seen if e == "custom"]
    assert len(ticks) == 12
    ids = [i for _, i in seen]
    assert len(ids) == len(set(ids))


async def test_cancel_from_the_replica_that_does_not_execute(
    front: LangGraphClient, back: LangGraphClient
) -> None:
    thread = await front.threads.create()
    tid = thread["thread_id"]
    run = await front.runs.create(tid, "slow", input=_msg("200"))
    await wait_status(back, tid, run["run_id"], {"running"})
    started = time.monotonic()
    await front.runs.cancel(tid, run["run_id"], wait=True)
    assert time.monotonic() - started < 3
    assert (await back.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    # And the other way round, a run streaming to `front`'s client cancelled through `back`.
    second = await front.runs.create(tid, "slow", input=_msg("200"))
    await wait_status(front, tid, second["run_id"], {"running"})
    await back.runs.cancel(tid, second["run_id"])
    assert await wait_status(front, tid, second["run_id"], {"interrupted"}) == "interrupted"


async def test_reject_holds_across_replicas(front: LangGraphClient, back: LangGraphClient) -> None:
    thread = await back.threads.create()
    tid = thread["thread_id"]
    busy = await back.runs.create(tid, "slow", input=_msg("30"))
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await front.runs.create(tid, "slow", input=_msg("1"), multitask_strategy="reject")
    assert refused.value.response.status_code == 409
    # `interrupt` from the other replica stops the busy run and runs the new one.
    newer = await front.runs.create(tid, "slow", input=_msg("1"), multitask_strategy="interrupt")
    assert await wait_status(back, tid, busy["run_id"], {"interrupted", "success"}) == "interrupted"
    assert await wait_status(back, tid, newer["run_id"], {"success"}) == "success"


async def test_thread_stream_on_one_replica_sees_runs_executed_on_the_other(
    replicas: tuple[Server, Server], back: LangGraphClient
) -> None:
    thread = await back.threads.create()
    tid = thread["thread_id"]
    async with replicas[0].http() as http:
        modes = {"stream_modes": ["run_modes", "lifecycle"]}
        async with http.stream("GET", f"/threads/{tid}/stream", params=modes) as response:
            await asyncio.sleep(0.3)  # the watch reaches the other replica
            run = await back.runs.create(tid, "slow", input=_msg("3"), stream_mode=["custom"])
            await back.runs.join(tid, run["run_id"])
            text = ""
            async for raw in response.aiter_text():
                text += raw
                if "run_done" in text:
                    break
    assert text.count("event: custom") == 3
    assert '"status":"run_done"' in text


async def test_deleting_a_thread_stops_its_run_on_the_other_replica(
    front: LangGraphClient, back: LangGraphClient
) -> None:
    thread = await front.threads.create()
    tid = thread["thread_id"]
    run = await front.runs.create(tid, "slow", input=_msg("200"))
    await wait_status(back, tid, run["run_id"], {"running"})
    await front.threads.delete(tid)
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await back.threads.get(tid)
    assert gone.value.response.status_code == 404
    await asyncio.sleep(0.5)  # nothing the stopped run wrote brings the thread back
    with pytest.raises(httpx.HTTPStatusError):
        await back.threads.get_state(tid)


async def test_a_run_uses_the_assistant_as_another_replica_last_changed_it(
    front: LangGraphClient, back: LangGraphClient
) -> None:
    """`front` keeps the assistants its runs were made from; a change made through `back` is
    still what its next run uses (the insert checks the copy), and a deleted one is gone."""
    a = await back.assistants.create("configured", context={"tone": "first"})

    async def tone(thread_id: str | None) -> Any:
        result = await front.runs.wait(thread_id, a["assistant_id"], input={})
        return result["seen"]["context"]["tone"]

    thread = await front.threads.create()
    assert await tone(None) == "first"
    assert await tone(thread["thread_id"]) == "first"
    await back.assistants.update(a["assistant_id"], context={"tone": "second"})
    assert await tone(None) == "second"
    assert await tone(thread["thread_id"]) == "second"
    await back.assistants.update(a["assistant_id"], context={"tone": "third"})
    assert await tone(thread["thread_id"]) == "third"
    assert await tone(None) == "third"
    await back.assistants.delete(a["assistant_id"])
    gone = await front.http.client.post(
        "/runs/wait", json={"assistant_id": a["assistant_id"], "input": {}}
    )
    assert gone.status_code == 404, gone.text
    assert (await front.runs.list(thread["thread_id"]))[0]["status"] == "success"


def test_every_replica_reports_the_same_data(replicas: tuple[Server, Server]) -> None:
    front, back = (httpx.Client(base_url=s.url) for s in replicas)
    with front, back:
        body = {"limit": 1000}
        assert front.post("/threads/search", json=body).json() == (
            back.post("/threads/search", json=body).json()
        )


async def test_api_processes_and_worker_processes_apart(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`serve --no-worker --workers 2` answers; `distaff worker` processes execute; a worker
    stopped with SIGTERM finishes (or hands back) what it runs and exits cleanly."""
    url = database_url("postgres", tmp_path, request)
    log = ARTIFACTS / "replicas-apart.log"
    api = Server(url, env=SLOW_ENV, log_path=log, args=["--no-worker", "--workers", "2"])
    workers: list[subprocess.Popen[bytes]] = []
    try:
        api.start()
        assert api.process is not None
        children = _children(api.process.pid)
        assert len(children) == 2, children
        # Both server processes bound the request head (the protocol is named by import
        # string, so the spawned workers load it): a few connections reach each.
        for _ in range(4):
            head, _ = send_head(api.port, big_header(100_000))
            assert head.startswith(b"HTTP/1.1 431"), head
        thread_ids = []
        client = get_client(url=api.url, timeout=30)
        for i in range(6):
            thread = await client.threads.create()
            thread_ids.append(thread["thread_id"])
            await client.runs.create(thread["thread_id"], "slow", input=_msg(str(i % 3 + 2)))
        await asyncio.sleep(0.5)
        pending = await client.runs.list(thread_ids[0])
        assert [r["status"] for r in pending] == ["pending"]  # nobody executes yet
        with open(log, "ab") as out:
            for _ in range(2):
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "distaff", "worker", "--config", str(MANIFEST)],
                        env={**os.environ, **SLOW_ENV, "DISTAFF_DATABASE_URL": url},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        for tid in thread_ids:
            run = (await client.runs.list(tid))[0]
            result = await client.runs.join(tid, run["run_id"])
            assert _contents(result)[-1] == "slow done"
        await client.http.client.aclose()
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(20) for proc in workers]
        api.stop()
    assert codes == [0, 0]
    assert "worker stopped" in log.read_text()


def _children(pid: int) -> list[int]:
    """uvicorn's worker processes under `pid`."""
    deadline = time.monotonic() + 10
    found: list[int] = []
    while time.monotonic() < deadline:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                # Not multiprocessing's resource tracker, also a child.
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                    found.append(int(entry.name))
        if len(found) >= 2:
            break
        time.sleep(0.1)
    return found
