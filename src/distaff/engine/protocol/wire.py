"""How values look on the v2 wire: LangChain messages in the protocol's compact form (what the
reference sends), everything else as v1 serialises it."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from distaff.serde import encoder

_ROLE = {"user": "human", "assistant": "ai"}


def _content(content: Any) -> Any:
    if isinstance(content, str) or not isinstance(content, list):
        return content
    return [{"type": "text", "text": part} if isinstance(part, str) else part for part in content]


def wire_message(message: BaseMessage) -> dict[str, Any]:
    """A message as the v2 stream shows it: `type`, `content`, `id`, and only the fields of its
    kind that say something (no empty lists, no null name, no `additional_kwargs`)."""
    out: dict[str, Any] = {
        "type": _ROLE.get(message.type, message.type),
        "content": _content(message.content),
        "id": message.id,
    }
    if isinstance(message.name, str):
        out["name"] = message.name
    if message.response_metadata:
        out["response_metadata"] = message.response_metadata
    if isinstance(message, AIMessage):
        if message.tool_calls:
            out["tool_calls"] = [
                {"type": "tool_call", "name": c["name"], "args": c["args"], "id": c.get("id")}
                for c in message.tool_calls
            ]
        if message.invalid_tool_calls:
            out["invalid_tool_calls"] = message.invalid_tool_calls
    elif isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
        out["status"] = message.status
        out["artifact"] = message.artifact
    return out


def _default(obj: Any) -> Any:
    return wire_message(obj) if isinstance(obj, BaseMessage) else NotImplemented


#: One line of JSON, messages anywhere inside in their v2 form (orjson calls back for each
#: message, so nothing walks the value in Python).
wire_dumps = encoder(_default)
