"""The A2A JSON-RPC side of `/a2a/{assistant_id}` (`api/a2a.py` holds the routes): `a2a-sdk`'s
own dispatcher over distaff's agent (`services/a2a.py`), and the agent cards.

Imported on the first A2A request (in a thread), not at start: the SDK, its protobuf types
and what they pull in take about a second to import, which every server start (and every
test server) would otherwise pay, A2A clients or not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types import a2a_pb2
from a2a.utils.errors import A2AError
from fastapi import Request
from starlette.responses import JSONResponse, Response

from distaff.api.public_url import public_base
from distaff.auth import acting_as
from distaff.errors import NotFound
from distaff.ids import is_uuid
from distaff.runtime import Runtime
from distaff.services.a2a import Agent
from distaff.services.a2a_card import agent_card
from distaff.version import __version__

#: Methods under their protocol-1.0 names: a request without `A2A-Version` means 1.0 for
#: these (the SDK would read it as 0.3 and refuse; the reference takes them).
_V1_METHODS = frozenset(
    {
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "CancelTask",
        "ListTasks",
        "GetExtendedAgentCard",
    }
)


class _Context(DefaultServerCallContextBuilder):
    """The SDK's call context, with who asks, of which assistant, and the card."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state["assistant_id"] = request.state.a2a_assistant
        context.state["card"] = request.state.a2a_card
        context.state["principal"] = request.state.a2a_principal
        if request.state.a2a_v1:
            context.state["headers"].setdefault("a2a-version", "1.0")
        return context


def _dispatcher(request: Request) -> JsonRpcDispatcher:
    app = request.app
    dispatcher: JsonRpcDispatcher | None = getattr(app.state, "a2a", None)
    if dispatcher is None:
        rt: Runtime = request.state.runtime
        dispatcher = JsonRpcDispatcher(
            _Agent(rt), context_builder=_Context(), enable_v0_3_compat=True
        )
        app.state.a2a = dispatcher
    return dispatcher


class _Agent(Agent):
    """Every method under the caller's identity, which the call context carries."""

    async def on_message_send(self, params: Any, context: ServerCallContext) -> Any:
        with acting_as(context.state["principal"]):
            return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: Any, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        # Each step under the caller, never a `yield` inside `acting_as`: the SDK may take
        # the next event from another task.
        stream = super().on_message_send_stream(params, context)
        while True:
            with acting_as(context.state["principal"]):
                try:
                    event = await anext(stream)
                except StopAsyncIteration:
                    return
            yield event

    async def on_get_task(self, params: Any, context: ServerCallContext) -> Any:
        with acting_as(context.state["principal"]):
            return await super().on_get_task(params, context)

    async def on_list_tasks(self, params: Any, context: ServerCallContext) -> Any:
        with acting_as(context.state["principal"]):
            return await super().on_list_tasks(params, context)

    async def on_cancel_task(self, params: Any, context: ServerCallContext) -> Any:
        with acting_as(context.state["principal"]):
            return await super().on_cancel_task(params, context)


async def _card(request: Request, assistant_id: str) -> a2a_pb2.AgentCard:
    if not is_uuid(assistant_id):
        raise CardError("Invalid assistant ID: must be a UUID")
    rt: Runtime = request.state.runtime
    try:
        assistant = await rt.assistants.get(assistant_id)
    except NotFound:
        raise CardError(f"Assistant '{assistant_id}' not found") from None
    base = public_base(request, rt.settings.public_url)
    try:
        return agent_card(dict(assistant), f"{base}/a2a/{assistant['assistant_id']}", __version__)
    except A2AError as exc:
        raise CardError(exc.message) from None


class CardError(Exception):
    pass


def card_error(text: str) -> JSONResponse:
    return JSONResponse({"error": {"code": -32602, "message": text}}, status_code=400)


async def card_response(request: Request, assistant_id: str) -> Response:
    try:
        card = await _card(request, assistant_id)
    except CardError as exc:
        return card_error(str(exc))
    return JSONResponse(agent_card_to_dict(card))


async def answer(request: Request, assistant_id: str, body: bytes) -> Response:
    """The answer to one JSON-RPC request (`body`) to the assistant's agent."""
    try:
        message = json.loads(body)
    except RecursionError:
        raise  # 422, as on every route taking JSON
    except ValueError:
        message = None  # the SDK answers it: a parse error
    method = message.get("method") if isinstance(message, dict) else None
    rt: Runtime = request.state.runtime
    # A method that is not a string is the SDK's to refuse (an invalid request).
    request.state.a2a_v1 = isinstance(method, str) and method in _V1_METHODS
    request.state.a2a_principal = rt.auth.principal()
    request.state.a2a_assistant = assistant_id
    request.state.a2a_card = None
    if not is_uuid(assistant_id):
        return _rpc_error(message, "Invalid assistant ID: must be a UUID")
    if method == "GetExtendedAgentCard":
        try:
            request.state.a2a_card = await _card(request, assistant_id)
        except CardError as exc:
            return _rpc_error(message, str(exc))
    return await _dispatcher(request).handle_requests(request)


def _rpc_error(message: Any, text: str) -> JSONResponse:
    rid = message.get("id") if isinstance(message, dict) else None
    # JSON-RPC ids are strings, numbers or null: any other is answered with null.
    if isinstance(rid, bool) or not isinstance(rid, str | int | float | None):
        rid = None
    return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": text}})
