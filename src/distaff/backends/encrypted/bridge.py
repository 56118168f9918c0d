"""Synchronous calls into the encrypted saver and store: the handlers are async, so a call from
a graph node's worker thread (a sync node, `subgraph.invoke`) is run on the server's event loop
and waited for there; on the loop itself it cannot be, and is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on(loop: asyncio.AbstractEventLoop | None, call: Coroutine[Any, Any, T], refusal: str) -> T:
    """`call`'s result, run on `loop` from another thread; NotImplementedError(`refusal`) when
    there is no running loop to run it on or this is that loop's thread."""
    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if loop is None or on_loop or not loop.is_running():
        call.close()
        raise NotImplementedError(refusal)
    return asyncio.run_coroutine_threadsafe(call, loop).result()
