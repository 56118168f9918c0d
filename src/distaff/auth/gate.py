"""The services' one question: may the principal of the request being served do this?

The API authenticates each request and records its principal in a context variable (each
request is its own task, so principals never mix); services then ask the gate. Work that no
request started (sweepers, the cron scheduler) runs as a trusted principal that handlers do not
judge. A call with no principal at all while auth is on is refused: a route that forgot to
authenticate fails closed, not open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from langgraph_sdk.auth.types import StudioUser

from distaff.auth.handlers import Authorizer, Principal
from distaff.auth.users import AuthUser
from distaff.errors import Refused
from distaff.filters import Filter, matches

#: A resource with `metadata`: a thread, an assistant, a cron.
R = TypeVar("R", bound=Mapping[str, Any])

_principal: ContextVar[Principal | None] = ContextVar("distaff_principal", default=None)

#: Background work of the server itself.
SYSTEM = Principal(AuthUser({"identity": "system", "permissions": ["*"]}), trusted=True)


def set_principal(principal: Principal | None) -> None:
    """Record who makes the current request (for the rest of its task)."""
    _principal.set(principal)


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _principal.set(principal)
    try:
        yield
    finally:
        _principal.reset(token)


class Gate:
    def __init__(self, authorizer: Authorizer | None) -> None:
        self.authorizer = authorizer

    @property
    def enabled(self) -> bool:
        return self.authorizer is not None

    def principal(self) -> Principal | None:
        """Who the current request acts for; None when auth is off."""
        return _principal.get() if self.authorizer is not None else None

    def user(self) -> AuthUser | StudioUser | None:
        """The current user, as a graph factory's `ServerRuntime` carries it (None when auth is
        off)."""
        principal = self.principal()
        return principal.user if principal is not None else None

    async def authorize(self, resource: str, action: str, value: dict[str, Any]) -> Filter | None:
        """The filter the current principal is held to for `resource.action` on `value` (which
        the handler may change in place); None when unrestricted. Raises `Refused`."""
        if self.authorizer is None:
            return None
        principal = _principal.get()
        if principal is None:
            raise Refused("Unauthorized", 401)
        if principal.trusted:
            return None
        return await self.authorizer.authorize(principal, resource, action, value)

    async def load(
        self,
        resource: str,
        action: str,
        value: dict[str, Any],
        fetch: Callable[[], Awaitable[R | None]],
        *,
        exempt: Callable[[R], bool] | None = None,
    ) -> R | None:
        """The resource `fetch` loads, if the current principal may do `action` on it: the
        handler is asked first (it may refuse outright, or change `value`), then its filter
        is applied to the resource's metadata. None for a missing resource and for one the
        filter hides (which callers answer alike, so existence is not given away); `exempt`
        ones pass any filter."""
        flt = await self.authorize(resource, action, value)
        found = await fetch()
        if found is None:
            return None
        if flt is not None and not (exempt is not None and exempt(found)):
            if not matches(found["metadata"], flt):
                return None
        return found

    def run_configurable(self) -> dict[str, Any]:
        """The user a new run carries in `config.configurable` (nothing when auth is off)."""
        principal = self.principal()
        return principal.configurable() if principal is not None else {}


#: The gate of a server without auth.
OPEN = Gate(None)
