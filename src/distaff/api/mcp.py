"""`/mcp`: the assistants as tools of a Model Context Protocol server, over stateless
Streamable HTTP with JSON responses (no sessions, no server-sent stream), through the official
`mcp` package's server (`services/mcp.py` says what the tools are and do).

The route is an ordinary API route, so custom auth, the body limit and the metrics apply; it
hands the request to the package's transport. The package answers each request in a task of
its own, so who asks travels in the request's state and is set again there.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
from fastapi import APIRouter, Request
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from distaff.api.protocol_schemas import JsonRpcResponse
from distaff.api.schemas import JSONRPC_MESSAGE
from distaff.auth import acting_as
from distaff.runtime import Runtime
from distaff.services.mcp import McpTools, UnknownTool
from distaff.version import __version__

router = APIRouter(tags=["MCP"])

_ANNOTATIONS = types.ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


def _request(ctx: ServerRequestContext[Any, Any]) -> Request:
    request = ctx.request
    assert isinstance(request, Request), "the Streamable HTTP transport carries the request"
    return request


@contextlib.contextmanager
def _as_caller(request: Request) -> Any:
    principal = getattr(request.state, "mcp_principal", None)
    if principal is None:
        yield
        return
    with acting_as(principal):
        yield


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    request = _request(ctx)
    rt: Runtime = request.state.runtime
    with _as_caller(request):
        tools, cursor = await McpTools(rt.assistants, rt.runs).list(
            params.cursor if params is not None else None
        )
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name=t.name,
                title=t.title,
                description=t.description,
                input_schema=t.input_schema,
                annotations=_ANNOTATIONS,
            )
            for t in tools
        ],
        next_cursor=cursor,
    )


async def _call_tool(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    request = _request(ctx)
    rt: Runtime = request.state.runtime
    # `context` is LangGraph's extension of `tools/call`: the run's context.
    context = (ctx.params or {}).get("context")
    with _as_caller(request):
        try:
            result = await McpTools(rt.assistants, rt.runs).call(
                params.name,
                params.arguments,
                context,
                headers=dict(request.headers),
                request_id=request.headers.get("x-request-id"),
            )
        except UnknownTool as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=result.text)]
    if result.is_error:
        return types.CallToolResult(content=content, is_error=True)
    return types.CallToolResult(content=content)


def make_manager() -> StreamableHTTPSessionManager:
    server: Server[Any] = Server(
        "distaff", version=__version__, on_list_tools=_list_tools, on_call_tool=_call_tool
    )
    return StreamableHTTPSessionManager(server, stateless=True, json_response=True)


@contextlib.asynccontextmanager
async def running(manager: StreamableHTTPSessionManager) -> AsyncIterator[None]:
    async with manager.run():
        yield


class _Handoff(Response):
    """The package's transport answers the request itself (given the body the route read)."""

    def __init__(self, manager: StreamableHTTPSessionManager, body: bytes) -> None:
        super().__init__()
        self._manager = manager
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # a disconnect, later
            sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}

        await self._manager.handle_request(scope, replay, send)


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
