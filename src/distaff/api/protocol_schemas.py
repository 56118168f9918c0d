"""Answers of the protocol surfaces, as `/openapi.json` publishes them: the v2 thread commands,
JSON-RPC for MCP and A2A, A2A agent cards. Documentation only, as in `response_schemas.py`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from distaff.api.response_schemas import ErrorBody, absent
from distaff.models import Json


class CommandMeta(BaseModel):
    applied_through_seq: int


class CommandSuccess(BaseModel):
    """A v2 command that was carried out."""

    type: Literal["success"]
    id: int
    result: Json
    meta: CommandMeta


class CommandFailure(BaseModel):
    """A v2 command that was refused (some codes carry more keys)."""

    type: Literal["error"]
    id: Any = Field(description="The command's id as sent (null when there was none)")
    error: str
    message: str


class JsonRpcError(BaseModel):
    code: int
    message: str
    data: Any = absent()


class JsonRpcResponse(BaseModel):
    """A JSON-RPC 2.0 response: `result`, or `error`."""

    jsonrpc: Literal["2.0"]
    id: str | int | None
    result: Any = absent()
    error: JsonRpcError = absent()


class A2aResponse(JsonRpcResponse):
    """A JSON-RPC 2.0 response of an A2A agent: `result`, or `error`. A request refused before
    the A2A dispatcher (an assistant id that is not a UUID) gets its `id` back as sent, even
    one JSON-RPC does not allow."""

    id: Any


class AgentInterface(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel)

    url: str
    protocol_binding: str
    protocol_version: str


class AgentCard(BaseModel):
    """An assistant's A2A agent card: the protocol 1.0 keys, and the 0.3 ones (`url`,
    `preferredTransport`, `protocolVersion`, `supportsAuthenticatedExtendedCard`)."""

    model_config = ConfigDict(alias_generator=to_camel)

    name: str
    description: str
    supported_interfaces: list[AgentInterface]
    version: str
    capabilities: Json
    default_input_modes: list[str]
    default_output_modes: list[str]
    skills: list[Json]
    preferred_transport: str = absent()
    protocol_version: str = absent()
    supports_authenticated_extended_card: bool = absent()
    url: str = absent()


#: `POST /threads/{thread_id}/commands`: a reply, and the 400s (no JSON: an `ErrorBody`).
COMMAND_REPLIES: dict[int | str, dict[str, Any]] = {
    200: {"model": CommandSuccess | CommandFailure, "description": "The command's reply"},
    400: {
        "model": ErrorBody | CommandFailure,
        "description": "No JSON, or not a command (an `invalid_argument` reply)",
    },
}
