"""Calling a `langgraph_sdk.Auth` object's handlers the way the reference server does.

Authentication: `@auth.authenticate` is called with the request parts its parameters name
(`request`, `headers`, `authorization`, `path`, `method`, `scope`, `scopes`, `path_params`,
`query_params`, `user`). Authorization: of the `@auth.on` handlers, the most specific that
exists runs, and only it: `resource.action`, then `resource`, then `*.action`, then the global
one. Its answer allows (None, True), refuses (False: 403) or filters (a dict: see `filters.py`);
it may also change `value` in place (stamp an owner, rewrite a store namespace).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from langgraph_sdk.auth.types import AuthContext, StudioUser
from starlette.requests import Request

from distaff.auth.filters import InvalidFilter, check
from distaff.auth.users import AuthUser, to_user
from distaff.errors import ConfigError, Refused
from distaff.filters import Filter
from distaff.imports import import_reference
from distaff.settings import AuthCacheSettings

log = logging.getLogger("distaff.auth")

#: What an authenticate handler may ask for, by parameter name.
REQUEST_PARTS = frozenset(
    {
        "request",
        "headers",
        "authorization",
        "path",
        "method",
        "scope",
        "scopes",
        "path_params",
        "query_params",
        "user",
    }
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: the authenticated user, or LangGraph Studio under `distaff dev`.
    A trusted principal (the server itself, a cron replaying its creator) is not judged by the
    authorization handlers: what it does was authorized when it was asked for."""

    user: AuthUser | StudioUser
    trusted: bool = False

    @property
    def identity(self) -> str:
        return self.user.identity

    @property
    def permissions(self) -> list[str]:
        return list(self.user.permissions)

    def configurable(self) -> dict[str, Any]:
        """What a run created by this principal carries in `config.configurable`."""
        if isinstance(self.user, StudioUser):
            data: dict[str, Any] = {
                "identity": self.user.identity,
                "display_name": self.user.display_name,
                "is_authenticated": self.user.is_authenticated,
                "permissions": list(self.user.permissions),
                "kind": "StudioUser",
            }
        else:
            data = self.user.as_dict()
        return {
            "langgraph_auth_user": data,
            "langgraph_auth_user_id": self.identity,
            "langgraph_auth_permissions": self.permissions,
            "user_id": self.identity,
        }


class Authorizer:
    def __init__(
        self,
        auth: Auth,
        *,
        cache: AuthCacheSettings | None = None,
    ) -> None:
        if not isinstance(auth, Auth):
            raise ConfigError(f"auth.path must name a langgraph_sdk.Auth object, got {auth!r}")
        self._auth = auth
        handler = auth._authenticate_handler
        self._authenticate = handler
        self._parts: tuple[str, ...] = ()
        if handler is not None:
            self._parts = tuple(inspect.signature(handler).parameters)
            if unknown := [p for p in self._parts if p not in REQUEST_PARTS]:
                raise ConfigError(
                    f"@auth.authenticate asks for {', '.join(unknown)}; it may ask for"
                    f" {', '.join(sorted(REQUEST_PARTS))}"
                )
        handlers = auth._handlers
        generic = bool(auth._global_handlers) or any(r == "*" for r, _ in handlers)
        if generic and not any(r == "store" for r, _ in handlers):
            # Said once at start-up; each store call whose handler returns a filter is refused.
            log.warning(
                "auth: a generic handler (@auth.on) also decides store calls; a filter it returns"
                " cannot apply to store items (they have no metadata), so such calls are refused"
                " with 403. Add an @auth.on.store handler that rewrites value['namespace'] to"
                " give each user their own."
            )
        self._cache_settings = cache
        self._cache_keys = [k.lower() for k in cache.cache_keys] if cache is not None else []
        self._cache: OrderedDict[tuple[str, ...], tuple[float, AuthUser]] = OrderedDict()

    @property
    def authenticates(self) -> bool:
        return self._authenticate is not None

    # -- authentication ---------------------------------------------------------------------

    async def authenticate(self, request: Request) -> Principal:
        if self._authenticate is None:
            # Authorization handlers without an authenticate handler: everyone is anonymous.
            return Principal(AuthUser({"identity": "anonymous", "is_authenticated": False}))
        key = self._cache_key(request)
        if key is not None and (hit := self._cache.get(key)) is not None:
            expires, user = hit
            if expires > time.monotonic():
                self._cache.move_to_end(key)
                return Principal(user)
            del self._cache[key]
        try:
            result = await _call(self._authenticate, self._arguments(request))
        except AuthHTTPException as exc:
            raise Refused(exc.detail, exc.status_code, dict(exc.headers or {})) from None
        except AssertionError as exc:
            raise Refused(str(exc) or "Unauthorized", 401) from None
        if result is None:
            raise Refused("Unauthorized", 401)
        user = to_user(result)
        if key is not None and (cache := self._cache_settings) is not None:
            self._cache[key] = (time.monotonic() + cache.ttl_seconds, user)
            while len(self._cache) > cache.max_size:
                self._cache.popitem(last=False)
        return Principal(user)

    def _cache_key(self, request: Request) -> tuple[str, ...] | None:
        if not self._cache_keys:
            return None
        return tuple(request.headers.get(k, "") for k in self._cache_keys)

    def _arguments(self, request: Request) -> dict[str, Any]:
        available: dict[str, Callable[[], Any]] = {
            "request": lambda: request,
            "headers": lambda: {k.lower(): v for k, v in request.scope["headers"]},
            "authorization": lambda: request.headers.get("authorization"),
            "path": lambda: request.url.path,
            "method": lambda: request.method,
            "scope": lambda: request.scope,
            "scopes": list,
            "path_params": lambda: dict(request.path_params),
            "query_params": lambda: dict(request.query_params),
            "user": lambda: None,
        }
        return {name: available[name]() for name in self._parts}

    # -- authorization ----------------------------------------------------------------------

    def _handler(self, resource: str, action: str) -> Callable[..., Any] | None:
        handlers = self._auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action)):
            if found := handlers.get(key):
                return found[-1]
        return self._auth._global_handlers[-1] if self._auth._global_handlers else None

    async def authorize(
        self, principal: Principal, resource: str, action: str, value: dict[str, Any]
    ) -> Filter | None:
        """Run the handler for `resource.action` on `value` (which it may change). Returns the
        filter to apply, None for no restriction; raises `Refused` when it refuses."""
        handler = self._handler(resource, action)
        if handler is None:
            return None
        ctx = AuthContext(
            permissions=principal.permissions,
            user=principal.user,  # type: ignore[arg-type]
            resource=resource,  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except AuthHTTPException as exc:
            raise Refused(exc.detail, exc.status_code, dict(exc.headers or {})) from None
        except AssertionError as exc:
            raise Refused(str(exc) or "Forbidden", 403) from None
        if result is None or result is True:
            return None
        if result is False:
            raise Refused("Forbidden", 403)
        try:
            return check(result) or None
        except InvalidFilter as exc:
            raise ConfigError(f"the auth handler for {resource}.{action}: {exc}") from None


async def _call(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    result = fn(**arguments)
    if inspect.isawaitable(result):
        return await result
    return result


def load_auth(target: Any, base_dir: Path | None = None) -> Auth:
    """The `Auth` object `auth.path` names (or the object itself)."""
    if isinstance(target, str):
        target = import_reference(target, Path(base_dir or "."), "auth.path")
    if not isinstance(target, Auth):
        raise ConfigError(f"auth.path must name a langgraph_sdk.Auth object, got {target!r}")
    return target
