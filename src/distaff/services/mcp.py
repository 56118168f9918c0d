"""Assistants as MCP tools: what `/mcp` lists and calls (`api/mcp.py` speaks the protocol).

One tool per assistant the caller may see, named from the assistant's name in MCP's tool-name
alphabet, newest first, the first of equal names kept (contract section 2.4). A call is a
stateless run waited for, like `POST /runs/wait`: the caller's auth, filters and the queue
apply. Better than the reference: the output comes back as JSON text (the reference sends a
Python `repr`), a failure says its message (not only its class), and the cursor is a string
(the reference's integer breaks both official SDKs past 100 assistants).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from distaff.errors import DistaffError
from distaff.models import AssistantQuery, Json, Page
from distaff.serde import dumps
from distaff.services.assistants import AssistantService
from distaff.services.run_creation import RunCreator

log = logging.getLogger("distaff.mcp")

#: Tools per `tools/list` page, and how many assistants a call looks through for its name.
PAGE = 100
SEARCHED = 1000
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.-]")
#: Definitions of LangChain's message types in a graph's input schema: a client of a tool
#: sends text, which the graph's `add_messages` makes a human message.
_MESSAGE_DEFS = re.compile(
    r"^(AI|Human|System|Tool|Function|Chat|Remove)?Message(Chunk)?$"
    r"|^(ToolCall|ToolCallChunk|InvalidToolCall|UsageMetadata|InputTokenDetails"
    r"|OutputTokenDetails)$"
)
MESSAGE_INPUT = {"type": "string", "description": "The user message to send to the agent."}


def tool_name(assistant_name: str) -> str:
    """The assistant's name in MCP's tool-name alphabet: trimmed, each run of whitespace one
    `_`, other characters outside `[A-Za-z0-9_.-]` dropped, at most 128 characters."""
    spaced = re.sub(r"\s+", "_", assistant_name.strip())
    return _NOT_ALLOWED.sub("", spaced)[:128]


def _is_message_list(prop: Any, defs: set[str]) -> bool:
    items = prop.get("items") if isinstance(prop, dict) and prop.get("type") == "array" else None
    if not isinstance(items, dict):
        return False
    refs = [items.get("$ref")] + [
        option.get("$ref") for option in items.get("anyOf") or items.get("oneOf") or []
    ]
    return any(isinstance(r, str) and r.rsplit("/", 1)[-1] in defs for r in refs)


def tool_schema(input_schema: Json) -> Json:
    """A graph's input schema as a tool's: an object, with lists of LangChain messages as one
    string (and their definitions gone)."""
    schema: Json = {"type": "object", **input_schema}
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    messages = {name for name in defs if _MESSAGE_DEFS.match(name)}
    if not messages:
        return schema
    properties = dict(schema.get("properties") or {})
    for key, prop in properties.items():
        if _is_message_list(prop, messages):
            properties[key] = {"title": prop.get("title", key), **MESSAGE_INPUT}
    schema["properties"] = properties
    kept = {name: d for name, d in defs.items() if name not in messages}
    if kept:
        schema["$defs"] = kept
    else:
        del schema["$defs"]
    return schema


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    title: str
    description: str
    input_schema: Json


@dataclass(frozen=True, slots=True)
class ToolResult:
    text: str
    is_error: bool = False


class McpTools:
    def __init__(self, assistants: AssistantService, run_creator: RunCreator) -> None:
        self._assistants = assistants
        self._run_creator = run_creator

    async def list(self, cursor: str | int | None) -> tuple[list[Tool], str | None]:
        """A page of tools and the cursor of the next one (None: the last page). A cursor
        that is no number starts at the beginning, as in the reference."""
        try:
            offset = max(0, int(cursor or 0))
        except ValueError:
            offset = 0
        page = await self._assistants.search(AssistantQuery(), Page(PAGE, offset))
        tools: list[Tool] = []
        seen: set[str] = set()
        for assistant in page:
            name = tool_name(str(assistant.get("name") or ""))
            if name in seen:
                log.warning(
                    "MCP: tool %r is another assistant's; %s left out",
                    name,
                    assistant["assistant_id"],
                )
                continue
            try:
                schemas = await self._assistants.schemas(assistant["assistant_id"])
            except Exception:
                log.warning("MCP: no input schema for %s", assistant["assistant_id"], exc_info=True)
                continue
            if not isinstance(schemas.get("input_schema"), dict):
                continue
            seen.add(name)
            tools.append(
                Tool(
                    name=name,
                    title=str(assistant.get("name") or ""),
                    description=str(
                        assistant.get("description")
                        or f"Tool based on the {assistant.get('name')} assistant"
                    ),
                    input_schema=tool_schema(schemas["input_schema"]),
                )
            )
        return tools, str(offset + PAGE) if len(page) == PAGE else None

    async def call(
        self, name: str | None, arguments: Any, context: Any, headers: Json, request_id: str | None
    ) -> ToolResult:
        """Run the assistant the tool is named for, statelessly, and wait for its output.
        Raises `UnknownTool`."""
        page = await self._assistants.search(AssistantQuery(), Page(SEARCHED, 0))
        matches = [a for a in page if name is not None and tool_name(str(a.get("name"))) == name]
        if not matches:
            raise UnknownTool(f"Unknown tool: {name}")
        if len(matches) > 1:
            raise UnknownTool("Multiple tools found with the same name.")
        body: Json = {"assistant_id": matches[0]["assistant_id"], "input": arguments or {}}
        if isinstance(context, dict) and context:
            body["context"] = context
        try:
            created = await self._run_creator.create(
                None, body, "wait", request_id=request_id, headers=headers
            )
        except DistaffError as exc:
            return ToolResult(f"{type(exc).__name__}: {exc}", is_error=True)
        subscription = created.subscription
        assert subscription is not None
        try:
            async for _ in subscription:
                pass
        finally:
            subscription.close()
        outcome = subscription.outcome
        if outcome is None or outcome.status != "success":
            error = (outcome.error if outcome is not None else None) or {}
            kind = error.get("error") or (outcome.status if outcome else "Error")
            message = error.get("message")
            return ToolResult(f"{kind}: {message}" if message else str(kind), is_error=True)
        return ToolResult(dumps(outcome.values).decode())


class UnknownTool(Exception):
    """No tool (or more than one) goes by the name a call gave."""
