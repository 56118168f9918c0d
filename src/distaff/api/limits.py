"""Request body limits: 413 with `{"detail": ...}` before a large body is in memory, and 408
for a body that stops arriving.

Pure ASGI, so it sees the body as the server delivers it, chunk by chunk. A declared
`Content-Length` over the limit is answered at once without reading a byte; a body without one
(chunked) is counted as the route reads it, and reading stops at the first chunk past the
limit. Either way the server drains and discards the rest, so the client gets the answer rather
than a reset connection.

A client that sends its headers and part of a body, then nothing, would hold the request (and
whatever the route holds while it reads) for ever: each read of the body waits at most
`timeout` seconds for the next chunk, so a slow body that keeps coming is not cut off, a
stalled one gets 408 (and the connection is closed). The timeout applies only while the body is
incomplete and no response has started: afterwards `receive()` is a streaming response waiting
for the client to disconnect, which may rightly take hours. The reads waiting for a body share
one timer (`_Stalls`): a timer per read would cost more than the rest of this middleware.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distaff.api.responses import JSON


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit.

    An `HTTPException` on purpose: FastAPI's body parsing turns any other error into a 400
    ("There was an error parsing the body") but lets this one through, to distaff's handler,
    which answers `{"detail": ...}` with the status.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large: the limit is {limit} bytes")


class BodyTimeout(HTTPException):
    """Raised from `receive` when the body stops arriving; an `HTTPException` like
    `BodyTooLarge`, for the same reason. The connection is closed after the answer: what the
    client sends later is the rest of a body nobody reads."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"Request body timed out: nothing arrived for {seconds:g} seconds",
            headers={"Connection": "close"},
        )


class _Wait:
    """One read of a body waiting for its next piece."""

    __slots__ = ("deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.expired = False


class _Stalls:
    """Body reads in progress and when each must give up, swept by one timer while there are
    any. A stalled read is cancelled between `timeout` and `timeout + tick` after it began.

    One timer, not one per read: uvloop's `call_later` alone costs a few microseconds, and a
    read almost never waits at all (a small body comes with its head, before the route runs).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(1.0, timeout / 4)
        self._waits: dict[_Wait, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> _Wait:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        if loop is not self._loop:  # first use, or a new event loop: nothing carries over
            self._loop, self._timer, self._waits = loop, None, {}
        wait = _Wait(task, loop.time() + self.timeout)
        self._waits[wait] = None
        if self._timer is None:
            self._timer = loop.call_later(self.tick, self._sweep)
        return wait

    def stop(self, wait: _Wait) -> None:
        self._waits.pop(wait, None)

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for wait in [w for w in self._waits if w.deadline <= now]:
            del self._waits[wait]
            wait.expired = True
            wait.task.cancel()
        self._timer = self._loop.call_later(self.tick, self._sweep) if self._waits else None


def _body_framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared `Content-Length`, and whether a body may follow at all."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server's HTTP parser has already refused a malformed value.
            declared = int(value) if value.strip().isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked or bool(declared)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._stalls = _Stalls(timeout) if timeout is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, has_body = _body_framing(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(BodyTooLarge(self.max_bytes), scope, receive, send)
            return

        received = 0
        started = False
        # Without a body (most GETs) there is nothing to wait for: no timer at all.
        complete = not has_body
        stalls = self._stalls

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete or started or stalls is None:
                message = await receive()
            else:
                wait = stalls.start()
                try:
                    message = await receive()
                except asyncio.CancelledError:
                    # Cancelled by the sweep, and by nothing else: the body stalled.
                    if wait.expired and wait.task.uncancel() == 0:
                        raise BodyTimeout(stalls.timeout) from None
                    raise
                finally:
                    stalls.stop(wait)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = complete or not message.get("more_body", False)
                # Once a response has started, only a disconnect listener reads on (a route
                # that takes no body); it discards what it reads, so there is nothing to stop.
                if received > self.max_bytes and not started:
                    raise BodyTooLarge(self.max_bytes)
            else:
                complete = True  # disconnected: nothing more will come
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except (BodyTooLarge, BodyTimeout) as exc:
            # Normally the app's HTTPException handler has answered already; this covers a body
            # read where no handler reaches (e.g. in a middleware).
            if started:
                raise
            await self._refuse(exc, scope, receive, send)

    async def _refuse(self, exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSON({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        await answer(scope, receive, send)
