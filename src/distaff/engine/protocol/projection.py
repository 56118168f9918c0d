"""One run's langgraph stream parts as v2 protocol events.

The root graph's lifecycle is the run's state machine: `running` first, then exactly one of
`completed`, `failed` (with the error's message) or `interrupted` (a human-in-the-loop pause
or a cancel). Each subgraph namespace gets `started` before its first event and a terminal when
its parent's task ends (from the `tasks` part), or when the run ends. Interrupts become
`input.requested`, once per interrupt id.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import AIMessageChunk, ToolMessage

from distaff.engine.protocol.messages import ChunkStreams

Namespace = tuple[str, ...]
#: `(method, namespace, data)`.
Event = tuple[str, Namespace, Any]
Terminal = Literal["completed", "failed", "interrupted"]


def _segment_parts(segment: str) -> tuple[str, str]:
    name, _, task_id = segment.partition(":")
    return name, task_id


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p if isinstance(p, str) else str(p.get("text", "")) if isinstance(p, dict) else ""
            for p in content
        )
    return "" if content is None else str(content)


def _tool_mirror(namespace: Namespace, data: dict[str, Any]) -> list[Event]:
    """A finished tool call also as a complete `tool` message, on its own namespace: views of
    one namespace's messages (`useMessages`) show tool results among the chat."""
    call_id = str(data.get("tool_call_id") or "")
    output = data.get("output")
    if isinstance(output, ToolMessage):
        message_id, text = output.id or f"tool-{call_id}", _text(output.content)
    else:
        message_id, text = f"tool-{call_id}", _text(output)
    ns = (*namespace, f"tools:{call_id}")
    block = {"type": "text", "text": text}
    return [
        (
            "messages",
            ns,
            {"event": "message-start", "role": "tool", "id": message_id, "tool_call_id": call_id},
        ),
        (
            "messages",
            ns,
            {"event": "content-block-start", "index": 0, "content": {**block, "text": ""}},
        ),
        (
            "messages",
            ns,
            {
                "event": "content-block-delta",
                "index": 0,
                "delta": {"type": "text-delta", "text": text},
            },
        ),
        ("messages", ns, {"event": "content-block-finish", "index": 0, "content": block}),
        ("messages", ns, {"event": "message-finish"}),
    ]


def _checkpoint(data: Any) -> dict[str, Any] | None:
    """The spec's checkpoint event from langgraph's `checkpoints` part (a `get_state` shape)."""
    if not isinstance(data, dict):
        return None
    configurable = (data.get("config") or {}).get("configurable") or {}
    if not configurable.get("checkpoint_id"):
        return None
    parent = ((data.get("parent_config") or {}).get("configurable") or {}).get("checkpoint_id")
    metadata = data.get("metadata") or {}
    out: dict[str, Any] = {"id": configurable["checkpoint_id"]}
    if parent:
        out["parent_id"] = parent
    out["step"] = metadata.get("step")
    out["source"] = metadata.get("source")
    return out


