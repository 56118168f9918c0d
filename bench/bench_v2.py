"""The v2 streaming protocol next to v1 streaming, for the same graph. Prints figures; not a
test.

    python bench/bench_v2.py [--n 100] [--streams 100] [--database-url sqlite:///path]

Starts `python -m distaff serve` on bench/langgraph.json and streams the `chat` graph (a fake
chat model streaming 20 tokens) on a fresh thread per run:

  v1  `POST /threads` first, then `POST /threads/{id}/runs/stream`
      (`stream_mode=messages-tuple`), raw httpx: time from the stream's request to the first
      `messages` event and to the end of the stream                               n runs
  v2  `POST /threads/{id}/stream/events` (lifecycle, messages) opened first, then `run.start`
      (which creates the thread): time from `run.start` to the first `content-block-delta`
      and to the root terminal                                                    n runs
  in  the graph in-process, `astream(stream_mode="messages")` on an `InMemorySaver`:
      time to the first token and to the end                                      n runs

The rows take turns run by run (v1, v2, in-process, v1, ...), so the machine's drift falls on
all alike. Each client reads every event's JSON. Then `--streams` runs at once, each with its
own stream (v1 and v2 in turn, three rounds, the median round): events per second received
over all streams. Every row gives CPU time per run: the server's (all its threads, from
`/proc/<pid>/task/*/schedstat`) for v1 and v2, this process's for the in-process graph. Each
row has 5 warm-up runs first; p50/p99 are nearest-rank.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import MANIFEST, nearest_rank  # noqa: E402  (bench/bench.py, beside this file)
from graph import chat_builder  # type: ignore[import-not-found]  # noqa: E402  (beside it too)
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from tests.servers import Server  # noqa: E402

GRAPH_ID = "chat"
WARMUP = 5
INPUT = {"messages": [{"role": "user", "content": "hi"}]}
V2_CHANNELS = ["lifecycle", "messages"]


#: Rounds of the fan-out per protocol.
FAN_ROUNDS = 3


@dataclass(order=True)
class Fan:
    seconds: float
    name: str
    events_per_second: float
    cpu_ms_per_run: float


@dataclass
class Row:
    name: str
    n: int
    first_p50_ms: float
    first_p99_ms: float
    end_p50_ms: float
    end_p99_ms: float
    cpu_ms_per_run: float


@contextmanager
def serve(database_url: str, log: Path) -> Iterator[tuple[str, int]]:
    """A real `distaff serve` on the bench graphs: its URL and process id."""
    srv = Server(database_url, manifest=MANIFEST, log_path=log).start(timeout=60)
    assert srv.process is not None
    try:
        yield srv.url, srv.process.pid
    finally:
        srv.stop()


def server_cpu(pid: int) -> float:
    """The server process's CPU seconds so far, all its threads, to the nanosecond (the
    scheduler's own count; `/proc/<pid>/stat` counts in 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


async def v1_run(http: httpx.AsyncClient) -> tuple[float, float, int]:
    """(to the first `messages` event, to the end, events) of one v1 streaming run."""
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    body = {"assistant_id": GRAPH_ID, "input": INPUT, "stream_mode": ["messages-tuple"]}
    start = time.perf_counter()
    first = 0.0
    events = 0
    async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as r:
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                events += 1
                if not first and line == "event: messages":
                    first = time.perf_counter() - start
            elif line.startswith("data: "):
                json.loads(line[6:])  # a client reads what it gets, as the v2 one below does
    return first, time.perf_counter() - start, events


async def v2_run(http: httpx.AsyncClient, streams: httpx.AsyncClient) -> tuple[float, float, int]:
    """(to the first token delta, to the root terminal, events) of one v2 run, its stream
    opened before `run.start` as the SDKs do. The stream has a connection pool of its own:
    it holds its connection while it lasts and closes it when left, as in a browser, so the
    command goes on a kept-alive one (from one pool, each command would open a connection:
    the stream took the idle one)."""
    tid = str(uuid.uuid4())
    first = 0.0
    events = 0
    start = 0.0
    opened = asyncio.Event()

    async def read() -> float:
        nonlocal first, events
        body = {"channels": V2_CHANNELS}
        async with streams.stream("POST", f"/threads/{tid}/stream/events", json=body) as r:
            opened.set()
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                events += 1
                envelope = json.loads(line[6:])
                data = envelope["params"]["data"]
                if not first and data.get("event") == "content-block-delta":
                    first = time.perf_counter() - start
                if (
                    envelope["method"] == "lifecycle"
                    and not envelope["params"]["namespace"]
                    and data["event"] in ("completed", "failed", "interrupted")
                ):
                    return time.perf_counter() - start
        raise RuntimeError("the stream ended before the run")

    reader = asyncio.create_task(read())
    await opened.wait()
    start = time.perf_counter()
    command = {"id": 1, "method": "run.start", "params": {"assistant_id": GRAPH_ID, "input": INPUT}}
    r = await http.post(f"/threads/{tid}/commands", json=command)
    assert r.json()["type"] == "success", r.text
    end = await reader
    return first, end, events


