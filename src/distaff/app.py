"""`create_app` and `from_langgraph_json`: distaff as an ASGI application."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypedDict

from fastapi import Depends, FastAPI
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware

from distaff import observability
from distaff.api import (
    a2a,
    assistants,
    crons,
    docs,
    errors,
    limits,
    mcp,
    metrics,
    protocol,
    protocol_socket,
    runs,
    store,
    studio,
    system,
    threads,
    ui,
)
from distaff.api.auth import authenticate
from distaff.api.cors import cors_options
from distaff.api.creation_route import creation_routes
from distaff.api.custom import CustomRoutes, custom_lifespan, load_custom_app, user_middleware
from distaff.errors import ConfigError, describe_validation
from distaff.graphs import GraphRegistry, registry_from_specs
from distaff.manifest import Manifest, load_manifest
from distaff.runtime import Runtime
from distaff.services.ui import UiBundles
from distaff.settings import Settings
from distaff.version import __version__


class State(TypedDict):
    runtime: Runtime


def create_app(
    *,
    graphs: Mapping[str, Any] | GraphRegistry,
    settings: Settings | None = None,
) -> FastAPI:
    """An ASGI app serving `graphs` (graph id -> compiled graph, StateGraph or builder)."""
    settings = settings or Settings()
    registry = graphs if isinstance(graphs, GraphRegistry) else GraphRegistry(graphs)

    http = settings.http
    extra = load_custom_app(http.app) if http.app is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with Runtime.open(settings, registry) as rt, AsyncExitStack() as stack:
            if not http.disable_mcp:
                # The MCP transport, started by the first MCP request; a new one each start.
                app.state.mcp = mcp.McpTransport()
                stack.push_async_callback(app.state.mcp.close)
            if extra is None:
                yield {"runtime": rt}
                return
            async with custom_lifespan(extra):
                yield {"runtime": rt}

    app = FastAPI(
        title="distaff",
        version=__version__,
        description="LangGraph Agent Server API, served by distaff",
        lifespan=lifespan,
        docs_url=None,  # served by `api/docs.py`, without a CDN
        redoc_url=None,
    )
    errors.install(app)
    if not http.disable_meta:
        docs.install(app)
    app.state.metrics = metrics.Metrics()
    app.state.ui_bundles = UiBundles(settings.ui_dir)
    # Custom auth: every API route authenticates first (the meta routes never do).
    authenticated = [Depends(authenticate)] if settings.auth is not None else None
    for router, off in (
        (system.router, False),
        (metrics.router, http.disable_meta),
        (assistants.router, http.disable_assistants),
        (threads.router, http.disable_threads),
        (crons.router, http.disable_runs),  # before runs: its literal /runs/crons paths win
        (runs.router, http.disable_runs),
        (runs.stateless_router, http.disable_runs),
        (protocol.router, http.disable_runs),
        (store.router, http.disable_store),
        (mcp.router, http.disable_mcp),
        (a2a.router, http.disable_a2a),
        (ui.router, http.disable_ui),
    ):
        if off:
            continue
        if router is system.router:
            app.include_router(studio.router)  # a static page: it authenticates through the API
            _include_system(app, disable_meta=http.disable_meta)
            continue
        app.include_router(router, dependencies=None if router is metrics.router else authenticated)
    if not http.disable_runs:
        app.include_router(protocol_socket.socket_router)
        # First, so the run-creating requests skip FastAPI's matching and handling.
        creating = [*runs.router.routes, *runs.stateless_router.routes]
        app.router.routes[:0] = creation_routes(
            creating, authenticated=settings.auth is not None, router=app.router
        )
    if not http.disable_ui:
        app.include_router(ui.assets_router)  # public: script and link tags send no token
    if extra is not None:
        # Its middleware wraps distaff's routes too; its own routes get it from its own stack.
        for middleware in reversed(user_middleware(extra)):
            app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
        app.add_middleware(CustomRoutes, custom=extra, authenticate=http.enable_custom_route_auth)
    app.add_middleware(  # inside CORS
        limits.BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
    )
    cors = cors_options(http.cors, settings.cors_default, authenticated=settings.auth is not None)
    app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)
    # Last, so outermost: request ids and log lines (and spans) for everything above.
    observability.install(app)
    _publish_openapi(app, extra, settings)
    return app


def _include_system(app: FastAPI, *, disable_meta: bool) -> None:
    if not disable_meta:
        app.include_router(system.router)
        return
    # `/ok` stays for load balancers; `/` and `/info` go.
    for route in system.router.routes:
        if getattr(route, "path", None) == "/ok":
            app.router.routes.append(route)


def _publish_openapi(app: FastAPI, extra: Any, settings: Settings) -> None:
    """The OpenAPI document also describes the custom app's routes and `auth.openapi`."""
    security = settings.auth.openapi if settings.auth is not None else None
    extra_openapi = getattr(extra, "openapi", None)
    if security is None and extra_openapi is None:
        return
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base()
        if extra_openapi is not None:
            theirs = extra_openapi()
            schema["paths"] = {**schema.get("paths", {}), **theirs.get("paths", {})}
            components = schema.setdefault("components", {})
            for kind, entries in (theirs.get("components") or {}).items():
                components[kind] = {**components.get(kind, {}), **entries}
        if security is not None:
            components = schema.setdefault("components", {})
            schemes = security.get("securitySchemes") or {}
            components["securitySchemes"] = {**components.get("securitySchemes", {}), **schemes}
            if security.get("security") is not None:
                schema["security"] = security["security"]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def from_langgraph_json(path: str | os.PathLike[str], settings: Settings | None = None) -> FastAPI:
    """An app for every graph a `langgraph.json` names, with its env and dependencies applied."""
    manifest = load_manifest(path)
    manifest.warn()
    manifest.apply_environment()
    settings = manifest_settings(manifest, settings or Settings())
    return create_app(graphs=registry_from_specs(manifest.graphs), settings=settings)


def manifest_settings(manifest: Manifest, settings: Settings) -> Settings:
    """`settings` with what the manifest decides filled in where the caller (or a DISTAFF_*
    variable) set nothing."""
    overrides = {
        key: value
        for key, value in manifest.settings_overrides().items()
        if key not in settings.model_fields_set
    }
    if not overrides:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(f"{manifest.path}: {describe_validation(exc.errors())}") from None
