"""The v2 streaming protocol's routes: `POST /threads/{id}/commands`, the SSE event stream
`POST /threads/{id}/stream/events`, and the WebSocket on the same path.

Protocol errors are HTTP 200 with `type: "error"` (the SDKs read the envelope on 2xx and raise
on anything else); a body that is no command is a 400. Streams replay the thread's kept events
and go live; they never end by themselves, and send `: heartbeat` every `heartbeat_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from starlette.background import BackgroundTask
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response, StreamingResponse

from distaff.api.auth import principal_of
from distaff.api.errors import status_of
from distaff.api.protocol_schemas import COMMAND_REPLIES
from distaff.api.response_schemas import ERRORS
from distaff.api.responses import runtime
from distaff.api.sse import EVENT_STREAM, HEARTBEAT, SSE_MEDIA_TYPE, EventStream
from distaff.auth import set_principal
from distaff.backends.base import LoggedEnvelope
from distaff.engine.protocol.filters import StreamFilter
from distaff.engine.protocol.reader import PAGE, Reader
from distaff.errors import DistaffError, InvalidInput, NotFound, Refused
from distaff.ids import canonical_uuid, is_uuid
from distaff.models import Json
from distaff.runtime import Runtime
from distaff.serde import dumps
from distaff.services.protocol import CommandError, error_reply, success_reply

router = APIRouter(tags=["threads"], responses=ERRORS)
#: The WebSocket authenticates itself: the API's dependency reads an HTTP request.
socket_router = APIRouter()
Rt = Annotated[Runtime, Depends(runtime)]

SHAPE_ERROR = "Protocol commands must include an integer id and string method."
#: Commands only a WebSocket session answers (it holds the subscriptions).
SUBSCRIPTION_METHODS = (
    "subscription.subscribe",
    "subscription.unsubscribe",
    "subscription.reconnect",
)
#: WebSocket close codes: an HTTP status + 4000, which the JS SDK treats as final.
CLOSE_INVALID = 4422
CLOSE_NOT_FOUND = 4404


def frame(envelope: LoggedEnvelope) -> bytes:
    return b"".join(
        (
            b"event: ",
            envelope.method.encode(),
            b"\r\ndata: ",
            envelope.line,
            b"\r\nid: ",
            str(envelope.seq).encode(),
            b"\r\n\r\n",
        )
    )


def _command_shape(body: Any) -> tuple[Any, str, Json] | Json:
    """(id, method, params) of a command, or the error reply for one that is malformed."""
    if not isinstance(body, dict):
        return error_reply(None, "invalid_argument", SHAPE_ERROR)
    command_id, method = body.get("id"), body.get("method")
    if not isinstance(command_id, int) or not isinstance(method, str):
        return error_reply(command_id, "invalid_argument", SHAPE_ERROR)
    params = body.get("params")
    return command_id, method, params if isinstance(params, dict) else {}


def _request_info(request: StarletteRequest) -> Json:
    return {"request_id": request.headers.get("x-request-id"), "headers": dict(request.headers)}


async def _answer(
    rt: Runtime, thread_id: str, command_id: Any, method: str, params: Json, request: Json
) -> Json:
    """A command's reply, for HTTP and for a WebSocket session's thread-level commands."""
    try:
        result, applied = await rt.protocol.call(thread_id, method, params, request)
    except CommandError as exc:
        message = exc.message
        if isinstance(exc.__cause__, DistaffError) and exc.code == "unknown_error":
            # A v1 refusal, worded as the reference words it: "409: Thread is already ...".
            message = f"{status_of(exc.__cause__)}: {message}"
        return error_reply(command_id, exc.code, message, **exc.extra)
    return success_reply(command_id, result, applied)


@router.post("/threads/{thread_id}/commands", responses=COMMAND_REPLIES)
async def command(thread_id: str, request: Request, rt: Rt) -> Response:
    """One v2 protocol command; the reply is a `success` or an `error` envelope."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"detail": "Invalid JSON body"}, status_code=400)
    shape = _command_shape(body)
    if isinstance(shape, dict):
        return JSONResponse(shape, status_code=400)
    command_id, method, params = shape
    if method in SUBSCRIPTION_METHODS:
        reply = _http_subscription(command_id, method, params)
    else:
        reply = await _answer(rt, thread_id, command_id, method, params, _request_info(request))
    return Response(dumps(reply), media_type="application/json")


