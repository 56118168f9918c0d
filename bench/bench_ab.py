"""Server CPU per call of two (or more) distaff source trees, measured side by side. Prints
figures; not a test.

    python bench/bench_ab.py OLD_SRC NEW_SRC [--backend postgres|sqlite|memory]
                             [--rounds 6] [--block 40] [--kinds floor,stateless,fresh,thread]

Each tree (a directory holding the `distaff` package, e.g. a `git worktree` of an older commit's
`src`) gets its own `distaff serve` (PYTHONPATH set to it; the rest of the environment is this
one's), all running at once, on the same PostgreSQL cluster (a database each) or on a SQLite
file each. The calls then take turns: in every round, each kind of call is made `--block`
times on each server in turn (the order reversed every other round), and the server's CPU is
read around each block. This machine's speed drifts by 10-20% over minutes and with what the
other core does; measured one after the other, two trees differed by more than the change
being measured, and turns put the drift on every tree alike.

CPU is the server process's, every thread, from `/proc/<pid>/task/*/schedstat` (nanoseconds,
where `/proc/<pid>/stat` counts 10 ms ticks). Kinds:

  floor      `GET /info`
  stateless  `runs.wait(None, ...)`
  fresh      `runs.wait` on a thread created beforehand (untimed), one per call
  thread     `runs.wait` on one thread (its state grows with every call)

The table shows, per kind and tree, the median and mean over the blocks of CPU ms per call, the
median wall ms per call, and the ratio of each tree's median to the first tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil
from bench import (  # first: puts the repository on sys.path
    GRAPH_ID,
    INPUT,
    MANIFEST,
    WARMUP,
    cpu_ns,
)
from langgraph_sdk import get_client
from tests.servers import Server

KINDS = ("floor", "stateless", "fresh", "thread")


class Target:
    """One tree's server and the calls made to it."""

    def __init__(self, tree: Path, server: Server) -> None:
        self.tree = tree
        self.server = server
        self.sdk = get_client(url=server.url, timeout=60)
        self.http = httpx.AsyncClient(base_url=server.url, timeout=60)
        self.thread_id = ""
        self.fresh: list[str] = []

    async def prepare(self, kinds: list[str], fresh_needed: int) -> None:
        self.thread_id = (await self.sdk.threads.create())["thread_id"]
        if "fresh" in kinds:
            for _ in range(fresh_needed):
                self.fresh.append((await self.sdk.threads.create())["thread_id"])

    def call(self, kind: str) -> Callable[[], Awaitable[Any]]:
        if kind == "floor":
            return lambda: self.http.get("/info")
        if kind == "stateless":
            return lambda: self.sdk.runs.wait(None, GRAPH_ID, input=INPUT)
        if kind == "fresh":
            return lambda: self.sdk.runs.wait(self.fresh.pop(), GRAPH_ID, input=INPUT)
        return lambda: self.sdk.runs.wait(self.thread_id, GRAPH_ID, input=INPUT)

    async def close(self) -> None:
        await self.http.aclose()
        await self.sdk.http.client.aclose()


async def measure(targets: list[Target], kinds: list[str], rounds: int, block: int) -> None:
    for target in targets:
        await target.prepare(kinds, rounds * block + WARMUP)
        for kind in kinds:
            for _ in range(WARMUP):
                await target.call(kind)()
    # (cpu ms per call, wall ms per call) of every block, by target and kind
    blocks: dict[tuple[int, str], list[tuple[float, float]]] = {}
    loop = asyncio.get_running_loop()
    for r in range(rounds):
        for kind in kinds:
            order = list(range(len(targets)))
            if r % 2:
                order.reverse()
            for i in order:
                target = targets[i]
                assert target.server.process is not None
                pid = target.server.process.pid
                call = target.call(kind)
                cpu0, wall0 = cpu_ns(pid), loop.time()
                for _ in range(block):
                    await call()
                cpu, wall = cpu_ns(pid) - cpu0, loop.time() - wall0
                blocks.setdefault((i, kind), []).append((cpu / block / 1e6, wall / block * 1e3))
    names = [str(t.tree) for t in targets]
    width = max(len(n) for n in names)
    header = ("cpu ms p50", "mean", "wall ms", "ratio")
    print(
        f"{'kind':10s} {'tree':{width}s} {header[0]:>10s} {header[1]:>7s}"
        f" {header[2]:>8s} {header[3]:>6s}"
    )
    for kind in kinds:
        first = statistics.median(c for c, _ in blocks[(0, kind)])
        for i, name in enumerate(names):
            cpu = [c for c, _ in blocks[(i, kind)]]
            wall = statistics.median(w for _, w in blocks[(i, kind)])
            median = statistics.median(cpu)
            print(
                f"{kind:10s} {name:{width}s} {median:10.2f} {statistics.mean(cpu):7.2f}"
                f" {wall:8.2f} {median / first:6.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="directories holding `distaff`")
    parser.add_argument("--backend", choices=("postgres", "sqlite", "memory"), default="postgres")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block", type=int, default=40)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    for tree in args.trees:
        if not (tree / "distaff" / "__init__.py").is_file():
            parser.error(f"{tree} holds no distaff package")
    tmp = Path(tempfile.mkdtemp(prefix="distaff-bench-ab-"))
    with ExitStack() as stack:
        cluster = None
        if args.backend == "postgres":
            from tests.postgres import Cluster

            cluster = Cluster(tmp / "pg")
            stack.callback(cluster.stop)
        targets = []
        for i, tree in enumerate(args.trees):
            if cluster is not None:
                url = cluster.database()
            elif args.backend == "sqlite":
                url = f"sqlite:///{tmp}/tree{i}.sqlite"
            else:
                url = "memory://"
            server = Server(
                url,
                env={"PYTHONPATH": str(tree.resolve())},
                manifest=MANIFEST,
                log_path=tmp / f"tree{i}.log",
            )
            stack.enter_context(server)
            targets.append(Target(tree, server))
        print(
            f"distaff A/B: {args.backend}, {args.rounds} rounds of {args.block} calls per kind"
            f" and tree, load average {psutil.getloadavg()[0]:.2f} at the start",
            file=sys.stderr,
        )

        async def run() -> None:
            try:
                await measure(targets, kinds, args.rounds, args.block)
            finally:
                for target in targets:
                    await target.close()

        asyncio.run(run())


if __name__ == "__main__":
    main()
