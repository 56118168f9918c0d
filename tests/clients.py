"""The real `langgraph_sdk` client against a test server, and waiting on a run's status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.servers import Server


@asynccontextmanager
async def sdk(srv: Server) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=srv.url, timeout=30)
    try:
        yield lg
    finally:
        await lg.http.client.aclose()


async def wait_status(
    client: LangGraphClient, thread_id: str, run_id: str, wanted: set[str], timeout: float = 15
) -> str:
    """The run's status once it is one of `wanted`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        status = (await client.runs.get(thread_id, run_id))["status"]
        if status in wanted:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} still {status!r} after {timeout}s, wanted {wanted}")