def _http_subscription(command_id: Any, method: str, params: Json) -> Json:
    """Subscriptions live on a WebSocket; over HTTP there is nothing to hold one."""
    if method == "subscription.subscribe":
        try:
            StreamFilter.parse(params)
        except ValueError:
            return error_reply(
                command_id,
                "invalid_argument",
                "subscription.subscribe received an unsupported channel.",
            )
        return success_reply(
            command_id, {"subscription_id": str(uuid.uuid4()), "replayed_events": 0}, 0
        )
    if method == "subscription.unsubscribe":
        return error_reply(command_id, "no_such_subscription", "No such subscription.")
    return error_reply(command_id, "no_such_run", "No active run is bound to this thread.")


def _since(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


async def _open_reader(
    rt: Runtime, thread_id: str, since: int, wanted: StreamFilter | None
) -> tuple[Reader, bool]:
    """A reader on the thread (which need not exist yet), and whether the caller may already
    see it; NotFound when it exists and is hidden from the caller."""
    thread = await rt.protocol.visible(thread_id)
    reader = await rt.events.subscribe(canonical_uuid(thread_id), since, wanted)
    # Without auth anyone may read any thread: nothing to check when it appears.
    return reader, thread is not None or not rt.auth.enabled


async def _may_read(rt: Runtime, thread_id: str) -> bool:
    """For a stream opened before its thread existed: whether the caller may see it now."""
    try:
        return await rt.protocol.visible(thread_id) is not None
    except NotFound:
        return False


@router.post(
    "/threads/{thread_id}/stream/events", response_class=EventStream, responses=EVENT_STREAM
)
async def stream_events(thread_id: str, request: Request, rt: Rt) -> Response:
    """The thread's v2 events: its kept history, then live, filtered by `channels`,
    `namespaces` and `depth`; `since` skips what a client already has. It never ends by
    itself."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"detail": "Invalid JSON body"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"detail": "The body must be a JSON object"}, status_code=400)
    try:
        wanted = StreamFilter.parse(body)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    if not is_uuid(thread_id):
        raise InvalidInput("Invalid thread ID: must be a UUID")
    reader, allowed = await _open_reader(rt, thread_id, _since(body.get("since")), wanted)
    heartbeat = rt.settings.heartbeat_seconds

    async def body_iter() -> AsyncIterator[bytes]:
        nonlocal allowed
        next_beat = time.monotonic() + heartbeat
        while True:
            batch = await reader.batch(max(0.0, next_beat - time.monotonic()))
            if batch:
                if not allowed and not (allowed := await _may_read(rt, thread_id)):
                    return  # created meanwhile, by someone whose thread this caller cannot see
                yield b"".join(frame(e) for e in batch)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + heartbeat
                yield HEARTBEAT

    async def close() -> None:
        await rt.events.unsubscribe(reader)

    return StreamingResponse(
        body_iter(),
        media_type=SSE_MEDIA_TYPE,
        headers={
            "Cache-Control": "no-store",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",
        },
        background=BackgroundTask(close),
    )


# -- WebSocket ---------------------------------------------------------------------------------


class Session:
    """One WebSocket: its subscriptions, and one reader of the thread for all of them (each
    event goes out once, whichever subscriptions want it)."""

    def __init__(self, rt: Runtime, socket: WebSocket, thread_id: str, allowed: bool) -> None:
        self.rt = rt
        self.socket = socket
        self.thread_id = canonical_uuid(thread_id)
        self.raw_thread_id = thread_id
        self.allowed = allowed
        self.subscriptions: dict[str, StreamFilter] = {}
        self.reader: Reader | None = None
        self.sent = 0
        self._lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None
        self.request: Json = {
            "request_id": socket.headers.get("x-request-id"),
            "headers": dict(socket.headers),
        }

    async def send(self, message: Json) -> None:
        await self.socket.send_text(dumps(message).decode())

    async def _send_events(self, envelopes: list[LoggedEnvelope]) -> None:
        for envelope in envelopes:
            await self.socket.send_text(envelope.line.decode())
            self.sent = max(self.sent, envelope.seq)

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        if self.reader is not None:
            await self.rt.events.unsubscribe(self.reader)

    async def _start(self, since: int) -> None:
        """The first subscription starts the socket's reader: where the log begins, or after
        `since` for a reconnect. Later subscriptions replay from the log what it passed."""
        self.reader = await self.rt.events.subscribe(self.thread_id, since, None)
        self._pump = asyncio.create_task(self._run_pump())

    async def _run_pump(self) -> None:
        assert self.reader is not None
        while True:
            batch = await self.reader.batch(self.rt.settings.heartbeat_seconds)
            if not batch:
                continue
            if not self.allowed:
                self.allowed = await _may_read(self.rt, self.thread_id)
                if not self.allowed:
                    await self.socket.close(CLOSE_NOT_FOUND, "Thread not found")
                    return
            async with self._lock:
                await self._send_events(
                    [e for e in batch if any(f.matches(e) for f in self.subscriptions.values())]
                )

    async def subscribe(self, command_id: Any, params: Json, *, reconnect: bool) -> Json:
        try:
            wanted = StreamFilter.parse(params)
        except ValueError:
            verb = "reconnect" if reconnect else "subscribe"
            return error_reply(
                command_id,
                "invalid_argument",
                f"subscription.{verb} received an unsupported channel.",
            )
        since = 0
        if reconnect:
            given_since = params.get("since")
            if not isinstance(given_since, int) or isinstance(given_since, bool) or given_since < 0:
                return error_reply(
                    command_id,
                    "invalid_argument",
                    "subscription.reconnect requires a non-negative integer since.",
                )
            since = given_since
            oldest = await self.rt.events.read(self.thread_id, 0, 1)
            if oldest and since < oldest[0].seq - 1:
                return error_reply(
                    command_id,
                    "resume_gap",
                    "The requested events are no longer kept.",
                    since=since,
                    min_available_seq=oldest[0].seq,
                )
        given = params.get("subscription_id") if reconnect else None
        subscription_id = given if isinstance(given, str) and given else str(uuid.uuid4())
        if self.reader is None:
            self.subscriptions[subscription_id] = wanted
            await self._start(since)
            return success_reply(
                command_id, {"subscription_id": subscription_id, "replayed_events": 0}, self.sent
            )
        async with self._lock:
            # What the pump already passed over: the new subscription's share of it, unless
            # another subscription already had it sent.
            others = list(self.subscriptions.values())
            upto = self.reader.cursor
            replayed = 0
            after = since
            while after < upto:
                rows = await self.rt.events.read(self.thread_id, after, PAGE)
                if not rows:
                    break
                chosen = [
                    r
                    for r in rows
                    if r.seq <= upto
                    and wanted.matches(r)
                    and (reconnect or not any(f.matches(r) for f in others))
                ]
                await self._send_events(chosen)
                replayed += len(chosen)
                after = rows[-1].seq
            self.subscriptions[subscription_id] = wanted
        return success_reply(
            command_id, {"subscription_id": subscription_id, "replayed_events": replayed}, self.sent
        )

    async def handle(self, text: str) -> None:
        try:
            body = json.loads(text)
        except ValueError:
            await self.send(
                error_reply(None, "invalid_argument", "Protocol commands must be valid JSON.")
            )
            return
        shape = _command_shape(body)
        if isinstance(shape, dict):
            await self.send(shape)
            return
        command_id, method, params = shape
        if method == "subscription.subscribe":
            reply = await self.subscribe(command_id, params, reconnect=False)
        elif method == "subscription.reconnect":
            reply = await self.subscribe(command_id, params, reconnect=True)
        elif method == "subscription.unsubscribe":
            if self.subscriptions.pop(str(params.get("subscription_id")), None) is None:
                reply = error_reply(
                    command_id,
                    "no_such_subscription",
                    "No such subscription.",
                    meta={"applied_through_seq": self.sent},
                )
            else:
                reply = success_reply(command_id, {}, self.sent)
        else:
            reply = await _answer(
                self.rt, self.raw_thread_id, command_id, method, params, self.request
            )
            if reply["type"] == "success":
                reply["meta"]["applied_through_seq"] = max(
                    self.sent, reply["meta"]["applied_through_seq"]
                )
        async with self._lock:
            await self.send(reply)


@socket_router.websocket("/threads/{thread_id}/stream/events")
async def stream_socket(socket: WebSocket, thread_id: str) -> None:
    """Commands, their replies and the thread's events on one socket."""
    rt: Runtime = socket.state.runtime
    await socket.accept()
    if not is_uuid(thread_id):
        await socket.close(CLOSE_INVALID, "Invalid thread ID")
        return
    try:
        set_principal(
            await principal_of(
                StarletteRequest({**socket.scope, "type": "http", "method": "GET"}), rt
            )
        )
        allowed = await rt.protocol.visible(thread_id) is not None or not rt.auth.enabled
    except Refused as exc:
        await socket.close(4000 + exc.status if 400 <= exc.status < 500 else 1008, str(exc))
        return
    except NotFound:
        await socket.close(CLOSE_NOT_FOUND, "Thread not found")
        return
    except DistaffError as exc:
        await socket.close(1011, str(exc))
        return
    session = Session(rt, socket, thread_id, allowed)
    try:
        while True:
            await session.handle(await socket.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()
