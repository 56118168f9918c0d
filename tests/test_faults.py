"""Real faults end in a clear answer and lose nothing: a full filesystem under a SQLite
database (a real tmpfs, filled up), a PostgreSQL stopped and started again.

While the disk is full, writes answer 503 with a JSON `detail` and reads go on; a run that meets
the full disk is neither failed nor left `running`: it is handed back and resumes, by itself,
once there is room again, and a client waiting on it gets its real result.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ARTIFACTS
from tests.postgres import Cluster
from tests.servers import Server

SLOW = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "15"}]}}
TRIVIAL = {"assistant_id": "trivial", "input": {"messages": [{"role": "user", "content": "x"}]}}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB filesystem (tmpfs), mounted for the test and gone after it."""
    mount = shutil.which("mount")
    point = tmp_path / "disk"
    point.mkdir()
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    result = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(point)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem has no room left."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    # Unbuffered: a write the disk refused leaves nothing behind for `close` to fail on.
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


async def until(check: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def logged(log: Path, text: str, timeout: float = 20) -> None:
    """Wait until the server's log says `text`."""

    async def said() -> bool:
        return text in log.read_text(errors="replace")

    await until(said, timeout)


async def test_a_full_disk_is_503_and_runs_resume_when_there_is_room(small_disk: Path) -> None:
    log = ARTIFACTS / "faults-disk-full.log"
    ARTIFACTS.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    srv = Server(
        f"sqlite:///{small_disk / 'db.sqlite'}",
        env={"DISTAFF_TEST_SLOW_DELAY": "0.1"},
        log_path=log,
    )
    with srv:
        async with srv.http() as http:
            tid = (await http.post("/threads", json={})).json()["thread_id"]
            assert (await http.post(f"/threads/{tid}/runs/wait", json=TRIVIAL)).status_code == 200
            waiting = asyncio.create_task(http.post(f"/threads/{tid}/runs/wait", json=SLOW))
            await until(
                lambda: _status(http, tid, "running"),
            )
            filler = fill(small_disk)
            # Writes are refused with a clear answer; reads go on.
            for method, path, body in (
                ("POST", "/threads", {}),
                ("POST", "/runs", TRIVIAL),
                ("PUT", "/store/items", {"namespace": ["n"], "key": "k", "value": {"a": 1}}),
            ):
                r = await http.request(method, path, json=body)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert "detail" in r.json() and "database" in r.json()["detail"]
            assert (await http.get(f"/threads/{tid}")).status_code == 200
            assert (await http.get("/ok")).status_code == 200
            # The run meets the full disk at its next checkpoint and is handed back.
            await logged(log, "); handing it back")
            assert not waiting.done()
            filler.unlink()
            # Room again: the run resumes by itself and the waiting client gets its result.
            answer = await asyncio.wait_for(waiting, 30)
            assert answer.status_code == 200
            body = answer.json()
            assert "__error__" not in body, body
            assert body["messages"][-1]["content"] == "slow done"
            runs = (await http.get(f"/threads/{tid}/runs")).json()
            assert [r["status"] for r in runs] == ["success", "success"]
            assert (await http.get(f"/threads/{tid}")).json()["status"] == "idle"
            assert (await http.post("/threads", json={})).status_code == 200
    said = log.read_text()
    assert "handing it back" in said or "trying again" in said, said[-2000:]


async def _status(http: httpx.AsyncClient, tid: str, wanted: str) -> bool:
    runs = (await http.get(f"/threads/{tid}/runs")).json()
    return bool(runs) and runs[0]["status"] == wanted


# -- PostgreSQL stopped and started again -----------------------------------------------------


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A PostgreSQL of this test's own: stopping the session's would break the other tests."""
    cluster = Cluster(tmp_path / "pg")
    yield cluster
    cluster.stop()


async def _timed(call: Any) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await call
    return time.monotonic() - started, response


async def test_a_postgresql_outage_is_503_at_once_and_heals_by_itself(
    own_cluster: Cluster,
) -> None:
    log = ARTIFACTS / "faults-postgres-outage.log"
    ARTIFACTS.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    srv = Server(own_cluster.database(), env={"DISTAFF_TEST_SLOW_DELAY": "0.2"}, log_path=log)
    with srv:
        async with srv.http() as http:
            tid = (await http.post("/threads", json={})).json()["thread_id"]
            assert (await http.post(f"/threads/{tid}/runs/wait", json=TRIVIAL)).status_code == 200
            ns = {"namespace": ["outage"], "key": "k", "value": {"a": 1}}
            assert (await http.put("/store/items", json=ns)).status_code == 204
            long_run = {**SLOW, "input": {"messages": [{"role": "user", "content": "12"}]}}
            waiting = asyncio.create_task(http.post(f"/threads/{tid}/runs/wait", json=long_run))
            await until(lambda: _status(http, tid, "running"))
            await asyncio.sleep(0.5)
            own_cluster.halt()
            # Every request that needs the database fails fast, with a clear answer.
            for method, path, body in (
                ("POST", "/threads", {}),
                ("GET", f"/threads/{tid}", None),
                ("POST", "/threads/search", {}),
                ("PUT", "/store/items", ns),
                ("GET", "/store/items?namespace=outage&key=k", None),
                ("GET", "/ok?check_db=true", None),
            ):
                took, r = await _timed(http.request(method, path, json=body))
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert "detail" in r.json(), (path, r.text)
                assert took < 2.5, (path, took)
            assert (await http.get("/ok")).status_code == 200  # the process itself is fine
            # The run's next checkpoint cannot be written while PostgreSQL is away.
            await logged(log, "); handing it back")
            own_cluster.resume()
            back = time.monotonic()
            await until(lambda: _answers(http, "/threads"), timeout=15)
            healed = time.monotonic() - back
            assert healed < 3.0, f"service came back {healed:.1f} s after PostgreSQL did"
            # The run that was executing through the outage resumes; it does not end `error`.
            answer = await asyncio.wait_for(waiting, 40)
            assert answer.status_code == 200
            assert "__error__" not in answer.json(), answer.json()
            assert answer.json()["messages"][-1]["content"] == "slow done"
            runs = (await http.get(f"/threads/{tid}/runs")).json()
            assert [r["status"] for r in runs] == ["success", "success"]
            got = await http.get("/store/items", params={"namespace": "outage", "key": "k"})
            assert got.json()["value"] == {"a": 1}
    assert "handing it back" in log.read_text()


async def _answers(http: httpx.AsyncClient, path: str) -> bool:
    return (await http.post(path, json={})).status_code == 200
