"""The request middleware: a request id for every request, one log line when it ends, and
(when tracing is on) its server span."""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distaff.observability import tracing
from distaff.observability.logs import LogIds, current_ids

log = logging.getLogger("distaff.request")

_HEADER = b"x-request-id"
#: An incoming id is kept when it is a short token: it goes into every log line, the response
#: header and the run's config, so no spaces, quotes or control characters, nothing long.
_SANE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
#: Polled by health checks and scrapers: logged at DEBUG, not INFO.
_QUIET_ROUTES = frozenset({"/ok", "/metrics"})


def new_request_id() -> str:
    """A random UUID (version 4), as `langgraph_request_id` always was; built from the bytes
    directly, as `str(uuid.uuid4())` takes several times longer."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id_of(scope: Scope) -> str:
    """The request's id: its `X-Request-Id` when that is sane, else a new one. Either way the
    scope's headers then carry exactly that id, so the handlers (which store it on the runs
    the request creates, as `langgraph_request_id`) see the id the logs show."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == _HEADER:
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    new = new_request_id()
    scope["headers"] = [(k, v) for k, v in headers if k != _HEADER]
    scope["headers"].append((_HEADER, new.encode("ascii")))
    return new


class RequestObservability:
    """Outermost middleware, so its duration covers the others and its ids are bound for them.

    Pure ASGI (no `BaseHTTPMiddleware`): a streamed body passes through untouched, and the
    line is written when the body has been sent, with the status the response started with.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracing = tracing.enabled()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_of(scope)
        echo = (_HEADER, request_id.encode("ascii"))
        status = 500
        error: BaseException | None = None

        span = tracing.RequestSpan(scope, request_id) if self.tracing else None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echo]}
                if span is not None:
                    span.responding(scope.get("path_params"))
            await send(message)

        ids = current_ids.set(LogIds(request_id, path_params_of=scope))
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                self._ended(scope, start, status, span, error)
            finally:
                current_ids.reset(ids)

    @staticmethod
    def _ended(
        scope: Scope,
        start: float,
        status: int,
        span: tracing.RequestSpan | None,
        error: BaseException | None,
    ) -> None:
        route = getattr(scope.get("route"), "path", None)
        if span is not None:
            span.end(route, status, error)
        level = logging.DEBUG if route in _QUIET_ROUTES else logging.INFO
        if not log.isEnabledFor(level):
            return
        ms = round((time.perf_counter() - start) * 1000, 1)
        method, path = scope["method"], scope["path"]
        log.log(
            level,
            "%s %s %d %.1f ms",
            method,
            path,
            status,
            ms,
            extra={
                "method": method,
                "route": route or "unmatched",
                "path": path,
                "status": status,
                "duration_ms": ms,
            },
        )
