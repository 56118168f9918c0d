"""`GET /threads/{id}/stream`: every run on a thread, multiplexed, with ids and lifecycle."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

SLOW = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "2"}]}}
TRIVIAL = {"assistant_id": "trivial", "input": {"messages": [{"role": "user", "content": "x"}]}}


async def _read(
    http: httpx.AsyncClient,
    tid: str,
    *,
    until_done: int,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    started: asyncio.Event | None = None,
) -> list[dict[str, Any]]:
    """Events of the thread stream until `until_done` runs have ended (or 10 s pass)."""
    events: list[dict[str, Any]] = []
    done = 0
    async with http.stream("GET", f"/threads/{tid}/stream", params=params, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        if started is not None:
            started.set()
        current: dict[str, Any] = {}
        async with asyncio.timeout(10):
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    current = {"event": line[7:]}
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
                elif line.startswith("id: "):
                    current["id"] = line[4:]
                elif line == "" and current:
                    events.append(current)
                    if current["data"].get("status") == "run_done":
                        done += 1
                    current = {}
                    if done >= until_done:
                        break
    return events


def _id(event: dict[str, Any]) -> tuple[int, int]:
    ms, seq = event["id"].split("-")
    return int(ms), int(seq)


async def test_multiplexes_every_run_with_lifecycle_and_ids(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    started = asyncio.Event()
    reader = asyncio.create_task(
        _read(
            http, tid, until_done=2, params={"stream_modes": "lifecycle,run_modes"}, started=started
        )
    )
    await started.wait()
    first = (
        await http.post(f"/threads/{tid}/runs", json={**SLOW, "stream_mode": ["custom"]})
    ).json()
    second = (await http.post(f"/threads/{tid}/runs", json=TRIVIAL)).json()
    events = await reader

    names = [e["event"] for e in events]
    assert names == [
        "metadata",
        "custom",
        "custom",
        "metadata",
        "metadata",
        "values",
        "values",
        "metadata",
    ]
    assert events[0]["data"] == {"run_id": first["run_id"], "attempt": 1}
    assert events[3]["data"] == {"status": "run_done", "run_id": first["run_id"]}
    assert events[4]["data"] == {"run_id": second["run_id"], "attempt": 1}
    assert events[-1]["data"] == {"status": "run_done", "run_id": second["run_id"]}
    ids = [_id(e) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids must strictly increase"


async def test_default_is_run_modes_only(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    started = asyncio.Event()
    # Without lifecycle there is no run_done to stop on: read the events of one run by time.
    events: list[str] = []

    async def read() -> None:
        async with http.stream("GET", f"/threads/{tid}/stream") as r:
            started.set()
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
                if events.count("values") == 2:
                    return

    task = asyncio.create_task(read())
    await started.wait()
    await http.post(f"/threads/{tid}/runs", json=TRIVIAL)
    await asyncio.wait_for(task, 10)
    assert events == ["values", "values"]


async def test_lifecycle_only(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    started = asyncio.Event()
    reader = asyncio.create_task(
        _read(http, tid, until_done=1, params={"stream_modes": "lifecycle"}, started=started)
    )
    await started.wait()
    run = (await http.post(f"/threads/{tid}/runs", json=TRIVIAL)).json()
    events = await reader
    assert [e["data"] for e in events] == [
        {"run_id": run["run_id"], "attempt": 1},
        {"status": "run_done", "run_id": run["run_id"]},
    ]


async def test_last_event_id_replays_resumable_runs(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    body = {**SLOW, "stream_mode": ["custom"], "stream_resumable": True}
    assert (await http.post(f"/threads/{tid}/runs/wait", json=body)).status_code == 200
    replay = await _read(
        http,
        tid,
        until_done=1,
        params={"stream_modes": "lifecycle,run_modes"},
        headers={"Last-Event-ID": "-1"},
    )
    assert [e["event"] for e in replay] == ["metadata", "custom", "custom", "metadata"]
    assert [e["data"] for e in replay[1:3]] == [{"tick": 0}, {"tick": 1}]
    # From the middle: only what came after that id.
    after = await _read(
        http,
        tid,
        until_done=1,
        params={"stream_modes": "lifecycle,run_modes"},
        headers={"Last-Event-ID": replay[1]["id"]},
    )
    assert [e["id"] for e in after] == [e["id"] for e in replay[2:]]


async def test_missing_thread_and_unknown_mode(http: httpx.AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await http.get(f"/threads/{missing}/stream")).status_code == 404
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    r = await http.get(f"/threads/{tid}/stream", params={"stream_modes": "everything"})
    assert r.status_code == 422
    assert "everything" in r.json()["detail"]


async def _collect(
    r: httpx.Response, until: Any, events: list[dict[str, Any]], timeout: float = 10
) -> None:
    """Read the open thread stream `r` into `events` until `until(events)` holds."""
    current: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                current = {"event": line[7:]}
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                events.append(current)
                current = {}
                if until(events):
                    return


async def test_state_update_on_manual_state_writes_only(http: httpx.AsyncClient) -> None:
    seed = {"messages": [{"role": "user", "content": "seed", "id": "seed-1"}]}
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    assert (await http.post(f"/threads/{tid}/runs/wait", json=TRIVIAL)).status_code == 200
    events: list[dict[str, Any]] = []
    path = f"/threads/{tid}/stream"
    async with http.stream("GET", path, params={"stream_modes": "state_update"}) as r:
        assert r.status_code == 200
        await asyncio.sleep(0.1)  # subscribed before the writes below
        # A run and a metadata patch send nothing on this stream...
        assert (await http.post(f"/threads/{tid}/runs/wait", json=TRIVIAL)).status_code == 200
        assert (await http.patch(f"/threads/{tid}", json={"metadata": {"a": 1}})).is_success
        # ...a state update does, then supersteps on the existing thread (`do_nothing`).
        update = {"values": {"messages": [{"type": "ai", "content": "manual", "id": "m-1"}]}}
        assert (await http.post(f"/threads/{tid}/state", json=update)).status_code == 200
        body = {
            "thread_id": tid,
            "if_exists": "do_nothing",
            "metadata": {"graph_id": "trivial"},
            "supersteps": [{"updates": [{"values": seed, "as_node": "__input__"}]}],
        }
        assert (await http.post("/threads", json=body)).status_code == 200
        await _collect(r, lambda evs: len(evs) >= 2, events)
    assert [e["event"] for e in events] == ["state_update", "state_update"]
    first, second = (e["data"] for e in events)
    state = (await http.get(f"/threads/{tid}/state")).json()
    assert first["thread_id"] == tid and second["thread_id"] == tid
    assert first["state"]["metadata"]["source"] == "update"
    assert first["state"]["values"]["messages"][-1]["content"] == "manual"
    assert second["state"]["metadata"]["source"] == "input"
    assert second["state"] == state  # the shape of GET /state, at the new checkpoint
    assert set(state) == set(first["state"])


async def test_state_update_beside_run_events(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    events: list[dict[str, Any]] = []
    params = {"stream_modes": "run_modes,state_update"}
    async with http.stream("GET", f"/threads/{tid}/stream", params=params) as r:
        await asyncio.sleep(0.1)
        assert (await http.post(f"/threads/{tid}/runs/wait", json=TRIVIAL)).status_code == 200
        update = {"values": {"messages": [{"type": "ai", "content": "manual"}]}}
        assert (await http.post(f"/threads/{tid}/state", json=update)).status_code == 200
        await _collect(r, lambda evs: any(e["event"] == "state_update" for e in evs), events)
    names = [e["event"] for e in events]
    assert "values" in names and names[-1] == "state_update"
