"""From the API's `stream_mode` to langgraph's stream modes and back to SSE event names.

The API's modes are langgraph's, plus two that share langgraph's `messages` stream:
`messages-tuple` (sent as event `messages`, the raw `[chunk, metadata]` pair) and the legacy
`messages` (accumulated into `messages/metadata`, `messages/partial`, `messages/complete`),
and `events` (astream_events v2, which wraps the other modes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message

from distaff.state import checkpoint_ref

_DIRECT = {"values", "updates", "debug", "custom", "tasks", "checkpoints"}


def langgraph_modes(requested: Iterable[str]) -> list[str]:
    """The langgraph modes to ask for. `values` is always on: it gives the final state."""
    modes = {"values"}
    for mode in requested:
        if mode in _DIRECT:
            modes.add(mode)
        elif mode in ("messages", "messages-tuple"):
            modes.add("messages")
    return sorted(modes)


def event_name(mode: str, namespace: tuple[str, ...]) -> str:
    return "|".join((mode, *namespace)) if namespace else mode


def matches(event: str, wanted: Iterable[str]) -> bool:
    """Whether a stored or live event passes a rejoin's `stream_mode` filter."""
    base = event.split("|", 1)[0]
    for mode in wanted:
        if mode in ("messages", "messages-tuple"):
            if base.startswith("messages"):
                return True
        elif base == mode:
            return True
    return False


class LegacyMessages:
    """The legacy `messages` mode: whole messages so far, not deltas (contract quirk 9)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._partial: dict[str, BaseMessageChunk] = {}

    def feed(self, chunk: Any, metadata: dict[str, Any]) -> list[tuple[str, Any]]:
        if not isinstance(chunk, BaseMessage):
            return []
        out: list[tuple[str, Any]] = []
        msg_id = chunk.id or ""
        if msg_id not in self._seen:
            self._seen.add(msg_id)
            out.append(("messages/metadata", {msg_id: {"metadata": metadata}}))
        if isinstance(chunk, BaseMessageChunk):
            previous = self._partial.get(msg_id)
            merged = chunk if previous is None else previous + chunk
            self._partial[msg_id] = merged
            out.append(("messages/partial", [message_chunk_to_message(merged)]))
        else:
            out.append(("messages/complete", [chunk]))
        return out


def debug_payload(payload: Any) -> Any:
    """Add `checkpoint` / `parent_checkpoint` to debug checkpoint entries, as the reference does."""
    if not isinstance(payload, dict) or payload.get("type") != "checkpoint":
        return payload
    inner = dict(payload.get("payload") or {})
    inner["checkpoint"] = checkpoint_ref(inner.get("config"))
    inner["parent_checkpoint"] = checkpoint_ref(inner.get("parent_config"))
    return {**payload, "payload": inner}
