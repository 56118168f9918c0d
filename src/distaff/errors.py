"""Domain errors. Nothing here knows about HTTP; `api/errors.py` maps each class to a status.

    DistaffError
    ├── NotFound          -> 404
    ├── Conflict          -> 409
    ├── InvalidInput      -> 422   (a well-formed request that names something impossible)
    │   └── Unsupported   -> 422   (something this deployment's persistence cannot do)
    ├── BadRequest        -> 400   (a request the contract refuses, e.g. resume without a thread)
    ├── Unavailable       -> 503   (the database cannot be reached)
    ├── Refused           -> 401, 403 or the status an auth handler chose
    ├── ConfigError             (the manifest or a graph module is wrong; stops start-up)
    └── EmbeddingError    -> 500   (the store's embedding function failed or broke its contract)

Each class's docstring is its default message. `describe_validation` puts pydantic's errors on one
line, for request bodies and settings alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class DistaffError(Exception):
    """Something went wrong in distaff."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class NotFound(DistaffError):
    """Not Found"""


class Conflict(DistaffError):
    """Conflict"""


class InvalidInput(DistaffError):
    """Invalid input"""


class Unsupported(InvalidInput):
    """This deployment's persistence cannot do that"""


class BadRequest(DistaffError):
    """Bad request"""


class Refused(DistaffError):
    """Forbidden"""

    def __init__(
        self, message: str | None = None, status: int = 403, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class ConfigError(DistaffError):
    """The server configuration is invalid"""


class EmbeddingError(DistaffError):
    """The store's embedding function failed"""


class Unavailable(DistaffError):
    """The database is unavailable"""


def describe_validation(errors: Iterable[Mapping[str, Any]]) -> str:
    """pydantic's validation errors (of a request body or of settings) on one line:
    `field.sub: message; ...`."""
    parts = []
    for error in errors:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "value_error":
            # A validator's own words, without the "Value error, " pydantic puts in front.
            message = message.removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts) or "invalid request"


class LeaseLost(Exception):
    """This process's claim on a run expired; another process may be executing it now.

    Not a `DistaffError`: no client ever sees it. The executor stops the run here and leaves
    its record, result and stream to the run's new owner."""


class StaleAssistant(Exception):
    """A run was made from a cached assistant that has changed since (`RunRepo.insert`'s
    `assistant_as_of`); nothing was inserted. Not a `DistaffError`: the run's creator reads the
    assistant again and makes the run anew."""
