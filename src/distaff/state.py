"""Views of a graph's checkpointed state, shared by the engine and the services: the
ThreadState the API serves, and the snapshot a run leaves on its thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import StateSnapshot

from distaff.models import Json
from distaff.serde import dumps

if TYPE_CHECKING:
    from distaff.graphs import CompiledGraph

#: The state of a thread no graph has run on yet (contract capture 141).
EMPTY_STATE: Json = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


@dataclass(frozen=True, slots=True)
class ThreadSnapshot:
    """What a finished run leaves on its thread (contract section 4.1)."""

    values: Any
    interrupts: Json
    has_next: bool
    error: Json | None = None
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def values_json(self) -> bytes:
        """`values` as JSON, encoded once: a run's final state goes into its thread's row and
        into the run's `/wait` answer, and on a long thread encoding it is a cost per turn."""
        encoded = self._json
        if encoded is None:
            encoded = dumps(self.values)
            object.__setattr__(self, "_json", encoded)  # frozen: a cache, not a change
        return encoded


def thread_config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def checkpoint_ref(config: Any) -> Json | None:
    """`{checkpoint_id, thread_id, checkpoint_ns}` of a checkpoint's config, in the reference's
    key order, or None."""
    if not isinstance(config, dict):
        return None
    conf = config.get("configurable") or {}
    return {
        "checkpoint_id": conf.get("checkpoint_id"),
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
    }


def interrupt_json(interrupt: Any) -> Json:
    """`{id, value}`, plus `response_schema` only when the interrupt has one."""
    out = {"id": interrupt.id, "value": interrupt.value}
    if getattr(interrupt, "response_schema", None) is not None:
        out["response_schema"] = interrupt.response_schema
    return out


def task_error(error: object) -> str | None:
    """A task's error as the reference serves it: `"ValueError('boom requested')"`."""
    if error is None:
        return None
    return error if isinstance(error, str) else repr(error)


def state_json(snapshot: StateSnapshot) -> Json:
    """A langgraph `StateSnapshot` as the ThreadState the API serves."""
    tasks = []
    for task in snapshot.tasks:
        sub_state: Any = None
        sub_checkpoint: Any = None
        if isinstance(task.state, StateSnapshot):
            sub_state = state_json(task.state)
        elif isinstance(task.state, dict):
            sub_checkpoint = task.state.get("configurable") or None
        tasks.append(
            {
                "id": task.id,
                "name": task.name,
                "path": list(task.path),
                # langgraph keeps a task's error as the exception's repr already (a string).
                "error": task_error(task.error),
                "interrupts": [interrupt_json(i) for i in task.interrupts],
                "checkpoint": sub_checkpoint,
                "state": sub_state,
                "result": task.result,
            }
        )
    checkpoint = checkpoint_ref(snapshot.config)
    parent = checkpoint_ref(snapshot.parent_config)
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "tasks": tasks,
        "metadata": snapshot.metadata,
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": [interrupt_json(i) for i in snapshot.interrupts],
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }


async def snapshot_of(
    graph: CompiledGraph, thread_id: str, error: Json | None = None
) -> ThreadSnapshot:
    """What the thread's latest checkpoint says: values, pending interrupts, whether a node is
    next (the thread is then `interrupted`)."""
    return snapshot_from(await graph.aget_state(thread_config(thread_id)), error)


def snapshot_from(state: StateSnapshot, error: Json | None = None) -> ThreadSnapshot:
    """`snapshot_of` for a state already read."""
    interrupts = {
        task.id: [interrupt_json(i) for i in task.interrupts]
        for task in state.tasks
        if task.interrupts
    }
    return ThreadSnapshot(
        values=state.values if state.created_at is not None else None,
        interrupts=interrupts,
        has_next=bool(state.next),
        error=error,
    )
