"""Your own Starlette or FastAPI app beside the API (`http.app` in `langgraph.json`).

A request goes to your app when one of its routes matches it fully, before distaff's routes
are looked at, so your routes may shadow the API's (`/` and `/info` included), but never `/ok`,
`/metrics` or the docs. Your app's middleware also wraps distaff's routes, and its lifespan
runs inside the server's. Your routes are not authenticated unless
`http.enable_custom_route_auth` is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from distaff.api.auth import principal_of
from distaff.api.responses import JSON
from distaff.auth import set_principal
from distaff.errors import ConfigError, Refused
from distaff.imports import import_reference

#: Paths a custom app cannot take over.
RESERVED = frozenset({"/ok", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


def load_custom_app(target: Any) -> Starlette:
    """The app `http.app` names (or the app itself)."""
    if isinstance(target, str):
        target = import_reference(target, Path("."), "http.app")
    if not isinstance(target, Starlette):
        raise ConfigError(f"http.app must be a Starlette or FastAPI app, got {target!r}")
    return target


def user_middleware(custom: Starlette) -> list[Middleware]:
    """The custom app's middleware, to wrap distaff's routes as well."""
    return list(custom.user_middleware)


@contextlib.asynccontextmanager
async def custom_lifespan(custom: Starlette) -> AsyncIterator[None]:
    async with custom.router.lifespan_context(custom) as state:
        # A lifespan that yields state hands it to its own requests only; ours carry ours.
        del state
        yield


class CustomRoutes:
    """Middleware: requests your app's routes match go to your app."""

    def __init__(self, app: ASGIApp, custom: Starlette, *, authenticate: bool) -> None:
        self.app = app
        self.custom = custom
        self.authenticate = authenticate

    def _claims(self, scope: Scope) -> bool:
        if scope["type"] not in ("http", "websocket") or scope["path"] in RESERVED:
            return False
        if scope["path"].startswith("/docs/assets/"):  # the docs page's own files
            return False
        return any(route.matches(scope)[0] == Match.FULL for route in self.custom.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._claims(scope):
            await self.app(scope, receive, send)
            return
        if self.authenticate and scope["type"] == "http":
            request = Request(scope, receive)
            try:
                set_principal(await principal_of(request, request.state.runtime))
            except Refused as exc:
                response = JSON({"detail": exc.message}, exc.status, headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.custom(scope, receive, send)
