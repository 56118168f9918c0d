"""Bounded requests: a request head past `max_header_bytes` (or with too many header lines)
gets 431 and costs the server no memory, and so do trailers; a body that stalls gets 408 after
`body_timeout_seconds`, while slow bodies, streams and long waits go on. Raw sockets wherever
httpx would not send what a hostile or broken client sends.

The other request limits (body size, nesting, id lists, `/runs/batch`) are in
`tests/test_hardening.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from distaff.api.limits import BodySizeLimit
from distaff.http_protocol import MAX_HEADER_FIELDS
from tests.conftest import ARTIFACTS
from tests.servers import Server, big_header, send_head

HEAD_LIMIT = 16 * 1024
BODY_TIMEOUT = 1.0
SLOW_DELAY = 0.3


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    ARTIFACTS.mkdir(exist_ok=True)
    with Server(
        "memory://",
        env={
            "DISTAFF_MAX_HEADER_BYTES": str(HEAD_LIMIT),
            "DISTAFF_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "DISTAFF_TEST_SLOW_DELAY": str(SLOW_DELAY),
        },
        log_path=ARTIFACTS / "server-limits.log",
    ) as srv:
        yield srv


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with server.http() as c:
        yield c


def rss_mb(server: Server) -> float:
    assert server.process is not None
    with open(f"/proc/{server.process.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def exact_head(size: int, extra: bytes = b"") -> bytes:
    """A GET /ok whose head (request line, headers, blank line) is exactly `size` bytes."""
    start = b"GET /ok HTTP/1.1\r\nHost: test\r\n" + extra + b"X-Pad: "
    end = b"\r\n\r\n"
    return start + b"p" * (size - len(start) - len(end)) + end


def assert_431(head: bytes, body: bytes, part: str) -> None:
    assert head.startswith(b"HTTP/1.1 431 "), head
    assert b"content-type: application/json" in head.lower(), head
    assert b"connection: close" in head.lower(), head
    detail = json.loads(body)["detail"]
    assert part in detail, detail


async def read_answer(reader: asyncio.StreamReader, timeout: float = 5) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer with a Content-Length (none for a 204): its head and its body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head, await asyncio.wait_for(reader.readexactly(length), timeout)


# -- request heads ---------------------------------------------------------------------------


async def test_a_1mb_header_gets_431_at_once_and_others_are_served(
    server: Server, http: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    head, body = await asyncio.to_thread(send_head, server.port, big_header(1 << 20))
    assert time.monotonic() - started < 1.5  # the answer, then the server's FIN: no wait
    assert_431(head, body, f"the limit is {HEAD_LIMIT} bytes")
    assert (await http.get("/ok")).json()["ok"] is True


async def test_the_limit_is_exact_and_counts_per_request_on_a_connection(
    server: Server,
) -> None:
    # A head of exactly the limit is served, one byte more is not.
    close = b"Connection: close\r\n"
    head, _ = await asyncio.to_thread(send_head, server.port, exact_head(HEAD_LIMIT, close))
    assert head.startswith(b"HTTP/1.1 200"), head
    head, body = await asyncio.to_thread(send_head, server.port, exact_head(HEAD_LIMIT + 1))
    assert_431(head, body, "too large")
    # Each request on a keep-alive connection has its own allowance: three heads of nearly the
    # limit in a row, and a body several times the limit sent in the same write as its head
    # (the bytes past the head are body, not head).
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for _ in range(3):
            writer.write(exact_head(HEAD_LIMIT - 10))
            head, _ = await read_answer(reader)
            assert head.startswith(b"HTTP/1.1 200"), head
        item = json.dumps({"namespace": ["limits"], "key": "k", "value": {"x": "y" * 200_000}})
        writer.write(
            b"PUT /store/items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(item)}\r\n\r\n{item}".encode()
        )
        head, _ = await read_answer(reader)
        assert head.startswith(b"HTTP/1.1 204"), head
        # Two requests in one write (pipelined), then one too large on the same connection.
        writer.write(exact_head(200) + exact_head(300))
        for _ in range(2):
            head, _ = await read_answer(reader)
            assert head.startswith(b"HTTP/1.1 200"), head
        writer.write(exact_head(HEAD_LIMIT + 100))
        head, body = await read_answer(reader)
        assert_431(head, body, "too large")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed after the answer
    finally:
        writer.close()


async def test_a_head_in_small_pieces_is_counted_as_it_comes(server: Server) -> None:
    """The bytes are counted on arrival, not when a header is complete: a header that never
    ends is refused once the limit has arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /ok HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        for _ in range(2 * HEAD_LIMIT // 1000):  # each piece far under the limit
            writer.write(b"a" * 1000)
            await writer.drain()
            await asyncio.sleep(0.002)
        head, body = await read_answer(reader)
        assert_431(head, body, "too large")
    finally:
        writer.close()


async def test_too_many_header_lines_get_431(server: Server) -> None:
    def with_headers(n: int) -> bytes:
        lines = b"".join(b"X-H%d: v\r\n" % i for i in range(n))
        return b"GET /ok HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + lines + b"\r\n"

    head, body = await asyncio.to_thread(send_head, server.port, with_headers(MAX_HEADER_FIELDS))
    assert_431(head, body, f"Too many request header fields: the limit is {MAX_HEADER_FIELDS}")
    head, _ = await asyncio.to_thread(send_head, server.port, with_headers(MAX_HEADER_FIELDS - 2))
    assert head.startswith(b"HTTP/1.1 200"), head


async def test_headers_still_reach_the_app_and_expect_100_continue_works(
    server: Server, http: httpx.AsyncClient
) -> None:
    """The protocol parses headers itself (uvicorn's `on_header`, with a count): what the app
    sees is unchanged, `Expect: 100-continue` included."""
    r = await http.post("/threads", json={}, headers={"X-Request-Id": "limits-req-1"})
    assert r.headers["x-request-id"] == "limits-req-1"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /threads HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        writer.write(b"{}")
        head, body = await read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert "thread_id" in json.loads(body)
    finally:
        writer.close()


TRAILER_START = (
    b"POST /threads HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
)


async def test_trailer_fields_are_bounded_like_headers(server: Server) -> None:
    """The header fields after a chunked body are buffered like headers: a small one is fine,
    a 1 MB one gets the same 431."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(TRAILER_START + b"X-Sum: 1\r\n\r\n")
        head, body = await read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert "thread_id" in json.loads(body)
    finally:
        writer.close()
    head, body = await asyncio.to_thread(
        send_head, server.port, TRAILER_START + b"X-Sum: " + b"1" * (1 << 20) + b"\r\n\r\n"
    )
    assert_431(head, body, "too large")


async def test_many_oversized_heads_at_once_cost_no_memory(
    server: Server, http: httpx.AsyncClient
) -> None:
    """Forty connections each sending a 2 MB header, and twenty a 2 MB trailer: plain
    httptools buffers all of it (120 MB and more); here each connection is refused after the
    limit and the rest is dropped."""

    async def hostile(start: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(start)
            for _ in range(32):
                writer.write(b"a" * 65536)
                await writer.drain()
        except OSError:
            pass  # closed by the server: it heard enough
        try:
            return await asyncio.wait_for(reader.read(), 10)
        except OSError:
            return b""
        finally:
            writer.close()

    await http.get("/ok")
    before = rss_mb(server)
    answers = await asyncio.gather(
        *(hostile(b"GET /ok HTTP/1.1\r\nHost: test\r\nX-Big: ") for _ in range(40)),
        *(hostile(TRAILER_START + b"X-Big: ") for _ in range(20)),
    )
    grown = rss_mb(server) - before
    assert all(a.startswith(b"HTTP/1.1 431") for a in answers), [a[:40] for a in answers]
    assert grown < 8, f"RSS grew {grown:.1f} MB"
    assert (await http.get("/ok")).status_code == 200


# -- stalled bodies --------------------------------------------------------------------------


async def test_a_stalled_body_gets_408_within_the_timeout(
    server: Server, http: httpx.AsyncClient
) -> None:
    async def stall(framing: bytes, part: bytes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(
                b"POST /threads HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                + framing
                + part
            )
            started = time.monotonic()
            head, body = await read_answer(reader, timeout=BODY_TIMEOUT + 5)
            waited = time.monotonic() - started
            assert head.startswith(b"HTTP/1.1 408"), head
            assert b"content-type: application/json" in head.lower(), head
            assert "timed out" in json.loads(body)["detail"]
            assert BODY_TIMEOUT * 0.9 <= waited < BODY_TIMEOUT + 2, waited
            assert await asyncio.wait_for(reader.read(), 5) == b""  # and closed
        finally:
            writer.close()

    await asyncio.gather(
        stall(b"Content-Length: 100\r\n\r\n", b'{"metadata": '),
        stall(b"Transfer-Encoding: chunked\r\n\r\n", b'd\r\n{"metadata": \r\n'),
    )
    assert (await http.get("/ok")).status_code == 200


async def test_a_slow_body_that_keeps_coming_is_not_cut_off(server: Server) -> None:
    """The timeout is between two pieces, not for the whole body: this one takes 1.6 times
    the timeout to arrive."""
    body = json.dumps({"metadata": {"slow": "x" * 50}}).encode()
    pieces = [body[i : i + 8] for i in range(0, len(body), 8)]
    pause = BODY_TIMEOUT * 1.6 / len(pieces)
    assert pause < BODY_TIMEOUT / 2
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /threads HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for piece in pieces:
            await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        head, answer = await read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert json.loads(answer)["metadata"]["slow"] == "x" * 50
    finally:
        writer.close()


async def test_streams_and_long_waits_outlast_the_body_timeout(http: httpx.AsyncClient) -> None:
    """Once the body is in, the route's `receive()` waits for a disconnect, for as long as the
    answer takes: six ticks of the slow graph last 1.8 times the body timeout."""
    ticks = 6
    assert ticks * SLOW_DELAY > BODY_TIMEOUT * 1.5
    run = {"assistant_id": "slow", "input": {"messages": [{"role": "user", "content": "6"}]}}

    async def stream(path: str, body: dict[str, Any] | None = None) -> str:
        method = "POST" if body is not None else "GET"
        async with http.stream(method, path, json=body) as r:
            assert r.status_code == 200
            return "".join([chunk async for chunk in r.aiter_text()])

    thread = (await http.post("/threads", json={})).json()["thread_id"]
    background = (await http.post(f"/threads/{thread}/runs", json=run)).json()
    other = (await http.post("/threads", json={})).json()["thread_id"]
    started = time.monotonic()
    streamed, stateless, joined, waited = await asyncio.gather(
        stream(f"/threads/{other}/runs/stream", {**run, "stream_mode": ["custom", "values"]}),
        stream("/runs/stream", {**run, "stream_mode": "custom"}),
        stream(f"/threads/{thread}/runs/{background['run_id']}/stream"),
        http.post("/runs/wait", json=run),
    )
    assert time.monotonic() - started > BODY_TIMEOUT * 1.5
    for text in (streamed, stateless):
        assert text.count("event: custom") == ticks, text
        assert "event: error" not in text
    assert "slow done" in streamed and "slow done" in joined, joined
    assert waited.status_code == 200
    assert waited.json()["messages"][-1]["content"] == "slow done"


async def test_a_body_read_outside_any_route_times_out_too() -> None:
    """A body read where no exception handler reaches (an ASGI app or middleware of the
    user's) is answered by the middleware itself, in the same JSON."""

    async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the body never ends")

    async def stalled() -> Message:  # the first piece never comes
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"9")]}
    started = time.monotonic()
    await BodySizeLimit(raw_app, max_bytes=100, timeout=0.05)(scope, stalled, send)
    assert time.monotonic() - started < 1
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert "timed out" in json.loads(sent[1]["body"])["detail"]


async def test_a_read_cancelled_for_another_reason_stays_cancelled() -> None:
    """Only the timeout's own cancellation becomes a 408: a request cancelled from outside
    (a server shutting down) while it waits for its body is cancelled, and answers nothing."""
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async def stalled() -> Message:
        gate.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"9")]}
    task = asyncio.create_task(BodySizeLimit(app, max_bytes=100, timeout=10)(scope, stalled, send))
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []
