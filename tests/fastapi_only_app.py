"""distaff's app with FastAPI answering every route: the `CreationRoute`s taken out. Served by
uvicorn (`--factory tests.fastapi_only_app:app`) beside a normal server, so
tests/test_creation_route.py can compare the two answers to the same requests."""

from __future__ import annotations

from fastapi import FastAPI

import distaff
from distaff import Settings
from distaff.api.creation_route import CreationRoute
from tests.servers import MANIFEST


def app() -> FastAPI:
    built = distaff.from_langgraph_json(MANIFEST, settings=Settings(database_url="memory://"))
    routes = built.router.routes
    kept = [route for route in routes if not isinstance(route, CreationRoute)]
    # The six run-creating routes; fewer would mean the comparison compares nothing.
    assert len(routes) - len(kept) == 6, routes
    routes[:] = kept
    return built
