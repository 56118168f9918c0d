"""`create_app` and `from_langgraph_json`: distaff as an ASGI application."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware

from distaff.api import assistants, crons, errors, metrics, runs, store, system, threads
from distaff.errors import ConfigError, describe_validation
from distaff.graphs import GraphRegistry, registry_from_specs
from distaff.manifest import Manifest, load_manifest
from distaff.runtime import Runtime
from distaff.settings import Settings


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with Runtime.open(settings, registry) as rt:
            yield {"runtime": rt}

    from distaff import __version__

    app = FastAPI(
        title="distaff",
        version=__version__,
        description="LangGraph Agent Server API, served by distaff",
        lifespan=lifespan,
    )
    errors.install(app)
    app.state.metrics = metrics.Metrics()
    for router in (
        system.router,
        metrics.router,
        assistants.router,
        threads.router,
        crons.router,  # before runs: its literal /runs/crons paths must win
        runs.router,
        store.router,
    ):
        app.include_router(router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["x-pagination-total", "x-pagination-next", "content-location", "location"],
    )
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)
    return app


def from_langgraph_json(path: str | os.PathLike[str], settings: Settings | None = None) -> FastAPI:
    """An app for every graph a `langgraph.json` names, with its env and dependencies applied."""
    manifest = load_manifest(path)
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
