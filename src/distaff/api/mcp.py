"""`/mcp`: the assistants as tools of a Model Context Protocol server, over stateless
Streamable HTTP with JSON responses (no sessions, no server-sent stream), through the official
`mcp` package's server (`api/mcp_server.py`; `services/mcp.py` says what the tools are and do).

The route is an ordinary API route, so custom auth, the body limit and the metrics apply; it
hands the request to the package's transport. The package answers each request in a task of
its own, so who asks travels in the request's state and is set again there.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from distaff.api.protocol_schemas import JsonRpcResponse
from distaff.api.routing import Router
from distaff.api.schemas import JSONRPC_MESSAGE
from distaff.imports import import_in_thread
from distaff.runtime import Runtime

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

router = Router(tags=["MCP"])


class McpTransport:
    """The package's transport, made and started on the first MCP request (so a server that
    is never asked pays nothing for the package) and stopped with the app."""

    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()

    async def manager(self) -> StreamableHTTPSessionManager:
        if self._manager is not None:
            return self._manager
        async with self._lock:
            if self._manager is None:
                await import_in_thread("distaff.api.mcp_server")  # deferred: see its docstring
                from distaff.api import mcp_server

                manager = mcp_server.make_manager()
                ready = asyncio.Event()
                # A context of its own: the transport's request tasks are children of this
                # task and must not inherit the first caller's request context.
                self._task = asyncio.create_task(
                    self._run(manager, ready), context=contextvars.Context()
                )
                started = asyncio.ensure_future(ready.wait())
                await asyncio.wait({started, self._task}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.is_set():
                    started.cancel()
                    self._task.result()  # raises why the transport did not start
                self._manager = manager
        assert self._manager is not None
        return self._manager

    async def _run(self, manager: StreamableHTTPSessionManager, ready: asyncio.Event) -> None:
        async with manager.run():  # its task group, for the life of the app (it runs once)
            ready.set()
            await self._stop.wait()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class _Handoff(Response):
    """The package's transport answers the request itself (given the body the route read)."""

    def __init__(self, transport: McpTransport, body: bytes) -> None:
        super().__init__()
        self._transport = transport
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # a disconnect, later
            sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}

        manager = await self._transport.manager()
        await manager.handle_request(scope, replay, send)


_ANY_JSON: dict[str, Any] = {"application/json": {"schema": {}}}


@router.post(
    "/mcp",
    response_class=Response,
    responses={
        200: {"model": JsonRpcResponse, "description": "The JSON-RPC response"},
        202: {"description": "A notification or a response, taken"},
        400: {"description": "No JSON-RPC message (a JSON-RPC error)", "content": _ANY_JSON},
        406: {"description": "The client accepts no JSON", "content": _ANY_JSON},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": JSONRPC_MESSAGE}},
        }
    },
)
async def mcp_message(request: Request) -> Response:
    """One JSON-RPC message: `initialize`, `ping`, `tools/list` (one tool per assistant),
    `tools/call` (a stateless run of the assistant, its output as JSON text); notifications
    and responses get 202."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        # (The package answers this one in plain text; every other refusal is JSON-RPC.)
        return JSONResponse(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32700, "message": "Content-Type must be application/json"},
            },
            status_code=400,
        )
    body = await request.body()
    try:
        json.loads(body)
    except RecursionError:
        raise  # 422, as on every route taking JSON
    except ValueError:
        pass  # the package answers it as JSON-RPC: a parse error
    rt: Runtime = request.state.runtime
    request.state.mcp_principal = rt.auth.principal()
    return _Handoff(request.app.state.mcp, body)


@router.get("/mcp", status_code=405, response_class=Response)
async def mcp_stream() -> Response:
    """No server-to-client stream: the server is stateless."""
    return Response(status_code=405)


@router.delete("/mcp", status_code=404, response_class=Response)
async def mcp_session() -> Response:
    """No sessions to end."""
    return Response(status_code=404)
