"""`api.routing.Router`: its path filter changes how fast a request finds its route, never which
route it finds. Every path of distaff's API (and near misses of each) is matched by every
included router with the filter and without it; the answers must be the same.

Pure: the app is built, never started; no request is sent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import Match

import distaff
from distaff import Settings
from distaff.api.creation_route import CreationRoute
from distaff.api.routing import Router

MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "echo" / "langgraph.json"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
ID = "0b9c6f6e-1d2e-4f00-8000-000000000001"


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return distaff.from_langgraph_json(MANIFEST, settings=Settings(database_url="memory://"))


def _paths(app: FastAPI) -> list[str]:
    """Each route's path with its parameters filled in, and near misses of each."""
    paths: set[str] = {"/", "/nowhere", "/threads/", "/runs", "/runs/", "//runs/wait"}
    for route in app.router.routes:
        for path in _route_paths(route):
            concrete = re.sub(r"\{[^}]+\}", ID, path)
            paths |= {concrete, concrete + "/", concrete + "/extra", concrete.rstrip("/") + "x"}
            paths.add(re.sub(r"\{[^}]+\}", "a/b", path))  # a parameter does not span segments
    return sorted(paths)


def _route_paths(route: Any) -> list[str]:
    router = getattr(route, "original_router", None)
    if router is None:
        return [route.path] if isinstance(getattr(route, "path", None), str) else []
    return [r.path for r in router.routes if isinstance(getattr(r, "path", None), str)]


def _scope(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    kind = "websocket" if method == "WS" else "http"
    return {
        "type": kind,
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }


def _first(app: FastAPI, scope: dict[str, Any]) -> tuple[Match, Any]:
    """What Starlette's router does: the first full match, else the first partial one."""
    partial = None
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match is not Match.NONE and hasattr(route, "_match"):
            # An included router answers for the route it found; ask which (FastAPI asks again
            # the same way when it handles the request).
            _, child, inner, _ = route._match(scope)
            found = (route, getattr(inner, "endpoint", None), child.get("path_params"))
        else:
            found = (route, child.get("endpoint"), child.get("path_params"))
        if match is Match.FULL:
            return match, found
        if match is Match.PARTIAL and partial is None:
            partial = found
    return (Match.PARTIAL, partial) if partial else (Match.NONE, None)


def _routers(app: FastAPI) -> list[Router]:
    return [
        r.original_router
        for r in app.router.routes
        if isinstance(getattr(r, "original_router", None), Router)
    ]


def test_every_api_router_is_filtered(app: FastAPI) -> None:
    _first(app, _scope(app, "GET", "/nowhere"))  # the filters are built on the first match
    routers = _routers(app)
    assert len(routers) >= 13
    # A router without a filter would pass the comparison below whatever the filter did.
    assert [r for r in routers if r._paths is None] == []


def test_the_filter_changes_no_match(app: FastAPI) -> None:
    cases = [(m, p) for p in _paths(app) for m in (*METHODS, "WS")]
    assert len(cases) > 1000
    filtered = [_first(app, _scope(app, m, p)) for m, p in cases]
    routers = _routers(app)
    saved = [(r._paths, r._paths_of) for r in routers]
    try:
        for router in routers:
            router._paths, router._paths_of = None, len(router.routes)  # no filter
        unfiltered = [_first(app, _scope(app, m, p)) for m, p in cases]
    finally:
        for router, (paths, paths_of) in zip(routers, saved, strict=True):
            router._paths, router._paths_of = paths, paths_of
    differences = [c for c, a, b in zip(cases, filtered, unfiltered, strict=True) if a != b]
    assert differences == []
    assert sum(m is Match.FULL for m, _ in filtered) > 100
    assert sum(m is Match.PARTIAL for m, _ in filtered) > 100  # 405s stay 405s


def test_a_route_added_later_is_found() -> None:
    router = Router()

    @router.get("/a/{x}")
    async def a(x: str) -> str:
        return x

    app = FastAPI()
    app.include_router(router)
    scope = _scope(app, "GET", "/b/1")
    assert _first(app, scope)[0] is Match.NONE

    @router.get("/b/{x}")
    async def b(x: str) -> str:
        return x

    match, found = _first(app, scope)
    assert match is Match.FULL
    assert found[1] is b and found[2] == {"x": "1"}


def test_a_creation_route_takes_what_fastapi_would_route_to_its_route(app: FastAPI) -> None:
    """`api/creation_route.py` stands first in the router: over every path and method, where it
    matches, FastAPI without it finds the very route it stands for with the same parameters;
    where it does not, the answer is FastAPI's own."""
    routes = app.router.routes
    creating = [r for r in routes if isinstance(r, CreationRoute)]
    assert len(creating) == 6
    cases = [(m, p) for p in _paths(app) for m in (*METHODS, "WS")]
    with_them = [_first(app, _scope(app, m, p)) for m, p in cases]
    routes[:] = [r for r in routes if not isinstance(r, CreationRoute)]
    try:
        without = [_first(app, _scope(app, m, p)) for m, p in cases]
    finally:
        routes[:0] = creating
    taken = 0
    for case, (match, found), (plain_match, plain) in zip(cases, with_them, without, strict=True):
        if found is not None and isinstance(found[0], CreationRoute):
            taken += 1
            assert (match, found[1:]) == (plain_match, plain[1:]) == (Match.FULL, found[1:]), case
            assert found[0]._route.endpoint is found[1]
        else:
            assert (match, found) == (plain_match, plain), case
    assert taken == 6  # each of its paths, POSTed
