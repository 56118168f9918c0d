"""A request body size limit: 413 with `{"detail": ...}` before a large body is in memory.

Pure ASGI, so it sees the body as the server delivers it, chunk by chunk. A declared
`Content-Length` over the limit is answered at once without reading a byte; a body without one
(chunked) is counted as the route reads it, and reading stops at the first chunk past the
limit. Either way the server drains and discards the rest, so the client gets the answer rather
than a reset connection.
"""

from __future__ import annotations

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


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server's HTTP parser has already refused a malformed value.
            return int(value) if value.strip().isdigit() else None
    return None


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                # Once a response has started, only a disconnect listener reads on (a route
                # that takes no body); it discards what it reads, so there is nothing to stop.
                if received > self.max_bytes and not started:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Normally the app's HTTPException handler has answered already; this covers a body
            # read where no handler reaches (e.g. in a middleware).
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = BodyTooLarge(self.max_bytes)
        await JSON({"detail": exc.detail}, status_code=exc.status_code)(scope, receive, send)
