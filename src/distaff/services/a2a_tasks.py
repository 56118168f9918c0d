"""A2A tasks built from distaff's threads and runs: states, history, artifacts (what
`services/a2a.py` answers with). Pure: no service calls, only the records given."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from a2a.types import a2a_pb2 as a2a

from distaff.models import Run, Thread
from distaff.services.a2a_parts import data_part, is_ai, is_human, parts_of, tool_result_part

TERMINAL = frozenset(
    {
        a2a.TASK_STATE_COMPLETED,
        a2a.TASK_STATE_FAILED,
        a2a.TASK_STATE_CANCELED,
        a2a.TASK_STATE_REJECTED,
    }
)
_STATES = {
    "pending": a2a.TASK_STATE_SUBMITTED,
    "running": a2a.TASK_STATE_WORKING,
    "success": a2a.TASK_STATE_COMPLETED,
    "interrupted": a2a.TASK_STATE_CANCELED,
    "error": a2a.TASK_STATE_FAILED,
    "timeout": a2a.TASK_STATE_FAILED,
}
#: Thread metadata key listing the tasks cancelled while they waited for input (their runs had
#: ended, so no run status can say it).
CANCELED_KEY = "a2a_canceled_tasks"
#: Runs and threads a task scan looks through.
SCANNED = 100


def now() -> str:
    return datetime.now(UTC).isoformat()


def status(state: int, message: a2a.Message | None = None, at: str | None = None) -> Any:
    value = a2a.TaskStatus(state=state)  # type: ignore[arg-type]
    value.timestamp.FromJsonString(_rfc3339(at or now()))
    if message is not None:
        value.message.CopyFrom(message)
    return value


def _rfc3339(at: str) -> str:
    parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def agent_text(text: str, task_id: str = "", context_id: str = "") -> a2a.Message:
    return a2a.Message(
        message_id=str(uuid.uuid4()),
        role=a2a.ROLE_AGENT,
        parts=[a2a.Part(text=text)],
        task_id=task_id,
        context_id=context_id,
    )


def task_of(run: Run) -> str:
    """The task a run belongs to: the one it continues, or the one it started."""
    a2a_meta = (run.get("metadata") or {}).get("a2a") or {}
    return str(a2a_meta.get("task_id") or f"{run['thread_id']}:{run['run_id']}")


def task_state(thread: Thread, runs: list[Run], task_id: str, newest: Run | None) -> int:
    latest = runs[0]
    if task_id in ((thread.get("metadata") or {}).get(CANCELED_KEY) or []):
        return a2a.TASK_STATE_CANCELED
    state = _STATES.get(latest["status"], a2a.TASK_STATE_SUBMITTED)
    if (
        state == a2a.TASK_STATE_COMPLETED
        and thread.get("status") == "interrupted"
        and newest is not None
        and newest["run_id"] == latest["run_id"]
    ):
        return a2a.TASK_STATE_INPUT_REQUIRED
    return state


def history(
    thread: Thread, runs: list[Run], task_id: str | None, length: int | None
) -> list[a2a.Message]:
    """The context's public messages, each with its task (a human message a run brought
    starts that run's task's segment)."""
    started = {
        str(((r.get("metadata") or {}).get("a2a") or {}).get("message_id")): task_of(r)
        for r in runs
    }
    context_id = thread["thread_id"]
    found: list[a2a.Message] = []
    current = ""
    values = thread.get("values") or {}
    messages = values.get("messages") if isinstance(values, dict) else None
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        mid = str(message.get("id") or "")
        if is_human(message):
            current = started.get(mid, current)
            role, parts = a2a.ROLE_USER, parts_of(message.get("content"))
        elif message.get("type") == "tool" and message.get("tool_call_id"):
            role, parts = a2a.ROLE_AGENT, [tool_result_part(message)]
        elif is_ai(message):
            role, parts = a2a.ROLE_AGENT, parts_of(message.get("content"))
        else:
            continue
        if not parts or (task_id is not None and current != task_id):
            continue
        found.append(
            a2a.Message(
                message_id=mid or str(uuid.uuid4()),
                role=role,
                parts=parts,
                task_id=current,
                context_id=context_id,
            )
        )
    if length is not None:
        found = found[-length:] if length > 0 else []
    return found


def answer_artifact(values: Any, assistant_id: str) -> a2a.Artifact:
    """The answer: the last agent message with content after the last user message."""
    parts: list[a2a.Part] = []
    messages = values.get("messages") if isinstance(values, dict) else None
    if isinstance(messages, list):
        for message in reversed(messages):
            if not isinstance(message, dict) or is_human(message):
                break
            if is_ai(message) and (parts := parts_of(message.get("content"))):
                break
    elif values:
        parts = [a2a.Part(text=json.dumps(values, default=str))]
    return a2a.Artifact(
        artifact_id=str(uuid.uuid4()),
        name="Assistant Response",
        description=f"Response from assistant {assistant_id}",
        parts=parts or [a2a.Part(text="")],
    )


def interrupt_artifact(pending: list[Any]) -> a2a.Artifact:
    return a2a.Artifact(
        artifact_id=str(uuid.uuid4()),
        name="Interrupt",
        description="Agent requires input to continue",
        parts=[
            data_part({"id": i.get("id"), "value": i.get("value")})
            for i in pending
            if isinstance(i, dict)
        ],
    )