async def in_process_run(graph: Any) -> tuple[float, float, int]:
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    start = time.perf_counter()
    first = 0.0
    events = 0
    async for _ in graph.astream(INPUT, config, stream_mode="messages"):
        events += 1
        if not first:
            first = time.perf_counter() - start
    return first, time.perf_counter() - start, events


Call = Callable[[], Awaitable[tuple[float, float, int]]]


async def measure(calls: list[tuple[str, Call, Callable[[], float]]], n: int) -> list[Row]:
    """Each call `n` times, taking turns (v1, v2, in-process, v1, ...) so that the machine's
    drift over the minutes falls on every row alike; each row's CPU clock (the server's, or
    this process's for the in-process graph) is read around each of its runs."""
    for _, call, _ in calls:
        for _ in range(WARMUP):
            await call()
    results: list[list[tuple[float, float, int]]] = [[] for _ in calls]
    cpu = [0.0 for _ in calls]
    for _ in range(n):
        for i, (_, call, clock) in enumerate(calls):
            before = clock()
            results[i].append(await call())
            cpu[i] += clock() - before
    out = []
    for (name, _, _), got, used in zip(calls, results, cpu, strict=True):
        firsts = [r[0] for r in got]
        ends = [r[1] for r in got]
        out.append(
            Row(
                name,
                n,
                nearest_rank(firsts, 50) * 1000,
                nearest_rank(firsts, 99) * 1000,
                nearest_rank(ends, 50) * 1000,
                nearest_rank(ends, 99) * 1000,
                used * 1000 / n,
            )
        )
    return out


async def fan_out(name: str, call: Call, streams: int, pid: int) -> Fan:
    """`streams` runs at once."""
    cpu = server_cpu(pid)
    start = time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(streams)))
    seconds = time.perf_counter() - start
    used = server_cpu(pid) - cpu
    rate = sum(r[2] for r in results) / seconds
    return Fan(
        seconds=seconds, name=name, events_per_second=rate, cpu_ms_per_run=used * 1000 / streams
    )


async def bench(url: str, pid: int, n: int, count: int) -> tuple[list[Row], list[Fan]]:
    limits = httpx.Limits(max_connections=2 * count + 10, max_keepalive_connections=2 * count)
    async with (
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http,
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as streams,
    ):
        graph = chat_builder.compile(checkpointer=InMemorySaver())
        measured = await measure(
            [
                ("v1 runs/stream (messages-tuple)", lambda: v1_run(http), lambda: server_cpu(pid)),
                (
                    "v2 stream/events + run.start",
                    lambda: v2_run(http, streams),
                    lambda: server_cpu(pid),
                ),
                ("in-process astream (messages)", lambda: in_process_run(graph), time.process_time),
            ],
            n,
        )
        # Taking turns here too; each row's median round by wall time.
        rounds: dict[str, list[Fan]] = {"v1": [], "v2": []}
        for _ in range(FAN_ROUNDS):
            for version, call in (
                ("v1", lambda: v1_run(http)),
                ("v2", lambda: v2_run(http, streams)),
            ):
                name = f"{version}, {count} at once"
                rounds[version].append(await fan_out(name, call, count, pid))
        fans = [statistics.median_low(r) for r in rounds.values()]
    return measured, fans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: SQLite on a temp file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="distaff-bench-v2-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = args.database_url or f"sqlite:///{tmp / 'server.sqlite'}"
        with serve(database_url, tmp / "server.log") as (url, pid):
            rows, fans = asyncio.run(bench(url, pid, args.n, args.streams))

    print(
        f"distaff v2 bench: {database_url.split('://')[0]}, n={args.n}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, warm-up {WARMUP}, p50/p99 nearest-rank"
    )
    width = max(len(r.name) for r in rows)
    heads = ("first p50", "first p99", "end p50", "end p99", "CPU ms/run")
    print(f"{'':{width}}  " + "  ".join(f"{h:>9}" for h in heads))
    for r in rows:
        print(
            f"{r.name:{width}}  {r.first_p50_ms:>9.2f}  {r.first_p99_ms:>9.2f}  "
            f"{r.end_p50_ms:>9.2f}  {r.end_p99_ms:>9.2f}  {r.cpu_ms_per_run:>9.2f}"
        )
    print("(CPU: the server's per run; the in-process row's, this process's per run)")
    print()
    for fan in fans:
        print(
            f"{fan.name}: {fan.events_per_second:,.0f} events/s received ({fan.seconds:.2f} s,"
            f" median of {FAN_ROUNDS}), server CPU {fan.cpu_ms_per_run:.2f} ms/run"
        )
    v1, v2 = rows[0], rows[1]
    print()
    print(f"v2 / v1 time to first token (p50): {v2.first_p50_ms / v1.first_p50_ms:.2f}x")
    print(f"v2 / v1 time to run end (p50):     {v2.end_p50_ms / v1.end_p50_ms:.2f}x")


if __name__ == "__main__":
    main()
