"""distaff throughput and latency, next to langgraph in-process. Prints figures; not a test.

    python bench/bench.py [--n 200] [--database-url sqlite:///path] [--json out.json]

Starts `python -m distaff serve` on bench/langgraph.json (SQLite on a temp file unless
--database-url says otherwise) and measures it with the real `langgraph_sdk` async client:

  a. sequential stateless `runs.wait(None, ...)`                          n
  b. sequential `runs.wait` on one thread                                 n/2
  c. 8 concurrent SDK clients, stateless `runs.wait`                      n in total
  d. `runs.stream` time to the first `event:` line and to the first `values` (raw httpx)  n/4
  e. the same graph in-process with `ainvoke`: without a checkpointer, and with an
     `AsyncSqliteSaver` on a temp file (fresh thread_id per call); sequential and 8-concurrent

Each measurement is preceded by 5 warm-up calls. p50/p99 are nearest-rank.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository, for the test suite's server launcher

from tests.servers import Server  # noqa: E402

MANIFEST = HERE / "langgraph.json"
GRAPH_ID = "bench"
WARMUP = 5
CONCURRENCY = 8
INPUT = {"messages": [{"role": "user", "content": "hi"}]}

#: Goals: server sequential latency within 3x of in-process checkpointed latency, and the
#: server's concurrent throughput at least 0.6 of in-process checkpointed throughput.
GOAL_LATENCY_RATIO = 3.0
GOAL_RATE_RATIO = 0.6

Call = Callable[[], Awaitable[Any]]


@dataclass
class Figure:
    name: str
    n: int
    seconds: float
    runs_per_s: float
    p50_ms: float
    p99_ms: float


def nearest_rank(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def figure(name: str, latencies: list[float], seconds: float) -> Figure:
    return Figure(
        name=name,
        n=len(latencies),
        seconds=seconds,
        runs_per_s=len(latencies) / seconds,
        p50_ms=nearest_rank(latencies, 50) * 1000,
        p99_ms=nearest_rank(latencies, 99) * 1000,
    )


async def timed(call: Call) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def sequential(name: str, call: Call, n: int) -> Figure:
    for _ in range(WARMUP):
        await call()
    start = time.perf_counter()
    latencies = [await timed(call) for _ in range(n)]
    return figure(name, latencies, time.perf_counter() - start)


async def concurrent(name: str, calls: list[Call], n: int) -> Figure:
    """`len(calls)` workers, each with its own call (client), `n` calls in total."""
    await asyncio.gather(*(call() for call in calls for _ in range(WARMUP)))
    share = [n // len(calls) + (i < n % len(calls)) for i in range(len(calls))]

    async def worker(call: Call, count: int) -> list[float]:
        return [await timed(call) for _ in range(count)]

    start = time.perf_counter()
    results = await asyncio.gather(*(worker(c, k) for c, k in zip(calls, share, strict=True)))
    seconds = time.perf_counter() - start
    return figure(name, [x for r in results for x in r], seconds)


# --- the server ----------------------------------------------------------------------------


@contextmanager
def server(database_url: str, log: Path) -> Iterator[str]:
    """A real `distaff serve` on the bench graph, started as the test suite starts its own."""
    srv = Server(database_url, manifest=MANIFEST, log_path=log)
    try:
        srv.start(timeout=60)
    except RuntimeError:
        sys.exit(f"distaff did not start; its log:\n{log.read_text()}")
    try:
        yield srv.url
    finally:
        srv.stop()


async def bench_server(url: str, n: int) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    clients = [get_client(url=url, timeout=60) for _ in range(CONCURRENCY)]
    sdk = clients[0]
    try:

        async def stateless_wait(client: Any = sdk) -> None:
            result = await client.runs.wait(None, GRAPH_ID, input=INPUT)
            assert result["messages"][-1]["content"] == "ok", result

        figures["a"] = await sequential("a. runs.wait stateless, sequential", stateless_wait, n)

        thread_id = (await sdk.threads.create())["thread_id"]

        async def thread_wait() -> None:
            result = await sdk.runs.wait(thread_id, GRAPH_ID, input=INPUT)
            assert result["messages"][-1]["content"] == "ok", result

        figures["b"] = await sequential("b. runs.wait one thread, sequential", thread_wait, n // 2)

        calls: list[Call] = [functools.partial(stateless_wait, c) for c in clients]
        figures["c"] = await concurrent(f"c. runs.wait stateless, {CONCURRENCY} clients", calls, n)

        # Checkpointed like for like: one fresh thread per run (created beforehand, untimed),
        # so every run writes checkpoints as the in-process checkpointed rows do.
        fresh = [
            (await sdk.threads.create())["thread_id"]
            for _ in range(2 * n + (CONCURRENCY + 2) * WARMUP)
        ]

        async def fresh_thread_wait(client: Any = sdk) -> None:
            result = await client.runs.wait(fresh.pop(), GRAPH_ID, input=INPUT)
            assert result["messages"][-1]["content"] == "ok", result

        figures["a2"] = await sequential(
            "a2. runs.wait fresh thread, sequential", fresh_thread_wait, n
        )
        calls = [functools.partial(fresh_thread_wait, c) for c in clients]
        figures["c2"] = await concurrent(
            f"c2. runs.wait fresh thread, {CONCURRENCY} clients", calls, n
        )
    finally:
        for c in clients:
            await c.http.client.aclose()

    first_event: list[float] = []
    first_values: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def stream_once(record: bool) -> None:
            body = {"assistant_id": GRAPH_ID, "input": INPUT, "stream_mode": ["values"]}
            start = time.perf_counter()
            got_event = got_values = None
            async with http.stream("POST", "/runs/stream", json=body) as resp:
                resp.raise_for_status()
                async for line in resp.aiter_lines():
                    if not line.startswith("event:"):
                        continue
                    now = time.perf_counter()
                    if got_event is None:
                        got_event = now - start
                    if got_values is None and line.split(":", 1)[1].strip() == "values":
                        got_values = now - start
            assert got_event is not None and got_values is not None
            if record:
                first_event.append(got_event)
                first_values.append(got_values)

        for _ in range(WARMUP):
            await stream_once(False)
        start = time.perf_counter()
        for _ in range(max(1, n // 4)):
            await stream_once(True)
        seconds = time.perf_counter() - start
    figures["d1"] = figure("d. runs.stream, first event: line", first_event, seconds)
    figures["d2"] = figure("d. runs.stream, first values event", first_values, seconds)
    return figures


# --- in-process ----------------------------------------------------------------------------


def load_builder() -> Any:
    spec = importlib.util.spec_from_file_location("distaff_bench_graph", HERE / "graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.builder


async def bench_plain(builder: Any, n: int) -> dict[str, Figure]:
    """Rows e1 and e2: the graph without a checkpointer, sequential and concurrent."""
    plain = builder.compile()

    async def plain_call() -> None:
        await plain.ainvoke(INPUT)

    return {
        "e1": await sequential("e. ainvoke, no checkpointer", plain_call, n),
        "e2": await concurrent(
            f"e. ainvoke, no checkpointer, {CONCURRENCY} concurrent", [plain_call] * CONCURRENCY, n
        ),
    }


async def bench_in_process(n: int, tmp: Path) -> dict[str, Figure]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    builder = load_builder()
    figures = await bench_plain(builder, n)
    async with AsyncSqliteSaver.from_conn_string(str(tmp / "inproc.sqlite")) as saver:
        saved = builder.compile(checkpointer=saver)

        async def saved_call() -> None:
            config = {"configurable": {"thread_id": str(uuid.uuid4())}}
            await saved.ainvoke(INPUT, config)

        figures["e3"] = await sequential("e. ainvoke, AsyncSqliteSaver", saved_call, n)
        figures["e4"] = await concurrent(
            f"e. ainvoke, AsyncSqliteSaver, {CONCURRENCY} concurrent",
            [saved_call] * CONCURRENCY,
            n,
        )
    # The same saver tuned as distaff tunes its file (WAL, synchronous=NORMAL): like for like.
    async with AsyncSqliteSaver.from_conn_string(str(tmp / "inproc-wal.sqlite")) as saver:
        await saver.conn.execute("PRAGMA journal_mode=WAL")
        await saver.conn.execute("PRAGMA synchronous=NORMAL")
        tuned = builder.compile(checkpointer=saver)

        async def tuned_call() -> None:
            config = {"configurable": {"thread_id": str(uuid.uuid4())}}
            await tuned.ainvoke(INPUT, config)

        figures["e5"] = await sequential("e. ainvoke, AsyncSqliteSaver WAL", tuned_call, n)
        figures["e6"] = await concurrent(
            f"e. ainvoke, AsyncSqliteSaver WAL, {CONCURRENCY} concurrent",
            [tuned_call] * CONCURRENCY,
            n,
        )
    return figures


# --- report --------------------------------------------------------------------------------


def print_table(figures: dict[str, Figure]) -> None:
    width = max(len(f.name) for f in figures.values())
    print(f"{'':{width}}  {'n':>5}  {'runs/s':>8}  {'p50 ms':>8}  {'p99 ms':>8}")
    for f in figures.values():
        print(
            f"{f.name:{width}}  {f.n:>5}  {f.runs_per_s:>8.1f}  {f.p50_ms:>8.2f}  {f.p99_ms:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="base count (default 200)")
    parser.add_argument("--database-url", default=None, help="default: SQLite on a temp file")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.n < 8:
        parser.error("--n must be at least 8")

    with tempfile.TemporaryDirectory(prefix="distaff-bench-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = args.database_url or f"sqlite:///{tmp / 'server.sqlite'}"
        log = tmp / "server.log"
        started = time.perf_counter()
        with server(database_url, log) as url:
            figures = asyncio.run(bench_server(url, args.n))
        # In-process after the server is gone: it does not compete for the CPU.
        figures.update(asyncio.run(bench_in_process(args.n, tmp)))
        total = time.perf_counter() - started

    latency_ratio = figures["a"].p50_ms / figures["e3"].p50_ms
    rate_ratio = figures["c"].runs_per_s / figures["e4"].runs_per_s
    print(
        f"distaff bench: {database_url.split('://')[0]}, n={args.n}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, warm-up {WARMUP}, p50/p99 nearest-rank"
    )
    print_table(figures)
    print()
    latency_met = "met" if latency_ratio <= GOAL_LATENCY_RATIO else "MISSED"
    rate_met = "met" if rate_ratio >= GOAL_RATE_RATIO else "MISSED"
    print(
        f"runs.wait p50 / in-process checkpointed p50:   {latency_ratio:5.2f}x  "
        f"(goal <= {GOAL_LATENCY_RATIO:g}x: {latency_met})"
    )
    print(
        f"{CONCURRENCY}-client rate / in-process checkpointed rate:  {rate_ratio:5.2f}   "
        f"(goal >= {GOAL_RATE_RATIO:g}: {rate_met})"
    )
    strict_latency = figures["a2"].p50_ms / figures["e5"].p50_ms
    strict_rate = figures["c2"].runs_per_s / figures["e6"].runs_per_s
    print(
        "like for like (checkpointed server runs on fresh threads vs the in-process saver on WAL):"
    )
    print(f"  runs.wait p50 / in-process p50:  {strict_latency:5.2f}x")
    print(f"  {CONCURRENCY}-client rate / in-process rate: {strict_rate:5.2f}")
    print(f"total {total:.1f}s")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "database": database_url.split("://")[0],
                    "n": args.n,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "figures": {k: asdict(f) for k, f in figures.items()},
                    "latency_ratio": latency_ratio,
                    "latency_ratio_goal": GOAL_LATENCY_RATIO,
                    "rate_ratio": rate_ratio,
                    "rate_ratio_goal": GOAL_RATE_RATIO,
                    "like_for_like_latency_ratio": strict_latency,
                    "like_for_like_rate_ratio": strict_rate,
                    "seconds": total,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
