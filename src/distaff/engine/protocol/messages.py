"""Chat-model tokens as the protocol's content-block events, from langgraph's message chunks.

langgraph's own v2 message handler makes these events with langchain-core's content-block
machinery, which costs a v2 run about 1.4 times a v1 run's CPU (bench/README.md); distaff makes
them from the chunks every run streams anyway: a text block and a block per tool-call chunk
index, each started, given deltas, and finished with its whole content when the chunk marked
`last` arrives (or the run ends). The message in the thread's state keeps the form the graph
gave it, as under v1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessageChunk


@dataclass(slots=True)
class _Block:
    index: int
    kind: str  # "text" or "tool"
    text: str = ""
    call_id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class _Message:
    namespace: tuple[str, ...]
    blocks: dict[Any, _Block] = field(default_factory=dict)


def _finished(block: _Block) -> dict[str, Any]:
    if block.kind == "text":
        return {"type": "text", "text": block.text}
    try:
        args = json.loads(block.text) if block.text else {}
    except ValueError as exc:
        return {
            "type": "invalid_tool_call",
            "id": block.call_id,
            "name": block.name,
            "args": block.text,
            "error": str(exc),
        }
    return {"type": "tool_call", "id": block.call_id, "name": block.name, "args": args}


class ChunkStreams:
    """The content-block events of every message being streamed in one run."""

    def __init__(self) -> None:
        self._open: dict[str, _Message] = {}

    def feed(self, chunk: AIMessageChunk, namespace: tuple[str, ...]) -> list[dict[str, Any]]:
        message_id = chunk.id or ""
        out: list[dict[str, Any]] = []
        message = self._open.get(message_id)
        if message is None:
            message = self._open[message_id] = _Message(namespace)
            out.append({"event": "message-start", "role": "ai", "id": message_id})
        for text in _texts(chunk.content):
            block = self._block(message, "text", "text", out)
            block.text += text
            out.append(
                {
                    "event": "content-block-delta",
                    "index": block.index,
                    "delta": {"type": "text-delta", "text": text},
                }
            )
        for call in chunk.tool_call_chunks:
            key = ("tool", call.get("index") if call.get("index") is not None else call.get("id"))
            block = self._block(message, key, "tool", out, call)
            if args := call.get("args"):
                block.text += args
                out.append(
                    {
                        "event": "content-block-delta",
                        "index": block.index,
                        "delta": {"type": "tool-call-delta", "args": args},
                    }
                )
        if getattr(chunk, "chunk_position", None) == "last":
            out.extend(self._finish(message_id))
        return out

    def finish_all(self) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        """Messages a run ended in the middle of (a cancel, a failure), closed as they are:
        `(namespace, event)`."""
        out: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        for message_id, message in list(self._open.items()):
            out.extend((message.namespace, e) for e in self._finish(message_id))
        return out

    def _block(
        self,
        message: _Message,
        key: Any,
        kind: str,
        out: list[dict[str, Any]],
        call: Any = None,
    ) -> _Block:
        block = message.blocks.get(key)
        if block is None:
            block = message.blocks[key] = _Block(len(message.blocks), kind)
            if kind == "text":
                content: dict[str, Any] = {"type": "text", "text": ""}
            else:
                block.call_id, block.name = call.get("id"), call.get("name")
                content = {
                    "type": "tool_call_chunk",
                    "id": block.call_id,
                    "name": block.name,
                    "args": "",
                    "index": block.index,
                }
            out.append({"event": "content-block-start", "index": block.index, "content": content})
        elif kind == "tool" and call is not None:
            block.call_id = block.call_id or call.get("id")
            block.name = block.name or call.get("name")
        return block

    def _finish(self, message_id: str) -> list[dict[str, Any]]:
        message = self._open.pop(message_id, None)
        if message is None:
            return []
        out = [
            {"event": "content-block-finish", "index": b.index, "content": _finished(b)}
            for b in message.blocks.values()
        ]
        out.append({"event": "message-finish"})
        return out


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    if isinstance(content, list):
        return [
            part if isinstance(part, str) else str(part.get("text") or "")
            for part in content
            if isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")
            if (part if isinstance(part, str) else part.get("text"))
        ]
    return []
