"""The MCP server behind `/mcp` (`api/mcp.py` holds the routes): the official `mcp` package's
low-level server with one tool per assistant, run by its stateless Streamable HTTP transport.

Imported on the first MCP request (in a thread), not at start: the package and its types
take about a second to import, which every server start (and every test server) would
otherwise pay, MCP clients or not.
"""

from __future__ import annotations

import contextlib
from typing import Any

import mcp_types as types
from fastapi import Request
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from distaff.auth import acting_as
from distaff.runtime import Runtime
from distaff.services.mcp import McpTools, UnknownTool
from distaff.version import __version__

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
        tools, cursor = await McpTools(rt.assistants, rt.run_creator).list(
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
            result = await McpTools(rt.assistants, rt.run_creator).call(
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
