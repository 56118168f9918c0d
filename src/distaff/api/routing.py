"""An APIRouter that says "not mine" before FastAPI tries each of its routes.

FastAPI (0.16x) matches a request by asking every included router in turn, and each router
tries each of its routes: a regex match with the route's context swapped in and out of the
scope, a few microseconds a route. With a dozen routers and about 120 routes, reaching
`/runs/wait` took about 120 µs of CPU per request (py-spy: routing was about a seventh of a
stateless run's server time), and FastAPI matches again, within the router, to handle it.

`Router.matches` first tries one regex made of all its routes' path regexes and answers
`Match.NONE` at once for a path none of them matches. A path one of them matches goes on to
FastAPI's own matching, so every match it makes is the one FastAPI would make, a 405 (a path
that matches under another method) included; tests/unit/test_routing.py compares the two over
every path of the API. The regex is rebuilt when routes are added.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

_GROUP = re.compile(r"\(\?P<\w+>")


class Router(APIRouter):
    # One regex for all the router's paths; None when it holds a route without a path regex
    # (a host route, a nested router), which every path then passes.
    _paths: re.Pattern[str] | None = None
    _paths_of = -1  # how many routes `_paths` was built from

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self._paths_of != len(self.routes):
            self._paths = _paths_regex(self)
            self._paths_of = len(self.routes)
        if self._paths is not None and self._paths.match(get_route_path(scope)) is None:
            return Match.NONE, {}
        return super().matches(scope)


def _paths_regex(router: APIRouter) -> re.Pattern[str] | None:
    patterns = []
    for route in router.routes:
        regex = getattr(route, "path_regex", None)
        if not isinstance(regex, re.Pattern):
            return None
        # Each route's regex is anchored (^...$); its named groups would clash in one pattern.
        patterns.append(_GROUP.sub("(?:", regex.pattern))
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns) or "(?!)")
