"""The v2 streaming protocol's WebSocket, `/threads/{id}/stream/events`: one session per socket,
its subscriptions, the thread-level commands (answered as over HTTP, protocol.py) and the
thread's events on the one socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.requests import Request as StarletteRequest

from distaff.api.auth import principal_of
from distaff.api.protocol import answer, command_shape, may_read
from distaff.api.routing import Router
from distaff.auth import set_principal
from distaff.backends.base import LoggedEnvelope
from distaff.engine.protocol.filters import StreamFilter
from distaff.engine.protocol.reader import PAGE, Reader
from distaff.errors import DistaffError, NotFound, Refused
from distaff.ids import canonical_uuid, is_uuid
from distaff.models import Json
from distaff.runtime import Runtime
from distaff.serde import dumps
from distaff.services.protocol import error_reply, success_reply

#: The WebSocket authenticates itself: the API's dependency reads an HTTP request.
socket_router = Router()
#: WebSocket close codes: an HTTP status + 4000, which the JS SDK treats as final.
CLOSE_INVALID = 4422
CLOSE_NOT_FOUND = 4404


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
                self.allowed = await may_read(self.rt, self.thread_id)
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
        shape = command_shape(body)
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
            reply = await answer(
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
