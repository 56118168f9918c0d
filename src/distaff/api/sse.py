"""Server-sent events and the wait/join keep-alive, byte for byte as the reference sends them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from distaff.engine.broker import Subscription
from distaff.engine.modes import matches
from distaff.events import StreamEvent
from distaff.models import RunOutcome
from distaff.serde import dumps

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"
HEARTBEAT = b": heartbeat\r\n\r\n"


class Last(bytes):
    """A body's final chunk, known to be final when it is yielded: `ReaderResponse` sends it
    with the body's end, one trip through the middleware and one write to the socket instead
    of two (every `runs.wait` ends so, and every stream whose last batch holds its end)."""


class EventStream(Response):
    """A streaming route's `response_class`, so `/openapi.json` says it answers
    `text/event-stream` (the route returns its own `sse_response`)."""

    media_type = "text/event-stream"


#: What a streaming route's `responses` declare: before OpenAPI 3.2 (`itemSchema`), the schema
#: of an event stream describes each event. Every event has a name and JSON data; with
#: `stream_resumable` (and on a thread stream) an id.
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: a run's until it ends, a thread's until you leave",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["event", "data"],
                    "properties": {
                        "event": {"type": "string"},
                        "data": {"type": "string", "contentMediaType": "application/json"},
                        "id": {"type": "string"},
                    },
                }
            }
        },
    }
}


def frame(event: StreamEvent, with_id: bool) -> bytes:
    name = event.event.encode().translate(None, b"\r\n")
    parts = [b"event: ", name, b"\r\ndata: ", event.data, b"\r\n"]
    if with_id:
        parts += [b"id: ", event.id.encode().translate(None, b"\r\n"), b"\r\n"]
    parts.append(b"\r\n")
    return b"".join(parts)


class Reader:
    """One client reading a run: its subscription, and what its disconnect means.

    `close` runs when the response ends, by its end or by the client's leaving, even when the
    body never started (a generator's own `finally` would not run then, losing
    `on_disconnect=cancel`).
    """

    def __init__(
        self,
        subscription: Subscription,
        on_disconnect: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.subscription = subscription
        self.on_disconnect = on_disconnect
        self.ended = False

    async def close(self) -> None:
        self.subscription.close()
        if not self.ended and self.on_disconnect is not None:
            on_disconnect, self.on_disconnect = self.on_disconnect, None
            with contextlib.suppress(Exception):
                await on_disconnect()


async def sse_events(
    reader: Reader,
    *,
    heartbeat: float,
    modes: Collection[str] | None = None,
    keep: Callable[[StreamEvent], bool] | None = None,
    always_ids: bool = False,
) -> AsyncIterator[bytes]:
    """Relay a run's events; `: heartbeat` every `heartbeat` seconds from the first byte on.

    `modes` filters by stream mode (a rejoin's `stream_mode`), `keep` by any rule (the thread
    stream's `stream_modes`); `always_ids` puts an `id:` on every event, not only resumable ones.
    """
    next_beat = time.monotonic() + heartbeat
    subscription = reader.subscription
    while True:
        try:
            first = await subscription.next(max(0.0, next_beat - time.monotonic()))
        except TimeoutError:
            next_beat += heartbeat
            yield HEARTBEAT
            continue
        # What else is queued already goes out in the same write: one trip through the
        # middleware and the socket for a burst of tokens instead of one per event.
        frames: list[bytes] = []
        for event in [first, *subscription.ready()] if first is not None else [None]:
            if event is None:
                reader.ended = True
                break
            if keep is not None and not keep(event):
                continue
            if modes is None or event.event == "error" or matches(event.event, modes):
                frames.append(frame(event, always_ids or event.resumable))
        if frames:
            yield Last(b"".join(frames)) if reader.ended else b"".join(frames)
        if reader.ended:
            return


async def wait_body(
    reader: Reader,
    body: Callable[[RunOutcome | None], Awaitable[Any]],
    *,
    heartbeat: float | None,
) -> AsyncIterator[bytes]:
    """Wait for the run's end, sending a newline every `heartbeat` seconds (None: never), then
    the JSON body."""
    while True:
        try:
            event = await reader.subscription.next(heartbeat)
        except TimeoutError:
            yield b"\n"
            continue
        if event is None:
            reader.ended = True
            break
    yield Last(dumps(await body(reader.subscription.outcome)))


class ReaderResponse(Response):
    """A streamed body that ends by itself or when the client leaves, `on_close` run after
    either; `on_abort` instead when the body fails or the server cancels it.

    In place of Starlette's `StreamingResponse`, which under uvicorn (ASGI 2.3) runs every
    body in an anyio task group beside a disconnect listener, and its cleanup as a background
    task that a failing body skips. Here the body runs in the request's own task and one plain
    task waits for the disconnect and cancels it: the same behaviour for less CPU on every
    `runs.wait` and every stream.
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        media_type: str,
        headers: dict[str, str],
        on_close: Callable[[], Awaitable[Any]],
        on_abort: Callable[[], Awaitable[Any]] | None = None,
        late_headers: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    ) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self._on_close = on_close
        self._on_abort = on_abort
        #: Headers known once the body's first bytes are: the head waits for them.
        self._late_headers = late_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        left = False  # the client disconnected, and the body was stopped for it
        done = False  # the body ended: a disconnect now interrupts nothing

        async def watch() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass  # the rest of a body the route did not read
            if not done:
                left = True
                task.cancel()

        started = False

        async def start(first: bytes | None = None) -> None:
            nonlocal started
            headers = self.raw_headers
            if self._late_headers is not None:
                late = (await self._late_headers()).items()
                headers = [*headers, *((k.encode(), v.encode("latin-1")) for k, v in late)]
            started = True
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": headers}
            )
            if first:
                await body(first)

        ended = False

        async def body(chunk: bytes) -> None:
            nonlocal ended
            ended = isinstance(chunk, Last)
            await send({"type": "http.response.body", "body": chunk, "more_body": not ended})

        watcher = asyncio.create_task(watch())
        try:
            if self._late_headers is None:
                await start()
            else:
                await start(await anext(aiter(self.body_iterator), b""))
            async for chunk in self.body_iterator:
                if ended:  # (a body yielding after its `Last`: sent as a chunk after the end)
                    raise RuntimeError("a response body went on after its last chunk")
                await body(chunk)
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left:
                await self._abort()
                raise
            task.uncancel()
            if not started:  # left before the head: counted as answered, not as a 500
                await send({"type": "http.response.start", "status": self.status_code})
        except BaseException:
            await self._abort()
            raise
        finally:
            done = True
            watcher.cancel()
        await self._on_close()

    async def _abort(self) -> None:
        if self._on_abort is not None:
            with contextlib.suppress(Exception):
                await self._on_abort()


def _reader_response(
    body: AsyncIterator[bytes],
    reader: Reader,
    media_type: str,
    headers: dict[str, str],
    late_headers: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
) -> ReaderResponse:
    # A failed or cancelled body frees the subscription but is no disconnect: a run that
    # cancels on disconnect goes on.
    async def free() -> None:
        reader.subscription.close()

    return ReaderResponse(body, media_type, headers, reader.close, free, late_headers)


def sse_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        **headers,
        "Cache-Control": "no-store",
        "Connection": "keep-alive",
        "X-Accel-Buffering": "no",
    }


def sse_response(
    body: AsyncIterator[bytes], reader: Reader, headers: dict[str, str]
) -> ReaderResponse:
    return _reader_response(body, reader, SSE_MEDIA_TYPE, sse_headers(headers))


def json_stream_response(
    body: AsyncIterator[bytes],
    reader: Reader,
    headers: dict[str, str],
    late_headers: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
) -> ReaderResponse:
    """A wait's answer: newlines while the run goes on, then the JSON. With `late_headers`, the
    head waits for the body's first bytes (the run's end, or the first heartbeat)."""
    return _reader_response(body, reader, "application/json", headers, late_headers)
