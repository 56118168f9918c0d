"""The v2 streaming protocol's HTTP routes: `POST /threads/{id}/commands` and the SSE event
stream `POST /threads/{id}/stream/events` (the WebSocket on the same path: protocol_socket.py).

Protocol errors are HTTP 200 with `type: "error"` (the SDKs read the envelope on 2xx and raise
on anything else); a body that is no command is a 400. Streams replay the thread's kept events
and go live; they never end by themselves, and send `: heartbeat` every `heartbeat_seconds`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response

from distaff.api.errors import status_of
from distaff.api.protocol_schemas import COMMAND_REPLIES
from distaff.api.response_schemas import ERRORS
from distaff.api.responses import runtime
from distaff.api.routing import Router
from distaff.api.sse import (
    EVENT_STREAM,
    HEARTBEAT,
    SSE_MEDIA_TYPE,
    EventStream,
    ReaderResponse,
    sse_headers,
)
from distaff.backends.base import LoggedEnvelope
from distaff.engine.protocol.filters import StreamFilter
from distaff.engine.protocol.reader import Reader
from distaff.errors import DistaffError, InvalidInput, NotFound
from distaff.ids import canonical_uuid, is_uuid
from distaff.models import Json
from distaff.runtime import Runtime
from distaff.serde import dumps
from distaff.services.protocol import CommandError, error_reply, success_reply

router = Router(tags=["threads"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]

SHAPE_ERROR = "Protocol commands must include an integer id and string method."
#: Commands only a WebSocket session answers (it holds the subscriptions).
SUBSCRIPTION_METHODS = (
    "subscription.subscribe",
    "subscription.unsubscribe",
    "subscription.reconnect",
)


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


def command_shape(body: Any) -> tuple[Any, str, Json] | Json:
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


async def answer(
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
    shape = command_shape(body)
    if isinstance(shape, dict):
        return JSONResponse(shape, status_code=400)
    command_id, method, params = shape
    if method in SUBSCRIPTION_METHODS:
        reply = _http_subscription(command_id, method, params)
    else:
        reply = await answer(rt, thread_id, command_id, method, params, _request_info(request))
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


async def may_read(rt: Runtime, thread_id: str) -> bool:
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
                if not allowed and not (allowed := await may_read(rt, thread_id)):
                    return  # created meanwhile, by someone whose thread this caller cannot see
                yield b"".join(frame(e) for e in batch)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + heartbeat
                yield HEARTBEAT

    async def close() -> None:
        await rt.events.unsubscribe(reader)

    return ReaderResponse(body_iter(), SSE_MEDIA_TYPE, sse_headers({}), close, close)
