"""The authenticated user: what `@auth.authenticate` returned, in one shape.

An authenticate handler may return a string (the identity), a dict with `identity` (and
optionally `display_name`, `is_authenticated`, `permissions` and any other fields), an object
with an `identity` attribute (langgraph_sdk's `BaseUser`), or a `(permissions, user)` pair.
`AuthUser` is all of these at once: attributes for `ctx.user.identity`, a mapping for
`ctx.user["identity"]`, and a plain dict (`as_dict`) for the run's configuration, where graphs
find it as `config["configurable"]["langgraph_auth_user"]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from distaff.errors import ConfigError


class AuthUser(Mapping[str, Any]):
    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        identity = data.get("identity")
        if not isinstance(identity, str) or not identity:
            raise ConfigError(
                f"the auth handler returned a user without a string identity: {dict(data)!r}"
            )
        self._data = {
            **data,
            "identity": identity,
            "display_name": str(data.get("display_name") or identity),
            "is_authenticated": bool(data.get("is_authenticated", True)),
            "permissions": [str(p) for p in data.get("permissions") or ()],
        }

    @property
    def identity(self) -> str:
        return str(self._data["identity"])

    @property
    def display_name(self) -> str:
        return str(self._data["display_name"])

    @property
    def is_authenticated(self) -> bool:
        return bool(self._data["is_authenticated"])

    @property
    def permissions(self) -> list[str]:
        return list(self._data["permissions"])

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        # Extra fields the handler returned (`ctx.user.org_id`), as the reference allows.
        # Never private names: copy and pickle look those up before `_data` exists.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"AuthUser({self._data!r})"


def to_user(result: Any) -> AuthUser:
    """Whatever an authenticate handler returned, as an `AuthUser`."""
    if isinstance(result, AuthUser):
        return result
    if (
        isinstance(result, tuple)
        and len(result) == 2
        and isinstance(result[0], Sequence)
        and not isinstance(result[0], str)
    ):
        permissions, user = result
        return AuthUser({**to_user(user).as_dict(), "permissions": list(permissions)})
    if isinstance(result, str):
        return AuthUser({"identity": result})
    if isinstance(result, Mapping):
        return AuthUser(result)
    if hasattr(result, "identity"):
        data = dict(result) if isinstance(result, Mapping) else {}
        for name in ("identity", "display_name", "is_authenticated", "permissions"):
            if hasattr(result, name):
                data[name] = getattr(result, name)
        return AuthUser(data)
    raise ConfigError(
        "the auth handler must return a user (a string identity, a dict with 'identity', an"
        f" object with an identity, or a (permissions, user) pair), got {result!r}"
    )
