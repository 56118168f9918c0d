"""Server-sent events and the wait/join keep-alive, byte for byte as the reference sends them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from starlette.responses import StreamingResponse

from distaff.engine.broker import StreamEvent, Subscription
from distaff.engine.modes import matches
from distaff.models import RunOutcome
from distaff.serde import dumps

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"
HEARTBEAT = b": heartbeat\r\n\r\n"


def frame(event: StreamEvent, with_id: bool) -> bytes:
    name = event.event.encode().translate(None, b"\r\n")
    parts = [b"event: ", name, b"\r\ndata: ", event.data, b"\r\n"]
    if with_id:
        parts += [b"id: ", event.id.encode().translate(None, b"\r\n"), b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts)


async def sse_events(
    subscription: Subscription,
    *,
    heartbeat: float,
    modes: Collection[str] | None = None,
    on_disconnect: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[bytes]:
    """Relay a run's events; `: heartbeat` every `heartbeat` seconds from the first byte on."""
    ended = False
    next_beat = time.monotonic() + heartbeat
    try:
        while True:
            try:
                event = await subscription.next(max(0.0, next_beat - time.monotonic()))
            except TimeoutError:
                next_beat += heartbeat
                yield HEARTBEAT
                continue
            if event is None:
                ended = True
                return
            if modes is None or event.event == "error" or matches(event.event, modes):
                yield frame(event, event.resumable)
    finally:
        subscription.close()
        if not ended and on_disconnect is not None:
            _detach(on_disconnect())


async def wait_body(
    subscription: Subscription,
    body: Callable[[RunOutcome | None], Awaitable[Any]],
    *,
    heartbeat: float,
    on_disconnect: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[bytes]:
    """Wait for the run's end, sending a newline every `heartbeat` seconds, then the JSON body."""
    ended = False
    try:
        while True:
            try:
                event = await subscription.next(heartbeat)
            except TimeoutError:
                yield b"\n"
                continue
            if event is None:
                ended = True
                break
        yield dumps(await body(subscription.outcome))
    finally:
        subscription.close()
        if not ended and on_disconnect is not None:
            _detach(on_disconnect())


_background: set[asyncio.Task[Any]] = set()


def _detach(awaitable: Awaitable[Any]) -> None:
    """Run cleanup after a disconnect; the request's own task is being cancelled."""

    async def run() -> None:
        with contextlib.suppress(Exception):
            await awaitable

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


def sse_response(body: AsyncIterator[bytes], headers: dict[str, str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=SSE_MEDIA_TYPE,
        headers={
            **headers,
            "Cache-Control": "no-store",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",
        },
    )


def json_stream_response(
    body: AsyncIterator[bytes], headers: dict[str, str], status: int = 200
) -> StreamingResponse:
    return StreamingResponse(
        body, status_code=status, media_type="application/json", headers=headers
    )
