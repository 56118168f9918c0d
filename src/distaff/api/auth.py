"""Who is asking: the dependency every route of the API (not `/ok`, `/info`, `/metrics`, the
docs, nor custom routes unless `http.enable_custom_route_auth`) starts with when custom auth is
configured. It runs before the body is validated, so an anonymous caller learns nothing from
validation errors.
"""

from __future__ import annotations

from langgraph_sdk.auth.types import StudioUser
from starlette.requests import Request

from distaff.auth import Principal, set_principal
from distaff.runtime import Runtime
from distaff.settings import Settings

STUDIO_USER = "langgraph-studio-user"


def from_studio(request: Request, settings: Settings) -> bool:
    """LangGraph Studio's requests under `distaff dev` (as under `langgraph dev`) skip
    authentication, unless `auth.disable_studio_auth`; handlers still see a `StudioUser`."""
    return (
        settings.studio_auth
        and not (settings.auth is not None and settings.auth.disable_studio_auth)
        and request.headers.get("x-auth-scheme") == "langsmith"
    )


async def principal_of(request: Request, rt: Runtime) -> Principal | None:
    authorizer = rt.auth.authorizer
    if authorizer is None:
        return None
    if from_studio(request, rt.settings):
        return Principal(StudioUser(STUDIO_USER, is_authenticated=True))
    return await authorizer.authenticate(request)


async def authenticate(request: Request) -> None:
    # Always set, even to None: the principal belongs to this request's task alone.
    set_principal(await principal_of(request, request.state.runtime))
