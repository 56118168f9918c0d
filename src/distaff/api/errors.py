"""Domain errors and validation failures as `{"detail": "..."}` with the contract's status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from distaff.api.responses import JSON
from distaff.errors import (
    BadRequest,
    Conflict,
    DistaffError,
    InvalidInput,
    NotFound,
    Refused,
    Unavailable,
    describe_validation,
)

STATUS = {NotFound: 404, Conflict: 409, InvalidInput: 422, BadRequest: 400, Unavailable: 503}


def status_of(exc: DistaffError) -> int:
    if isinstance(exc, Refused):
        return exc.status
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


def install(app: FastAPI) -> None:
    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DistaffError)
        if isinstance(exc, Refused):
            return JSON({"detail": exc.message}, status_code=exc.status, headers=exc.headers)
        return JSON({"detail": exc.message}, status_code=status_of(exc))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return JSON({"detail": describe_validation(exc.errors())}, status_code=422)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 204 or exc.status_code == 304:
            return Response(status_code=exc.status_code)
        if isinstance(exc.__cause__, RecursionError):
            # FastAPI's body parsing turns a document too deep to parse into a bare 400.
            return await on_recursion(request, exc.__cause__)
        return JSON({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def on_value_error(request: Request, exc: Exception) -> Response:
        # The reference turns a ValueError escaping a handler into 400.
        return JSON({"detail": str(exc)}, status_code=400)

    async def on_recursion(request: Request, exc: Exception) -> Response:
        # Only a client's document nests deep enough to exhaust the interpreter's stack.
        return JSON({"detail": "The request body is nested too deeply"}, status_code=422)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs it and would answer in plain text; clients parse `detail`.
        return JSON({"detail": "Internal Server Error"}, status_code=500)

    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(DistaffError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ValueError, on_value_error)
    app.add_exception_handler(RecursionError, on_recursion)
