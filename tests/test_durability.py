"""Durability: what a SQLite-backed server keeps across a clean restart and across SIGKILL.

Each test runs its own `python -m distaff serve` processes on its own SQLite file (not the
shared session servers), because the point is to stop and restart them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.backends import DURABLE
from tests.clients import sdk, wait_status
from tests.conftest import ARTIFACTS, database_url
from tests.servers import Server


def _msg(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _contents(values: Any) -> list[str]:
    return [m["content"] for m in (values or {}).get("messages", [])]


@pytest.fixture
def log_path(request: pytest.FixtureRequest) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"durability-{request.node.name}.log"
    path.unlink(missing_ok=True)
    return path


@pytest.fixture(params=DURABLE)
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each durable backend."""
    return database_url(request.param, tmp_path, request)


@contextmanager
def running(url: str, log_path: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A started server that is always gone after the block (killed if still alive)."""
    srv = Server(url, env=env or {}, log_path=log_path)
    try:
        yield srv.start()
    finally:
        srv.kill()


# --- a clean restart keeps everything ------------------------------------------------------


async def test_sigterm_restart_keeps_assistants_threads_runs_and_checkpoints(
    durable_url: str, log_path: Path
) -> None:
    with running(durable_url, log_path) as first:
        async with sdk(first) as client:
            mine = await client.assistants.create(
                "agent",
                name="mine",
                metadata={"owner": "durability"},
                config={"configurable": {"k": "v1"}},
            )
            await client.assistants.update(
                mine["assistant_id"], config={"configurable": {"k": "v2"}}, name="mine-2"
            )
            thread = await client.threads.create(metadata={"purpose": "restart"})
            tid = thread["thread_id"]
            await client.runs.wait(tid, "agent", input=_msg("hi"))
            bg = await client.runs.create(tid, mine["assistant_id"], input=_msg("again"))
            await client.runs.join(tid, bg["run_id"])
            other = await client.threads.create(metadata={"purpose": "second"})
            await client.runs.wait(other["thread_id"], "trivial", input=_msg("x"))

            before_assistants = {
                a["assistant_id"]: a for a in await client.assistants.search(limit=100)
            }
            before_versions = await client.assistants.get_versions(mine["assistant_id"])
            before_thread = await client.threads.get(tid)
            before_runs = await client.runs.list(tid)
            before_state = await client.threads.get_state(tid)
            before_history = await client.threads.get_history(tid, limit=100)

        first.stop(signal.SIGTERM)
        assert first.process is not None
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM, not 0.
        assert first.process.returncode in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log_path.read_text()

    with running(durable_url, log_path) as second:
        async with sdk(second) as client:
            after_assistants = {
                a["assistant_id"]: a for a in await client.assistants.search(limit=100)
            }
            assert set(after_assistants) == set(before_assistants)
            got = await client.assistants.get(mine["assistant_id"])
            assert got["name"] == "mine-2"
            assert got["version"] == 2
            assert got["config"]["configurable"]["k"] == "v2"
            assert got["metadata"]["owner"] == "durability"
            versions = await client.assistants.get_versions(mine["assistant_id"])
            assert sorted(v["version"] for v in versions) == [1, 2]
            assert {v["version"]: v["config"] for v in versions} == {
                v["version"]: v["config"] for v in before_versions
            }

            after_thread = await client.threads.get(tid)
            assert after_thread["metadata"]["purpose"] == "restart"
            assert after_thread["status"] == "idle"
            assert after_thread["values"] == before_thread["values"]
            assert _contents(after_thread["values"]) == [
                "hi",
                "Hello there friend",
                "again",
                "Hello there friend",
            ]

            after_runs = await client.runs.list(tid)
            assert [r["run_id"] for r in after_runs] == [r["run_id"] for r in before_runs]
            assert [r["status"] for r in after_runs] == ["success", "success"]
            assert {r["assistant_id"] for r in after_runs} == {
                r["assistant_id"] for r in before_runs
            }

            state = await client.threads.get_state(tid)
            assert state["values"] == before_state["values"]
            assert state["checkpoint"] == before_state["checkpoint"]
            assert state["next"] == []
            history = await client.threads.get_history(tid, limit=100)
            assert [h["checkpoint"]["checkpoint_id"] for h in history] == [
                h["checkpoint"]["checkpoint_id"] for h in before_history
            ]
            assert len(history) >= 4
            # An old checkpoint can still be read by id.
            oldest = history[-1]["checkpoint"]
            old_state = await client.threads.get_state(tid, checkpoint=oldest)
            assert old_state["checkpoint"]["checkpoint_id"] == oldest["checkpoint_id"]

            second_thread = await client.threads.get(other["thread_id"])
            assert second_thread["metadata"]["purpose"] == "second"
            assert _contents(second_thread["values"]) == ["x", "ok"]

            # The restarted server keeps working on the old data.
            await client.runs.wait(tid, mine["assistant_id"], input=_msg("third"))
            assert len(_contents((await client.threads.get(tid))["values"])) == 6


# --- SIGKILL in the middle of a run ---------------------------------------------------------


SLOW_ENV = {"DISTAFF_TEST_SLOW_DELAY": "0.1"}


async def test_sigkill_during_run_resumes_it_and_the_queued_run_behind_it(
    durable_url: str, log_path: Path
) -> None:
    with running(durable_url, log_path, SLOW_ENV) as first:
        async with sdk(first) as client:
            thread = await client.threads.create()
            tid = thread["thread_id"]
            busy = await client.runs.create(tid, "slow", input=_msg("20"))
            queued = await client.runs.create(
                tid, "slow", input=_msg("2"), multitask_strategy="enqueue"
            )
            await wait_status(client, tid, busy["run_id"], {"running"})
            await asyncio.sleep(0.3)  # a few ticks in: the input checkpoint is written
            assert (await client.runs.get(tid, queued["run_id"]))["status"] == "pending"
        first.kill()

    with running(durable_url, log_path, SLOW_ENV) as second:
        async with sdk(second) as client:
            await wait_status(client, tid, busy["run_id"], {"success", "error"}, timeout=20)
            await wait_status(client, tid, queued["run_id"], {"success", "error"}, timeout=20)
            runs = {r["run_id"]: r for r in await client.runs.list(tid)}
            assert runs[busy["run_id"]]["status"] == "success"
            assert runs[queued["run_id"]]["status"] == "success"
            got = await client.threads.get(tid)
            assert got["status"] == "idle"
            # The interrupted run resumed from its checkpoint: its input was not applied twice.
            assert _contents(got["values"]) == ["20", "slow done", "2", "slow done"]
            state = await client.threads.get_state(tid)
            assert _contents(state["values"]) == _contents(got["values"])
            assert state["next"] == []


async def test_acknowledged_background_runs_survive_sigkill(
    durable_url: str, log_path: Path
) -> None:
    # Killed right after the last POST returned: the runs are pending or running, not done.
    env = SLOW_ENV
    with running(durable_url, log_path, env) as first:
        async with first.http() as http:
            tids = [(await http.post("/threads", json={})).json()["thread_id"] for _ in range(3)]
            acked: list[tuple[str, str]] = []
            for tid in tids:
                resp = await http.post(
                    f"/threads/{tid}/runs",
                    json={"assistant_id": "slow", "input": _msg("3")},
                )
                assert resp.status_code == 200, resp.text
                acked.append((tid, resp.json()["run_id"]))
            # A run on a thread created by the run itself, acknowledged just before the kill.
            new_tid = "6f1f4c3e-0c1d-4a57-9f0e-3b8f2f6a0a01"
            resp = await http.post(
                f"/threads/{new_tid}/runs",
                json={"assistant_id": "trivial", "input": _msg("q"), "if_not_exists": "create"},
            )
            assert resp.status_code == 200, resp.text
            acked.append((new_tid, resp.json()["run_id"]))
        first.kill()

    with running(durable_url, log_path, env) as second:
        async with sdk(second) as client:
            for tid, run_id in acked:
                status = await wait_status(
                    client, tid, run_id, {"success", "error", "interrupted"}, timeout=20
                )
                assert status == "success", (tid, run_id, status)
            for tid in tids:
                got = await client.threads.get(tid)
                assert got["status"] == "idle"
                assert _contents(got["values"]) == ["3", "slow done"]
            got = await client.threads.get(new_tid)
            assert _contents(got["values"]) == ["q", "ok"]


# --- memory:// forgets, by design -----------------------------------------------------------


async def test_memory_backend_forgets_on_restart(log_path: Path) -> None:
    with running("memory://", log_path) as first:
        async with sdk(first) as client:
            thread = await client.threads.create(metadata={"x": 1})
            await client.runs.wait(thread["thread_id"], "trivial", input=_msg("a"))
            mine = await client.assistants.create("agent", name="mine")
    with running("memory://", log_path) as second:
        async with second.http() as http:
            assert (await http.get(f"/threads/{thread['thread_id']}")).status_code == 404
            assert (await http.get(f"/assistants/{mine['assistant_id']}")).status_code == 404
            # The system assistants come back, one per graph.
            found = (await http.post("/assistants/search", json={"limit": 100})).json()
            assert {a["graph_id"] for a in found} >= {"agent", "trivial", "slow"}


async def test_sigterm_during_long_run_hands_it_back_and_the_next_process_finishes_it(
    durable_url: str, log_path: Path
) -> None:
    # 60 ticks of 0.05 s outlast a 1 s shutdown grace (`shutdown_grace_seconds`): the run
    # is cut and handed back (the log says so), and the next process runs it again.
    env = {"DISTAFF_TEST_SLOW_DELAY": "0.05", "DISTAFF_SHUTDOWN_GRACE_SECONDS": "1"}
    with running(durable_url, log_path, env) as first:
        async with sdk(first) as client:
            thread = await client.threads.create()
            tid = thread["thread_id"]
            run = await client.runs.create(tid, "slow", input=_msg("60"))
            await wait_status(client, tid, run["run_id"], {"running"})
        first.stop(signal.SIGTERM)
    assert "run ended: requeued" in log_path.read_text()

    with running(durable_url, log_path, env) as second:
        async with sdk(second) as client:
            status = await wait_status(
                client, tid, run["run_id"], {"success", "error", "interrupted"}, timeout=20
            )
            assert status == "success"
            got = await client.threads.get(tid)
            assert got["status"] == "idle"
            assert _contents(got["values"]) == ["60", "slow done"]
    assert "(graph slow, attempt 2)" in log_path.read_text()


async def test_a_run_whose_process_keeps_dying_ends_in_error_after_its_attempts(
    durable_url: str, log_path: Path
) -> None:
    """Bounded retries: with two attempts allowed, a run that was running when the process
    died twice is not tried a third time; it ends `error` and its thread says so."""
    env = {**SLOW_ENV, "DISTAFF_MAX_RUN_ATTEMPTS": "2"}
    with running(durable_url, log_path, env) as first:
        async with sdk(first) as client:
            tid = (await client.threads.create())["thread_id"]
            run = await client.runs.create(tid, "slow", input=_msg("500"))
            await wait_status(client, tid, run["run_id"], {"running"})
        first.kill()
    with running(durable_url, log_path, env) as second:
        async with sdk(second) as client:
            await wait_status(client, tid, run["run_id"], {"running"})
        second.kill()
    with running(durable_url, log_path, env) as third:
        async with sdk(third) as client:
            assert await wait_status(client, tid, run["run_id"], {"error", "success"}) == "error"
            thread = await client.threads.get(tid)
            assert thread["status"] == "error"
            assert thread["error"]["error"] == "RunAttemptsExceeded"


async def test_a_scheduled_run_still_starts_after_a_restart(
    durable_url: str, log_path: Path
) -> None:
    """`after_seconds` is stored with the run, not kept in a timer: a restart in between does
    not lose it, and it does not start early: it ends after it was due; and if the next start
    came within the 8 s (it does unless the machine is very
    loaded), the run is still pending then."""
    with running(durable_url, log_path) as first:
        async with sdk(first) as client:
            tid = (await client.threads.create())["thread_id"]
            run = await client.runs.create(tid, "trivial", input=_msg("later"), after_seconds=8)
            due = time.monotonic() + 8
            first.stop()
    with running(durable_url, log_path) as second:
        async with sdk(second) as client:
            status = (await client.runs.get(tid, run["run_id"]))["status"]
            if time.monotonic() < due - 1:
                assert status == "pending"
            await wait_status(client, tid, run["run_id"], {"success"}, timeout=20)
            thread = await client.threads.get(tid)
            assert _contents(thread["values"]) == ["later", "ok"]
            # A scheduled run's `created_at` is when it is due (as in the reference).
            finished = (await client.runs.get(tid, run["run_id"]))["updated_at"]
            assert finished >= run["created_at"]


# --- one process per SQLite file -----------------------------------------------------------


async def test_a_second_process_on_the_same_sqlite_file_refuses_to_start(
    tmp_path: Path, log_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with running(url, log_path, env={"DISTAFF_TEST_SLOW_DELAY": "0.2"}) as first:
        async with sdk(first) as client:
            thread = await client.threads.create()
            run = await client.runs.create(thread["thread_id"], "slow", input=_msg("10"))
            second = Server(url, log_path=tmp_path / "second.log")
            with pytest.raises(RuntimeError, match="exited"):
                second.start()
            said = (tmp_path / "second.log").read_text()
            assert first.process is not None
            expected = (
                f"{(tmp_path / 'db.sqlite').resolve()} is in use by another distaff process"
                f" (pid {first.process.pid})"
            )
            assert expected in said, said
            assert "PostgreSQL" in said and "Traceback" not in said, said
            # The first process still owns its run, which ends once, there.
            assert await wait_status(client, thread["thread_id"], run["run_id"], {"success"}) == (
                "success"
            )
    # Once the first is gone, the file is free again (even after a SIGKILL: the OS lock goes
    # with the process).
    with running(url, log_path) as again:
        async with sdk(again) as client:
            assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
