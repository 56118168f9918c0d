"""`/a2a/{assistant_id}`: every assistant as an Agent2Agent agent, JSON-RPC over HTTP in
protocol 1.0 and 0.3 through `a2a-sdk`'s own dispatcher (`services/a2a.py` says what the
methods do), and the agent cards at `/a2a/{id}/.well-known/agent-card.json` and
`/.well-known/agent-card.json?assistant_id=`.

Ordinary API routes: custom auth, the body limit and the metrics apply, and the caller's
identity reaches the services through the call context. The card's URL honours `public_url`
and forwarded headers (the reference's follows `LANGGRAPH_API_URL` only).
"""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from starlette.responses import Response

from distaff.api.protocol_schemas import A2aResponse, AgentCard
from distaff.api.routing import Router
from distaff.api.schemas import JSONRPC_MESSAGE
from distaff.imports import import_in_thread

router = Router(tags=["A2A"])

_CARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": AgentCard, "description": "The agent card (A2A 1.0, with the 0.3 fields too)"},
    400: {"description": "No such assistant, or not a UUID"},
}


@router.get("/.well-known/agent-card.json", responses=_CARD_RESPONSES)
async def root_card(
    request: Request,
    assistant_id: str | None = Query(None, description="The assistant whose card to give"),
) -> Response:
    """The agent card of the assistant named by `assistant_id`."""
    await import_in_thread("distaff.api.a2a_rpc")  # deferred: see that module's docstring
    from distaff.api import a2a_rpc

    if not assistant_id:
        return a2a_rpc.card_error("Missing required query parameter: assistant_id")
    return await a2a_rpc.card_response(request, assistant_id)


@router.get("/a2a/{assistant_id}/.well-known/agent-card.json", responses=_CARD_RESPONSES)
@router.get(
    "/a2a/{assistant_id}/.well-known/agent.json",
    responses=_CARD_RESPONSES,
    include_in_schema=False,
)
@router.get("/a2a/{assistant_id}", responses=_CARD_RESPONSES, include_in_schema=False)
@router.get("/a2a/{assistant_id}/", responses=_CARD_RESPONSES, include_in_schema=False)
async def card(request: Request, assistant_id: str) -> Response:
    """The assistant's agent card."""
    await import_in_thread("distaff.api.a2a_rpc")  # deferred: see that module's docstring
    from distaff.api import a2a_rpc

    return await a2a_rpc.card_response(request, assistant_id)


#: An event of a streaming method: its data is one JSON-RPC response, named `error` when
#: that is an error.
_RPC_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"const": "error"},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}

_JSONRPC_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": JSONRPC_MESSAGE}}}
}


@router.post(
    "/a2a/{assistant_id}",
    response_class=Response,
    responses={
        200: {
            "description": "A JSON-RPC response (errors too); an SSE stream for "
            "SendStreamingMessage and message/stream",
            "model": A2aResponse,
            "content": {"text/event-stream": {"schema": _RPC_EVENT}},
        }
    },
    openapi_extra=_JSONRPC_BODY,
)
@router.post("/a2a/{assistant_id}/", response_class=Response, include_in_schema=False)
async def a2a_message(request: Request, assistant_id: str) -> Response:
    """One JSON-RPC request to the assistant's agent: `SendMessage`, `SendStreamingMessage`,
    `GetTask`, `ListTasks`, `CancelTask`, `GetExtendedAgentCard`, and the v0.3 names
    (`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`)."""
    await import_in_thread("distaff.api.a2a_rpc")  # deferred: see that module's docstring
    from distaff.api import a2a_rpc

    body = await request.body()
    return await a2a_rpc.answer(request, assistant_id, body)