class RunProjection:
    def __init__(self, graph_name: str, *, checkpoints: bool = False) -> None:
        """`checkpoints`: the stream carries langgraph's `checkpoints` parts (a v2 run)."""
        self.graph_name = graph_name
        self._pair = checkpoints
        #: Subgraph namespaces that started and have not ended.
        self._open: list[Namespace] = []
        self._closed: set[Namespace] = set()
        #: Interrupt ids already requested, and where.
        self.requested: dict[str, Namespace] = {}
        #: A namespace's latest `values`, waiting for the checkpoint that holds them.
        self._held: dict[Namespace, Event] = {}
        self._chunks = ChunkStreams()

    def start(self) -> list[Event]:
        return [("lifecycle", (), {"event": "running", "graph_name": self.graph_name})]

    def feed(self, namespace: Namespace, mode: str, data: Any) -> list[Event]:
        out: list[Event] = []
        if namespace:
            self._discover(namespace, out)
        # langgraph streams a step's checkpoint just after the step's values; clients (the JS
        # controller) take a `values` event's checkpoint to be the one sent before it, for
        # forks and edits. So values wait for their checkpoint, or for anything else.
        held = self._held.pop(namespace, None) if mode == "checkpoints" else None
        out.extend(self._held.values())
        self._held.clear()
        if mode == "values":
            if isinstance(data, dict) and "__interrupt__" in data:
                data = {k: v for k, v in data.items() if k != "__interrupt__"}
            if self._pair:
                self._held[namespace] = ("values", namespace, data)
            else:
                out.append(("values", namespace, data))
        elif mode == "messages":
            payload = data[0] if isinstance(data, tuple | list) and data else None
            # Chat-model tokens; whole messages a node returned are in `values`, as in the
            # reference. (Protocol events, from langgraph's own v2 handler, pass as they are.)
            if isinstance(payload, AIMessageChunk):
                out.extend(
                    ("messages", namespace, e) for e in self._chunks.feed(payload, namespace)
                )
            elif isinstance(payload, dict) and "event" in payload:
                out.append(("messages", namespace, payload))
        elif mode == "updates":
            if isinstance(data, dict):
                self._interrupts(namespace, data.get("__interrupt__"), out)
                rest = {k: v for k, v in data.items() if k != "__interrupt__"}
                if rest:
                    out.append(("updates", namespace, rest))
        elif mode == "tools":
            out.append(("tools", namespace, data))
            if isinstance(data, dict) and data.get("event") == "tool-finished":
                out.extend(_tool_mirror(namespace, data))
        elif mode == "checkpoints":
            if (checkpoint := _checkpoint(data)) is not None:
                out.append(("checkpoints", namespace, checkpoint))
            if held is not None:
                out.append(held)
        elif mode == "tasks":
            out.append(("tasks", namespace, data))
            if isinstance(data, dict) and "result" in data and data.get("id"):
                child = (*namespace, f"{data.get('name')}:{data['id']}")
                status: Terminal = (
                    "interrupted"
                    if data.get("interrupts")
                    else "failed"
                    if data.get("error")
                    else "completed"
                )
                self._close(child, status, out)
        elif mode == "custom":
            out.append(("custom", namespace, data))
        return out

    def end(
        self, status: Terminal, error: str | None, pending: list[tuple[str, Any]]
    ) -> list[Event]:
        """The run's last events: input requests not yet sent (`pending`: interrupt id and
        value, from the thread's final state), open subgraphs closed deepest first, and the
        root's terminal."""
        out: list[Event] = list(self._held.values())
        self._held.clear()
        out.extend(("messages", ns, e) for ns, e in self._chunks.finish_all())
        self._interrupts((), [{"id": i, "value": v} for i, v in pending], out)
        asked = set(self.requested.values())
        for ns in sorted(self._open, key=len, reverse=True):
            inner: Terminal = (
                "interrupted"
                if any(a[: len(ns)] == ns for a in asked) and status == "interrupted"
                else "completed"
            )
            out.append(self._terminal(ns, inner))
        self._closed.update(self._open)
        self._open.clear()
        root: dict[str, Any] = {"event": status, "graph_name": self.graph_name}
        if status == "failed":
            root["error"] = error or "The run failed"
        out.append(("lifecycle", (), root))
        return out

    def _interrupts(self, namespace: Namespace, interrupts: Any, out: list[Event]) -> None:
        for item in interrupts or ():
            if isinstance(item, dict):
                interrupt_id, value = item.get("id"), item.get("value")
            else:
                interrupt_id, value = getattr(item, "id", None), getattr(item, "value", None)
            if not interrupt_id or interrupt_id in self.requested:
                continue
            self.requested[interrupt_id] = namespace
            # `payload` is the protocol's name; `value` is where langgraph_sdk 0.4.14 reads it.
            data = {"interrupt_id": interrupt_id, "payload": value, "value": value}
            out.append(("input.requested", namespace, data))

    def _discover(self, namespace: Namespace, out: list[Event]) -> None:
        for depth in range(1, len(namespace) + 1):
            ns = namespace[:depth]
            if ns in self._closed or ns in self._open:
                continue
            name, task_id = _segment_parts(ns[-1])
            self._open.append(ns)
            out.append(
                (
                    "lifecycle",
                    ns,
                    {
                        "event": "started",
                        "namespace": list(ns),
                        "graph_name": name,
                        "trigger_call_id": task_id,
                    },
                )
            )

    def _close(self, namespace: Namespace, status: Terminal, out: list[Event]) -> None:
        inside = [ns for ns in self._open if ns[: len(namespace)] == namespace]
        for ns in sorted(inside, key=len, reverse=True):
            self._open.remove(ns)
            self._closed.add(ns)
            out.append(self._terminal(ns, "completed" if ns != namespace else status))

    @staticmethod
    def _terminal(namespace: Namespace, status: Terminal) -> Event:
        name, _ = _segment_parts(namespace[-1])
        return ("lifecycle", namespace, {"event": status, "graph_name": name})
