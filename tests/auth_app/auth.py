"""The test suite's custom auth: bearer tokens for three users; everyone sees only what they
created; only users with `write` may delete threads; store namespaces start with the user."""

from __future__ import annotations

from typing import Any

from langgraph_sdk import Auth

auth = Auth()

USERS: dict[str, dict[str, Any]] = {
    "alice-token": {"identity": "alice", "display_name": "Alice", "permissions": ["write"]},
    "bob-token": {"identity": "bob", "permissions": ["write"], "team": "blue"},
    "carol-token": {"identity": "carol", "permissions": []},
}


@auth.authenticate
async def authenticate(authorization: str | None, path: str, method: str) -> dict[str, Any]:
    if not authorization or not authorization.startswith("Bearer "):
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing bearer token")
    user = USERS.get(authorization.removeprefix("Bearer "))
    if user is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="unknown user")
    return user


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    """Stamp what a user creates with their identity; let them see only that."""
    owner = {"owner": ctx.user.identity}
    if ctx.action in ("create", "create_run"):
        value["metadata"] = {**(value.get("metadata") or {}), **owner}
    return owner


@auth.on.threads.delete
async def writers_delete(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, Any]:
    if "write" not in ctx.permissions:
        raise Auth.exceptions.HTTPException(
            status_code=403, detail=f"{ctx.user.identity} may not delete"
        )
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
    namespace = tuple(value.get("namespace") or ())
    if ctx.action in ("search", "list_namespaces") and namespace[:1] != (ctx.user.identity,):
        value["namespace"] = (ctx.user.identity, *namespace)  # search within your own
        return
    assert namespace[:1] == (ctx.user.identity,), "namespace must start with your identity"
