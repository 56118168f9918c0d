"""Zero-loss deploys: on SIGTERM a running run stops at its graph's next step boundary (its
checkpoint saved), goes back to the queue, and the next process resumes it at that step, so no
node runs twice; a client waiting or streaming (v1 and v2) on another replica sees it through to
its end.

The `steps` graph runs one node a superstep and appends each step's start to a file, which
shows what ran twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.backends import DURABLE
from tests.clients import sdk, wait_status
from tests.conftest import ARTIFACTS, database_url
from tests.servers import MANIFEST, Server
from tests.v2 import ends_after, read_stream, root_terminal

STEPS = 12


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _env(steps_log: Path) -> dict[str, str]:
    # 0.3 s steps: a SIGTERM lands mid-step; the grace (10 s) is far longer than one step.
    return {
        "DISTAFF_TEST_SLOW_DELAY": "0.3",
        "DISTAFF_TEST_STEPS_LOG": str(steps_log),
        "DISTAFF_SHUTDOWN_GRACE_SECONDS": "10",
    }


def _started(steps_log: Path) -> list[int]:
    text = steps_log.read_text() if steps_log.exists() else ""
    return [int(line) for line in text.split()]


async def _until_started(steps_log: Path, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(_started(steps_log)) < n:
        assert time.monotonic() < deadline, _started(steps_log)
        await asyncio.sleep(0.05)


@pytest.fixture(params=DURABLE)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request.param, tmp_path, request)


async def test_sigterm_drains_a_run_and_the_next_start_resumes_it_with_every_step_once(
    url: str, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"drain-{url.split(':')[0]}.log"
    log.unlink(missing_ok=True)
    steps_log = tmp_path / "steps.log"
    env = _env(steps_log)
    first = Server(url, env=env, log_path=log).start()
    try:
        async with sdk(first) as client:
            tid = (await client.threads.create())["thread_id"]
            run = await client.runs.create(tid, "steps", input=_msg(str(STEPS)))
            await _until_started(steps_log, 3)
            stopped_at = time.monotonic()
            first.stop(signal.SIGTERM)
            # The step that ran finished, and the process went: no 10 s grace spent.
            assert time.monotonic() - stopped_at < 5
    finally:
        first.kill()
    text = log.read_text()
    assert "run ended: drained" in text
    assert "run ended: requeued" not in text
    before = _started(steps_log)
    assert before == list(range(len(before))) and len(before) < STEPS

    second = Server(url, env=env, log_path=log).start()
    try:
        async with sdk(second) as client:
            status = await wait_status(client, tid, run["run_id"], {"success", "error"}, timeout=30)
            assert status == "success"
            thread = await client.threads.get(tid)
            assert thread["status"] == "idle"
            assert thread["values"]["done"] == STEPS
    finally:
        second.stop()
    # Every step started exactly once, across the two processes.
    assert _started(steps_log) == list(range(STEPS))


async def test_a_wait_on_another_replica_sees_a_drained_run_through_on_the_next_worker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_url("postgres", tmp_path, request)
    log = ARTIFACTS / "drain-replicas.log"
    log.unlink(missing_ok=True)
    steps_log = tmp_path / "steps.log"
    env = _env(steps_log)
    api = Server(url, env=env, log_path=log, args=["--no-worker"]).start()
    workers: list[subprocess.Popen[bytes]] = []

    def worker() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "distaff", "worker", "--config", str(MANIFEST)],
                env={**os.environ, **env, "DISTAFF_DATABASE_URL": url},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        workers.append(proc)
        return proc

    client = get_client(url=api.url, timeout=60)
    http = api.http()
    try:
        first = worker()
        tid = (await client.threads.create())["thread_id"]
        # A v2 thread stream, a v1 stream and a wait, all on the API process, which executes
        # nothing.
        opened = asyncio.Event()
        followed = asyncio.create_task(
            read_stream(
                http,
                tid,
                {"channels": ["values", "lifecycle"]},
                ends_after(1),
                timeout=90,
                on_open=opened.set,
            )
        )
        await asyncio.wait_for(opened.wait(), 10)
        streamed = asyncio.create_task(
            _collect(client.runs.stream(tid, "steps", input=_msg(str(STEPS)), stream_mode="values"))
        )
        await _until_started(steps_log, 3)
        run_id = (await client.runs.list(tid))[0]["run_id"]
        waited = asyncio.create_task(client.runs.join(tid, run_id))
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
        assert "run ended: drained" in log.read_text()
        assert len(_started(steps_log)) < STEPS
        worker()  # the next deploy's worker
        result = await asyncio.wait_for(waited, 60)
        assert result["done"] == STEPS
        events = await asyncio.wait_for(streamed, 60)
        values = [e.data for e in events if e.event == "values"]
        assert values[-1]["done"] == STEPS
        assert not [e for e in events if e.event == "error"], events
        assert await wait_status(client, tid, run_id, {"success"}) == "success"
        # The v2 stream followed the run across the drain to its one end, on the next worker.
        v2 = (await asyncio.wait_for(followed, 60)).events
        ends = [e["params"]["data"]["event"] for e in v2 if root_terminal(e)]
        assert ends == ["completed"], ends
        v2_values = [e["params"]["data"] for e in v2 if e["method"] == "values"]
        assert v2_values[-1]["done"] == STEPS
    finally:
        await http.aclose()
        await client.http.client.aclose()
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            proc.wait(20)
        api.stop()
    assert _started(steps_log) == list(range(STEPS))


async def _collect(stream: Any) -> list[Any]:
    return [part async for part in stream]
