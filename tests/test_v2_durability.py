"""The v2 stream's history is the thread's, not a process's: it survives a restart and a
crash, reads the same from every replica (PostgreSQL, with and without Redis), and is bounded
per thread (contract section 13: "a thread-global, persisted seq")."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import DURABLE, SHARED_SERVERS
from tests.conftest import ARTIFACTS, backend_env, database_url
from tests.postgres import Cluster
from tests.servers import Server
from tests.v2 import (
    ALL_CHANNELS,
    Envelope,
    command,
    ends_after,
    msg,
    new_thread,
    read_stream,
    replay,
    root_terminal,
    start,
    text_of,
)
from tests.v2 import HEARTBEAT as BEAT

HEARTBEAT = {"DISTAFF_HEARTBEAT_SECONDS": str(BEAT)}


async def _run_to_end(
    srv: Server, thread_id: str, assistant: str, inp: Any, since: int = 0
) -> list[Envelope]:
    """The events of one run, streamed live (`since`: the thread's last seq before it)."""
    async with srv.http() as http:
        frames = await read_stream(
            http,
            thread_id,
            {"channels": ALL_CHANNELS, "since": since},
            ends_after(1),
            on_open=lambda: start(http, thread_id, assistant, input=inp),
        )
    return frames.events


def _check_numbering(events: list[Envelope]) -> None:
    """Strictly increasing, one id per event; contiguous within a run's attempt (a retried
    attempt numbers on past a gap)."""
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert len({e["event_id"] for e in events}) == len(events)
    for before, after in itertools.pairwise(events):
        retry = after["method"] == "lifecycle" and after["params"]["data"]["event"] == "running"
        assert retry or after["seq"] == before["seq"] + 1, (before, after)


@pytest.mark.parametrize("ending", ["stopped", "killed"])
@pytest.mark.parametrize("backend", DURABLE)
async def test_history_and_since_survive_a_restart(
    backend: str, ending: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`killed`: SIGKILL the moment the run's end arrives. A client shown a run's end can rely
    on all of the run's events being stored: a lone process writes a running run's events only
    every quarter second; the rest, and the end, go in the transaction that records the end."""
    ARTIFACTS.mkdir(exist_ok=True)
    url = database_url(backend, tmp_path, request)
    log = ARTIFACTS / f"v2-restart-{backend}-{ending}.log"
    tid = new_thread()
    first = Server(url, env=HEARTBEAT, log_path=log).start()
    try:
        live = await _run_to_end(first, tid, "agent", msg("before"))
    finally:
        first.kill() if ending == "killed" else first.stop()
    assert root_terminal(live[-1])
    second = Server(url, env=HEARTBEAT, log_path=log).start()
    try:
        assert await replay(second.url, tid) == live
        assert (
            await replay(second.url, tid, {"channels": ALL_CHANNELS, "since": live[5]["seq"]})
            == live[6:]
        )
        async with second.http() as http:
            assert (await http.get(f"/threads/{tid}/runs")).json()[0]["status"] == "success"
        # Numbering goes on from where the first process stopped.
        more = await _run_to_end(second, tid, "agent", msg("after"), since=live[-1]["seq"])
        assert more[0]["seq"] == live[-1]["seq"] + 1
        everything = await replay(second.url, tid)
        assert everything == live + more
        _check_numbering(everything)
    finally:
        second.stop()


async def test_a_crash_mid_run_loses_no_acknowledged_event(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGKILL while a run streams: the run resumes after the restart, and its stream shows a
    second `running` (the new attempt) and one end, numbered on without a gap or a repeat."""
    ARTIFACTS.mkdir(exist_ok=True)
    url = database_url("sqlite", tmp_path, request)
    log = ARTIFACTS / "v2-crash.log"
    env = {**HEARTBEAT, "DISTAFF_TEST_SLOW_DELAY": "0.2"}
    tid = new_thread()
    first = Server(url, env=env, log_path=log).start()
    try:
        async with first.http() as http:
            seen = await read_stream(
                http,
                tid,
                {"channels": ALL_CHANNELS},
                lambda events: sum(e["method"] == "custom" for e in events) >= 3,
                on_open=lambda: start(http, tid, "slow", input=msg("8")),
            )
    finally:
        first.kill()
    second = Server(url, env=env, log_path=log).start()
    try:
        async with second.http() as http:
            rest = await read_stream(
                http,
                tid,
                {"channels": ALL_CHANNELS, "since": seen.events[-1]["seq"]},
                lambda events: any(root_terminal(e) for e in events),
            )
        whole = await replay(second.url, tid)
    finally:
        second.stop()
    # What the log kept of the first attempt is what a client saw of it, less at most the
    # last moments (shown, not yet written when the process died).
    first_attempt = [e for e in whole if e["seq"] <= seen.events[-1]["seq"]]
    assert first_attempt == seen.events[: len(first_attempt)]
    # The new attempt numbers on past anything shown: resuming from what the client saw
    # gives exactly the rest, once.
    assert rest.events == whole[len(first_attempt) :]
    assert rest.events[0]["seq"] > seen.events[-1]["seq"]
    _check_numbering(whole)
    roots = [e["params"]["data"]["event"] for e in whole if e["method"] == "lifecycle"]
    assert roots.count("running") == 2 and roots[-1] == "completed"
    assert roots.count("completed") == 1


@pytest.fixture(scope="module", params=SHARED_SERVERS)
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """`front` runs no worker: every run executes in `back`."""
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.param
    url = database_url(backend, tmp_path_factory.mktemp("v2-replicas"), request)
    env = {**HEARTBEAT, "DISTAFF_TEST_SLOW_DELAY": "0.1", **backend_env(backend, request)}
    back = Server(url, env=env, log_path=ARTIFACTS / f"v2-replicas-{backend}-back.log").start()
    front = Server(
        url,
        env=env,
        log_path=ARTIFACTS / f"v2-replicas-{backend}-front.log",
        args=["--no-worker"],
    ).start()
    yield front, back
    front.stop()
    back.stop()


async def test_start_on_one_replica_stream_and_resume_on_the_other(
    replicas: tuple[Server, Server],
) -> None:
    front, back = replicas
    tid = new_thread()
    # Started and streamed through `front`; executed by `back`.
    live = await _run_to_end(front, tid, "agent", msg("hi"))
    assert text_of(live) == "Hello there friend"
    _check_numbering(live)
    assert await replay(back.url, tid) == live
    assert (
        await replay(front.url, tid, {"channels": ALL_CHANNELS, "since": live[3]["seq"]})
        == live[4:]
    )
    # Interrupted on one replica, answered on the other, the answer streamed on the first.
    async with front.http() as f, back.http() as b:

        async def hitl() -> None:
            await start(f, tid, "hitl", input=msg("please"))
            while True:
                events = await replay(
                    back.url, tid, {"channels": ALL_CHANNELS, "since": live[-1]["seq"]}
                )
                asked = [e for e in events if e["method"] == "input.requested"]
                if asked:
                    break
                await asyncio.sleep(0.05)
            params = {
                "interrupt_id": asked[0]["params"]["data"]["interrupt_id"],
                "namespace": [],
                "response": "yes",
            }
            reply = await command(b, tid, "input.respond", params)
            assert reply["type"] == "success", reply

        frames = await read_stream(
            f,
            tid,
            {"channels": ["lifecycle", "input"], "since": live[-1]["seq"]},
            ends_after(2),
            on_open=hitl,
        )
    terminals = [e["params"]["data"]["event"] for e in frames.events if root_terminal(e)]
    assert terminals == ["interrupted", "completed"]
    state = httpx.get(f"{front.url}/threads/{tid}/state").json()
    assert state["values"]["approved"] == "yes"


async def test_a_v1_run_elsewhere_shows_on_a_v2_stream_here(
    replicas: tuple[Server, Server],
) -> None:
    front, back = replicas
    async with front.http() as f, back.http() as b:
        tid = (await b.post("/threads", json={})).json()["thread_id"]

        async def v1_run() -> None:
            # The watch of `front`'s stream must reach `back` before the run starts there.
            await asyncio.sleep(0.5)
            r = await b.post(
                f"/threads/{tid}/runs/wait", json={"assistant_id": "agent", "input": msg("v1")}
            )
            assert r.status_code == 200

        frames = await read_stream(
            f, tid, {"channels": ["lifecycle", "values"]}, ends_after(1), on_open=v1_run
        )
    assert [e["method"] for e in frames.events] == ["lifecycle", "values", "values", "lifecycle"]
    last = frames.events[-2]["params"]["data"]["messages"][-1]
    assert last["content"] == "Hello there friend"


async def test_what_a_thread_keeps_is_bounded_by_whole_runs(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    srv = Server(
        database_url("sqlite", tmp_path, request),
        env={**HEARTBEAT, "DISTAFF_STREAM_EVENTS_PER_THREAD": "30"},
        log_path=ARTIFACTS / "v2-bounded.log",
    ).start()
    try:
        tid = new_thread()
        runs: list[list[Envelope]] = []
        for i in range(3):
            since = runs[-1][-1]["seq"] if runs else 0
            runs.append(await _run_to_end(srv, tid, "agent", msg(str(i)), since=since))
        per_run = len(runs[0])
        assert per_run > 15  # so that two runs are more than the 30 kept
        kept = await replay(srv.url, tid)
        # The oldest runs went whole; what is left starts at a run's beginning.
        assert kept == (runs[2] if 2 * per_run > 30 else runs[1] + runs[2])
        assert kept[0]["params"]["data"] == {"event": "running", "graph_name": "agent"}
        # A resume from before what is kept starts where the kept history does.
        assert await replay(srv.url, tid, {"channels": ALL_CHANNELS, "since": 1}) == kept
    finally:
        srv.stop()


async def test_a_postgresql_outage_mid_run_loses_no_event(tmp_path: Path) -> None:
    """Commands get a 503 while PostgreSQL is away; the run's events wait for it (in the
    stream, live, and for the log), and the stream a client kept open ends as the log does."""
    cluster = Cluster(tmp_path / "pg")
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "v2-postgres-outage.log"
    log.unlink(missing_ok=True)  # what it says is waited for below
    srv = Server(
        cluster.database(),
        env={**HEARTBEAT, "DISTAFF_TEST_SLOW_DELAY": "0.2"},
        log_path=log,
    )
    try:
        with srv:
            tid = new_thread()
            async with srv.http() as http:

                async def through_an_outage() -> None:
                    await start(http, tid, "slow", input=msg("12"))
                    await asyncio.sleep(1.0)
                    cluster.halt()
                    r = await http.post(
                        f"/threads/{tid}/commands",
                        json={"id": 2, "method": "run.start", "params": {"assistant_id": "agent"}},
                    )
                    assert r.status_code == 503 and "detail" in r.json(), r.text
                    # Until the run has met the outage (at its next checkpoint) and is handed back.
                    for _ in range(200):
                        if "); handing it back" in log.read_text(errors="replace"):
                            break
                        await asyncio.sleep(0.1)
                    else:
                        raise AssertionError("the run never met the outage")
                    cluster.resume()

                live = await read_stream(
                    http,
                    tid,
                    {"channels": ALL_CHANNELS},
                    ends_after(1),
                    on_open=through_an_outage,
                    timeout=60,
                )
            # The node's checkpoint could not be written: the run was handed back and ran
            # the node again from its last checkpoint, a new attempt the stream shows.
            roots = [e for e in live.events if e["method"] == "lifecycle"]
            assert [e["params"]["data"]["event"] for e in roots][-1] == "completed"
            assert sum(root_terminal(e) for e in roots) == 1
            last_attempt = live.events[live.events.index(roots[-2]) :]
            assert roots[-2]["params"]["data"]["event"] == "running"
            ticks = [e["params"]["data"] for e in last_attempt if e["method"] == "custom"]
            assert ticks == [{"tick": i} for i in range(12)]
            _check_numbering(live.events)
            assert await replay(srv.url, tid) == live.events
    finally:
        cluster.stop()
