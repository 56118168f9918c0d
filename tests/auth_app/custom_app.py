"""A custom app served beside the API: its own routes, one shadowing `/info`, and a middleware
that marks every response."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

app = FastAPI()
started: list[str] = []


@app.get("/hello")
async def hello() -> dict[str, object]:
    return {"hello": "world", "lifespan_ran": started == ["up"]}


@app.get("/info")
async def info() -> dict[str, str]:
    return {"custom": "info"}


async def mark(request: Request, call_next: object) -> Response:
    response: Response = await call_next(request)  # type: ignore[operator]
    response.headers["x-custom-middleware"] = "yes"
    return response


app.add_middleware(BaseHTTPMiddleware, dispatch=mark)


@app.on_event("startup")
async def startup() -> None:
    started.append("up")
