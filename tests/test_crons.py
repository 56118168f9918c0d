"""Crons through the real SDK: CRUD, validation, and a scheduler that fires on time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.conftest import database_url
from tests.servers import Server

MSG = {"messages": [{"role": "user", "content": "from cron"}]}
YEARLY = "0 0 1 1 *"
EVERY_SECOND = "* * * * * *"  # croniter's optional sixth field: seconds


async def test_create_get_search_count_patch_delete(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    cron = await client.crons.create(
        "trivial", schedule=YEARLY, input=MSG, metadata={"tag": tag}, on_run_completed="keep"
    )
    assert cron["thread_id"] is None
    assert cron["schedule"] == YEARLY
    assert cron["timezone"] == "UTC"
    assert cron["enabled"] is True
    assert cron["next_run_date"].endswith("-01-01T00:00:00+00:00")
    assert cron["payload"]["input"] == MSG
    http = client.http.client
    got = (await http.get(f"/runs/crons/{cron['cron_id']}")).json()
    assert got == cron
    found = await client.crons.search(metadata={"tag": tag})
    assert [c["cron_id"] for c in found] == [cron["cron_id"]]
    assert await client.crons.count(metadata={"tag": tag}) == 1
    r = await http.patch(
        f"/runs/crons/{cron['cron_id']}",
        json={"schedule": "30 12 * * *", "metadata": {"more": 1}, "timezone": "Europe/Paris"},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["schedule"] == "30 12 * * *"
    assert patched["metadata"] == {"tag": tag, "more": 1}
    # 12:30 in Paris is 10:30 or 11:30 UTC.
    assert patched["next_run_date"][11:16] in ("10:30", "11:30")
    assert (await http.patch(f"/runs/crons/{cron['cron_id']}", json={})).status_code == 400
    await client.crons.delete(cron["cron_id"])
    assert (await http.get(f"/runs/crons/{cron['cron_id']}")).status_code == 404
    assert await client.crons.count(metadata={"tag": tag}) == 0


async def test_thread_cron_and_search_by_thread(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(thread["thread_id"], "trivial", schedule=YEARLY)
    assert cron["thread_id"] == thread["thread_id"]
    found = await client.crons.search(thread_id=thread["thread_id"])
    assert [c["cron_id"] for c in found] == [cron["cron_id"]]
    await client.crons.delete(cron["cron_id"])


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"assistant_id": "trivial", "schedule": "not a cron"}, 422, "Invalid cron schedule"),
        (
            {"assistant_id": "trivial", "schedule": YEARLY, "timezone": "Mars/Olympus"},
            422,
            "timezone",
        ),
        ({"assistant_id": "nosuch", "schedule": YEARLY}, 422, "Invalid assistant"),
        ({"assistant_id": "trivial"}, 422, "schedule"),
    ],
)
async def test_invalid_crons_are_refused(
    http: httpx.AsyncClient, body: dict[str, object], status: int, detail: str
) -> None:
    r = await http.post("/runs/crons", json=body)
    assert r.status_code == status
    assert detail in r.json()["detail"]


async def test_cron_on_missing_thread_is_404(http: httpx.AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    r = await http.post(
        f"/threads/{missing}/runs/crons", json={"assistant_id": "trivial", "schedule": YEARLY}
    )
    assert r.status_code == 404


# -- the scheduler -------------------------------------------------------------------------

TICKING = {"DISTAFF_CRON_TICK_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def ticking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("crons") / "db.sqlite"
    with Server(f"sqlite:///{path}", env=TICKING) as srv:
        yield srv


@pytest.fixture
async def sdk(ticking: Server) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=ticking.url)
    try:
        yield lg
    finally:
        await lg.http.client.aclose()


async def _runs_on(client: LangGraphClient, thread_id: str) -> list[dict[str, object]]:
    return list(await client.runs.list(thread_id, limit=100))


async def test_a_thread_cron_fires_each_tick_and_stops_when_deleted(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    cron = await sdk.crons.create_for_thread(tid, "trivial", schedule=EVERY_SECOND, input=MSG)
    await asyncio.sleep(2.6)
    runs = await _runs_on(sdk, tid)
    assert 2 <= len(runs) <= 4, len(runs)
    run = await sdk.runs.get(tid, str(runs[-1]["run_id"]))
    assert run["kwargs"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    await sdk.crons.delete(cron["cron_id"])
    await asyncio.sleep(0.5)
    settled = len(await _runs_on(sdk, tid))
    await asyncio.sleep(1.5)
    assert len(await _runs_on(sdk, tid)) == settled


async def test_a_disabled_cron_does_not_fire(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    cron = await sdk.crons.create_for_thread(tid, "trivial", schedule=EVERY_SECOND, enabled=False)
    await asyncio.sleep(1.5)
    assert await _runs_on(sdk, tid) == []
    await sdk.crons.delete(cron["cron_id"])


async def test_a_stateless_cron_creates_a_thread_per_run(sdk: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    cron = await sdk.crons.create(
        "trivial", schedule=EVERY_SECOND, input=MSG, metadata={"tag": tag}, on_run_completed="keep"
    )
    await asyncio.sleep(2.4)
    await sdk.crons.delete(cron["cron_id"])
    threads = await sdk.threads.search(metadata={"graph_id": "trivial"}, limit=100)
    mine = []
    for thread in threads:
        for run in await sdk.runs.list(thread["thread_id"]):
            if run["metadata"].get("tag") == tag:
                mine.append(thread["thread_id"])
    assert len(mine) >= 2
    assert len(set(mine)) == len(mine)  # a fresh thread each time


async def test_a_stateless_crons_threads_carry_its_metadata_and_context_defaults(
    sdk: LangGraphClient,
) -> None:
    tag = uuid.uuid4().hex
    cron = await sdk.crons.create(
        "templated",
        schedule=EVERY_SECOND,
        input=MSG,
        metadata={"tag": tag},
        on_run_completed="keep",
    )
    threads: list[dict[str, object]] = []
    for _ in range(40):
        threads = [t for t in await sdk.threads.search(metadata={"tag": tag}) if t["values"]]
        if threads:
            break
        await asyncio.sleep(0.1)
    await sdk.crons.delete(cron["cron_id"])
    assert threads, "no thread of the cron found by its metadata"
    thread = threads[0]
    assert thread["metadata"]["tag"] == tag and thread["metadata"]["graph_id"] == "templated"
    values = thread["values"]
    assert isinstance(values, dict)
    assert values["messages"][-1]["content"] == "fake/default-model | You are helpful."
    run = (await sdk.runs.list(str(thread["thread_id"])))[0]
    assert run["metadata"]["tag"] == tag


async def test_a_cron_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = Server(url, env=TICKING).start()
    try:
        async with httpx.AsyncClient(base_url=first.url) as http:
            tid = (await http.post("/threads", json={})).json()["thread_id"]
            body = {"assistant_id": "trivial", "schedule": "0 0 1 1 *", "input": MSG}
            cron = (await http.post(f"/threads/{tid}/runs/crons", json=body)).json()
    finally:
        first.stop()
    second = Server(url, env=TICKING).start()
    try:
        async with httpx.AsyncClient(base_url=second.url) as http:
            kept = (await http.get(f"/runs/crons/{cron['cron_id']}")).json()
            assert kept["schedule"] == "0 0 1 1 *"
            patch = {"schedule": EVERY_SECOND}
            assert (
                await http.patch(f"/runs/crons/{cron['cron_id']}", json=patch)
            ).status_code == 200
            for _ in range(40):
                if (await http.get(f"/threads/{tid}/runs")).json():
                    break
                await asyncio.sleep(0.1)
            assert (await http.get(f"/threads/{tid}/runs")).json()
    finally:
        second.stop()


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite takes one process (test_durability)
async def test_two_servers_on_one_database_fire_each_tick_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    # Both schedulers see every due cron; the compare-and-set on next_run_date lets one fire
    # each tick. Many crons make the two ticks overlap: one scheduler is still working through
    # the list when the other reads it.
    url = database_url(backend, tmp_path, request)
    fast = {"DISTAFF_CRON_TICK_SECONDS": "0.05"}
    first, second = Server(url, env=fast).start(), Server(url, env=fast).start()
    try:
        async with first.http() as http:
            crons = {}
            started = asyncio.get_running_loop().time()
            for _ in range(20):
                tid = (await http.post("/threads", json={})).json()["thread_id"]
                body = {"assistant_id": "trivial", "schedule": EVERY_SECOND, "input": MSG}
                crons[tid] = (await http.post(f"/threads/{tid}/runs/crons", json=body)).json()
            await asyncio.sleep(3.2)
            for cron in crons.values():
                await http.delete(f"/runs/crons/{cron['cron_id']}")
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(1.0)
            counts = []
            for tid in crons:
                runs = (await http.get(f"/threads/{tid}/runs", params={"limit": 100})).json()
                assert all(run["status"] in ("success", "pending") for run in runs), runs
                counts.append(len(runs))
        # A cron fires at most once per whole second that passed while it existed; twice as
        # often if both servers fired its ticks.
        assert max(counts) <= int(elapsed) + 1, (counts, elapsed)
        assert min(counts) >= 2, counts
    finally:
        first.stop()
        second.stop()
