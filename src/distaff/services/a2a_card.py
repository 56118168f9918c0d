"""The A2A agent card of an assistant (protocol-surfaces contract section 3.2)."""

from __future__ import annotations

from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import InvalidParamsError

from distaff.models import Json


def takes_messages(schemas: Json) -> bool:
    for key in ("input_schema", "state_schema"):
        schema = schemas.get(key)
        if isinstance(schema, dict) and schema.get("properties"):
            return "messages" in schema["properties"]
    return False


def agent_card(assistant: Json, url: str, version: str) -> a2a.AgentCard:
    """The card of one assistant (contract section 3.2), served at `url`."""
    name = str(assistant.get("name") or assistant["assistant_id"])
    description = str(assistant.get("description") or f"{name} assistant")
    overrides = (assistant.get("metadata") or {}).get("a2a") or {}
    modes: dict[str, list[str]] = {}
    for key in ("input_modes", "output_modes"):
        value = overrides.get(key, ["application/json", "text/plain"])
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise InvalidParamsError(
                message=f"Assistant metadata.a2a.{key} must be a non-empty array of strings."
            )
        modes[key] = value
    history_scope = {
        "header": "LangGraph-A2A-History-Scope",
        "values": ["context", "task"],
        "default": "context",
        "methods": ["SendMessage", "GetTask", "ListTasks"],
    }
    card = a2a.AgentCard(
        name=name,
        description=description,
        version=version,
        supported_interfaces=[
            a2a.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            a2a.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=a2a.AgentCapabilities(
            streaming=True, push_notifications=False, extended_agent_card=True
        ),
        default_input_modes=modes["input_modes"],
        default_output_modes=modes["output_modes"],
        skills=[
            a2a.AgentSkill(
                id=f"{assistant['assistant_id']}-main",
                name=f"{name} Capabilities",
                description=description,
                tags=["assistant", "langgraph"],
                input_modes=modes["input_modes"],
                output_modes=modes["output_modes"],
            )
        ],
    )
    extension = card.capabilities.extensions.add()
    extension.uri = "https://langchain.com/a2a/extensions/history-scope/v1"
    extension.description = "Choose task-only or full-context response history"
    extension.params.update(history_scope)
    return card
