"""The example auth of docs/auth.md: bearer tokens, owners, editors, per-user store namespaces."""

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

# Stand-in for your identity provider: look the token up, or verify a JWT here.
USERS = {
    "alice-token": {"identity": "alice", "display_name": "Alice", "permissions": ["edit"]},
    "bob-token": {"identity": "bob", "permissions": []},
}


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, Any]:
    """Runs for every API request; the parameters say which request parts it wants
    (`authorization`, `headers`, `path`, `method`, `query_params`, `path_params`, `request`)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing bearer token")
    user = USERS.get(authorization.removeprefix("Bearer "))
    if user is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="unknown user")
    return user  # a dict with "identity" (or a string, or a BaseUser)


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """Everything not handled more specifically below: stamp the creator on what is created,
    and limit every read, search, update, delete, stream and run to the caller's own."""
    owner = {"owner": ctx.user.identity}
    if ctx.action in ("create", "create_run"):
        value["metadata"] = {**(value.get("metadata") or {}), **owner}
    return owner


@auth.on.threads.delete
async def editors_delete(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    if "edit" not in ctx.permissions:
        raise Auth.exceptions.HTTPException(status_code=403, detail="only editors delete")
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    """Store calls: put everyone's items under a namespace that starts with their identity."""
    namespace = tuple(value.get("namespace") or ())
    if namespace[:1] != (ctx.user.identity,):
        value["namespace"] = (ctx.user.identity, *namespace)
