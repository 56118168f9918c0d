"""The time a SIGTERM takes to drain 16 running runs, and what the next start makes of them.

A real `distaff serve` (SQLite by default, or --database-url) gets 16 runs of the `steps` graph
(40 steps of 0.5 s each, one node a superstep) on 16 threads; once all run, it gets SIGTERM.
Printed: how long the process took to exit (each run finishes the step it is in, then stops:
about one step, not the whole `shutdown_grace_seconds`), how many runs the log says were drained
and how many cut, then, after a restart on the same database, how long until all 16 succeeded
and whether each thread counts exactly 40 steps (a step run twice would count 41).

    python bench/bench_drain.py [--database-url URL] [--runs 16] [--steps 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from langgraph_sdk import get_client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository, for the test suite's server launcher

from tests.servers import Server  # noqa: E402

MANIFEST = HERE / "langgraph.json"


async def _until(check: object, timeout: float) -> float:
    start = time.monotonic()
    while not await check():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            sys.exit("timed out")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def main(url: str, runs: int, steps: int, log: Path) -> None:
    env = {"DISTAFF_SHUTDOWN_GRACE_SECONDS": "10", "DISTAFF_MAX_CONCURRENT_RUNS": str(runs)}
    first = Server(url, manifest=MANIFEST, env=env, log_path=log).start(timeout=60)
    client = get_client(url=first.url, timeout=30)
    tids = [(await client.threads.create())["thread_id"] for _ in range(runs)]
    run_ids = {}
    for tid in tids:
        run = await client.runs.create(
            tid, "steps", input={"messages": [{"role": "user", "content": str(steps)}]}
        )
        run_ids[tid] = run["run_id"]

    async def all_running() -> bool:
        got = [await client.runs.get(t, r) for t, r in run_ids.items()]
        return all(g["status"] == "running" for g in got)

    await _until(all_running, 30)
    await asyncio.sleep(1.2)  # a few steps in, mid-step
    await client.http.client.aclose()
    assert first.process is not None
    sent = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(60)
    drain = time.monotonic() - sent
    text = log.read_text()
    drained, cut = text.count("run ended: drained"), text.count("run ended: requeued")

    second = Server(url, manifest=MANIFEST, env=env, log_path=log).start(timeout=60)
    client = get_client(url=second.url, timeout=30)
    restarted = time.monotonic()

    async def all_done() -> bool:
        got = [await client.runs.get(t, r) for t, r in run_ids.items()]
        return all(g["status"] == "success" for g in got)

    await _until(all_done, steps * 0.5 * 3 + 60)
    resumed = time.monotonic() - restarted
    counts = [(await client.threads.get(t))["values"]["done"] for t in tids]
    await client.http.client.aclose()
    second.stop()
    print(f"{runs} runs of {steps} steps of 0.5 s on {url.split(':')[0]}:")
    print(f"  SIGTERM to exit: {drain:.2f} s (shutdown_grace_seconds 10)")
    print(f"  drained at a step boundary: {drained}, cut and handed back: {cut}")
    print(f"  restart to all {runs} succeeded: {resumed:.1f} s")
    print(f"  steps per thread: {sorted(set(counts))} (each step once: {set(counts) == {steps}})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.database_url or f"sqlite:///{tmp}/drain.sqlite"
        log = Path(tmp) / "server.log"
        os.environ.setdefault("DISTAFF_BENCH_STEP_SECONDS", "0.5")
        asyncio.run(main(db, args.runs, args.steps, log))
