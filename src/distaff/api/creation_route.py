"""The six run-creating routes, answered without FastAPI's routing and request handling.

`POST /runs`, `/runs/stream`, `/runs/wait` and their `/threads/{thread_id}/...` forms are most
of what a server like this answers. Through FastAPI, each cost about a fifth of a stateless
run's server CPU before the handler began: matching across the included routers, then the
request handler's endpoint context, dependency solving and body handling (py-spy on bench's
stateless `runs.wait`; the app driven in-process took 0.83-0.9 of the CPU without them). A
`CreationRoute` stands first in the app's router for each of those FastAPI routes and serves
the ordinary request itself: a JSON body that parses and validates. It calls the same handler
(`runs.create_run_response`) with the body validated by the same model the same way FastAPI
validates it (the parsed document, `model_validate`), so the answer is the same.

Anything else is handed back to FastAPI with the body replayed: another content type, a body
that does not parse or validate, an integer beyond 64 bits (orjson reads it as a float), JSON
nested deeper than 512 levels (orjson takes 1024, FastAPI's `json.loads` runs out of stack
somewhere past 900, where it depends on the stack already used: a body of 943-945 levels
handed back meets the limit where FastAPI alone would not, a few frames deeper), an
overridden dependency, and any request while
FastAPI's own tracing is on (it wraps the dependencies and the endpoint in spans of its own).
FastAPI then answers exactly as it always has (the 422's `detail`, its order of checks), so
this route never words an error of its own. Custom auth
runs as the routers' dependency would, once the body has validated: FastAPI too reads and
parses the body before it solves dependencies, and an invalid body never reaches either path's
handler.

It matches with the FastAPI route's own path regex, and `scope["route"]` is that route, so
metrics, request logs and spans name the same template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi.routing import APIRoute, APIRouter
from pydantic import ValidationError
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Message, Receive, Scope, Send

from distaff.api.auth import authenticate
from distaff.api.runs import create_run_response
from distaff.api.schemas import RunCreateStateful, RunCreateStateless
from distaff.services.run_creation import Delivery

#: The paths of the routes stood in front of, and how each delivers the run.
_SUFFIXES: tuple[tuple[str, Delivery], ...] = (
    ("", "background"),
    ("/stream", "stream"),
    ("/wait", "wait"),
)
_DELIVERIES: dict[str, Delivery] = {
    f"{prefix}/runs{suffix}": delivery
    for prefix in ("", "/threads/{thread_id}")
    for suffix, delivery in _SUFFIXES
}
#: 19 digits in a row: perhaps an integer orjson cannot hold (FastAPI's `json.loads` can).
_LONG_NUMBER = re.compile(rb"\d{19}")
#: Set on a request handed back to FastAPI, so that no `CreationRoute` takes it again.
_HANDED_BACK = "distaff.handed_back"
#: Past this many levels `json.loads` (FastAPI's) may run out of stack where orjson (1024
#: levels) does not: such a body goes to FastAPI (`_nested_deep`).
_DEEPEST = 512
_OPEN, _CLOSE = b"[" * _DEEPEST, b"]" * _DEEPEST


def _nested_deep(body: bytes) -> bool:
    """Whether the JSON in `body` nests deeper than `_DEEPEST` levels. orjson refuses more
    than 1024, so inside `_DEEPEST` more brackets it parses only if it nests no deeper than
    `_DEEPEST`: exact, strings and all, and in C. A body with fewer brackets cannot."""
    if body.count(b"[") + body.count(b"{") <= _DEEPEST:
        return False
    try:
        orjson.loads(_OPEN + body + _CLOSE)
    except orjson.JSONDecodeError:
        return True
    return False


def creation_routes(
    routes: Iterable[BaseRoute], *, authenticated: bool, router: APIRouter
) -> list[BaseRoute]:
    """One `CreationRoute` for each run-creating route among `routes`."""
    found: list[BaseRoute] = []
    for route in routes:
        if not isinstance(route, APIRoute) or route.methods != {"POST"}:
            continue
        delivery = _DELIVERIES.get(route.path)
        if delivery is not None:
            found.append(CreationRoute(route, delivery, authenticated=authenticated, router=router))
    return found


class CreationRoute(BaseRoute):
    def __init__(
        self, route: APIRoute, delivery: Delivery, *, authenticated: bool, router: APIRouter
    ) -> None:
        self._route = route
        self._router = router  # the app's own: scope["router"] is the outermost one when mounted
        self._delivery: Delivery = delivery
        self._model = RunCreateStateful if "{thread_id}" in route.path else RunCreateStateless
        self._authenticated = authenticated
        # What FastAPI and BaseRoute's users read (its telemetry names the route by these).
        self.path = route.path
        self.path_format = route.path_format
        self.path_regex = route.path_regex

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST" or _HANDED_BACK in scope:
            return Match.NONE, {}
        found = self.path_regex.match(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        route = self._route
        params = dict(scope.get("path_params", {}))
        for name, value in found.groupdict().items():
            params[name] = route.param_convertors[name].convert(value)
        return Match.FULL, {"endpoint": route.endpoint, "path_params": params, "route": route}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the FastAPI route answers for its name

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await request.body()
        except HTTPException:
            raise  # too large, or too slow (api/limits.py)
        except Exception as exc:  # a disconnect, a broken chunk: as FastAPI answers them
            raise HTTPException(400, "There was an error parsing the body") from exc
        # A dependency overridden (a test of an app built by `create_app`) is FastAPI's to call.
        overridden = bool(getattr(scope.get("app"), "dependency_overrides", None))
        # FastAPI's telemetry traces its dependencies and endpoint: its route answers then.
        traced = scope.get("fastapi.telemetry") is not None
        parsed = None if overridden or traced else self._validated(request, body)
        if parsed is None:
            await _hand_back(self._router, scope, body, receive, send)
            return
        if self._authenticated:
            await authenticate(request)
        thread_id: str | None = scope["path_params"].get("thread_id")
        response = await create_run_response(
            request.state.runtime, request, thread_id, parsed, self._delivery
        )
        await response(scope, receive, send)

    def _validated(self, request: Request, body: bytes) -> RunCreateStateless | None:
        """The body as FastAPI would validate it, or None when FastAPI should see it: not
        declared JSON, or anything but a valid document (its error is FastAPI's to word)."""
        content_type = request.headers.get("content-type")
        if content_type is None or content_type.partition(";")[0].strip() != "application/json":
            return None
        if _LONG_NUMBER.search(body) is not None:
            return None  # orjson reads an integer beyond 64 bits as a float
        if _nested_deep(body):
            return None  # see `_nested_deep`
        try:
            document = orjson.loads(body)  # refuses what json.loads refuses, and NaN too
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict):
            return None
        try:
            return self._model.model_validate(document)
        except ValidationError:
            return None


async def _hand_back(
    router: APIRouter, scope: Scope, body: bytes, receive: Receive, send: Send
) -> None:
    """Route the request again, past every `CreationRoute`, with the body it sent replayed."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    scope[_HANDED_BACK] = True
    await router.app(scope, replay, send)
