"""uvicorn's httptools protocol with a bounded request head, for `distaff dev` and `serve`.

httptools (llhttp) sets no limit on a request line or header: it buffers a header value of any
size, so a client could make the server hold megabytes per connection before a byte reached
the app or its authentication (40 connections sending 10 MB headers took about 470 MB). This
subclass counts the bytes of each request head (request line, header lines and the blank line
that ends them) as they arrive, before they are parsed, and past `Settings.max_header_bytes`
answers `431 Request Header Fields Too Large` with a JSON `{"detail": ...}` and closes the
connection, parsing nothing more. More than `MAX_HEADER_FIELDS` header lines get the same
answer (a parsed header line costs the server far more than its few bytes). The trailer
fields after a chunked body are header fields too, buffered the same way: they are counted the
same way, from the last chunk's size line on.

The cost is an addition and a comparison per read while a head is arriving, a length check per
header line and two overridden parser callbacks per request: about 1 µs a request, against some
300 µs of server CPU for the cheapest request (`GET /ok`). Reads within the limit are fed to
the parser exactly as before.

Only the CLI serves with it (`uvicorn.run(..., http=cli.HTTP_PROTOCOL)`): an app you serve
yourself, under uvicorn, hypercorn or anything else, keeps that server's own head limits (pass
`http="distaff.http_protocol:BoundedHttpToolsProtocol"` to uvicorn to have these).
"""

from __future__ import annotations

import asyncio
import json
import sys
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from distaff.settings import Settings

#: Header lines one request may carry (Apache's default is 100; browsers send about 20).
MAX_HEADER_FIELDS = 256
#: After a refusal the connection stays open this long, reading and dropping what the client
#: still sends, so that it reads the 431 instead of a reset (closing a socket with unread
#: data sends RST, which can discard the answer before the client reads it).
LINGER_SECONDS = 2.0


@cache
def max_header_bytes() -> int:
    """Read once per process, from the environment (`DISTAFF_MAX_HEADER_BYTES`), as the app
    factory reads its settings."""
    return Settings().max_header_bytes


class _TooManyFields(Exception):
    """Raised from the parser's header callback; it stops the parse."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_bytes = max_header_bytes()
        #: In header fields: from the end of one request's body to the end of the next one's
        #: headers, and from a chunk's size line to its data (the trailers, after the last).
        self._in_head = True
        self._head_bytes = 0
        #: Counts the moves out of header fields (headers complete, chunk data).
        self._heads_done = 0
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        while not self._refused:
            if not self._in_head:
                super().data_received(data)
                return
            seen = self._head_bytes + len(data)
            if seen <= self._max_bytes:
                self._head_bytes = seen
                super().data_received(data)
                return
            # This read goes past the limit: feed only what still fits. If the head ends in
            # there, the rest is body (or the next request) and goes round again; if not, the
            # head is too large, and the parser never sees the bytes past the limit.
            room = self._max_bytes - self._head_bytes
            heads = self._heads_done
            self._head_bytes = self._max_bytes
            if room:
                super().data_received(data[:room])
            if self._refused or self.transport.is_closing():
                return  # refused for its fields, or answered 400 by uvicorn
            if self._heads_done == heads:
                self._refuse(
                    f"Request header fields too large: the limit is {self._max_bytes} bytes"
                )
                return
            data = data[room:]
        # Refused and lingering: what still arrives is dropped unread.

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's own `on_header` (0.54, pinned in constraints.txt), inlined because it runs
        # for every header line, with the count in front.
        headers = self.headers
        if len(headers) >= MAX_HEADER_FIELDS:
            raise _TooManyFields
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_done += 1
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._in_head:  # chunk data after its size line
            self._in_head = False
            self._heads_done += 1
        super().on_body(body)

    def on_chunk_header(self) -> None:
        # Trailers follow the last chunk's size line (llhttp tells no chunk's size, so every
        # size line opens a count, which its data closes).
        self._in_head = True
        self._head_bytes = 0

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with 400; a callback's exception comes back as
        # one, with the exception as its context.
        if isinstance(_parse_error_context(), _TooManyFields):
            self._refuse(f"Too many request header fields: the limit is {MAX_HEADER_FIELDS}")
            return
        super().send_400_response(msg)

    def _refuse(self, detail: str) -> None:
        self._refused = True
        self.logger.warning("%s; refused %s", detail, _peer(self.client))
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body:
                # A pipelined head behind a response still being written: no answer can go in
                # between; the connection closes once that response is out.
                cycle.keep_alive = False
                return
            # Trailers of a body the app is reading: it is told the client left, and what it
            # sends is dropped; the answer is this one, if the app's has not begun.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        body = json.dumps({"detail": detail}).encode()
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)


def _parse_error_context() -> BaseException | None:
    """The exception a callback raised, when `send_400_response` is called from uvicorn's
    `except httptools.HttpParserError` (it is the one being handled)."""
    handled = sys.exc_info()[1]
    if isinstance(handled, httptools.HttpParserCallbackError):
        return handled.__context__
    return None


def _peer(client: tuple[str, int] | None) -> str:
    return f"for {client[0]}:{client[1]}" if client else "for a client"
