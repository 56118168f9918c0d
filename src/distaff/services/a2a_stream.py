"""The events of a task's stream (`message/stream`): the submitted task, then from its run's
events a working status for each tool result or AI text, then the task's artifacts and its
final status. Pure: the run's events and the task built after it ended are given."""

from __future__ import annotations

import json
from collections.abc import Iterator

from a2a.server.events import Event
from a2a.types import a2a_pb2 as a2a

from distaff.events import StreamEvent
from distaff.models import RunOutcome
from distaff.services.a2a_parts import is_ai, text_of, tool_result_part
from distaff.services.a2a_tasks import agent_text, status


def submitted(task_id: str, context_id: str, echoed: a2a.Message) -> a2a.Task:
    """The stream's first event: the task, with the message that started it."""
    return a2a.Task(
        id=task_id,
        context_id=context_id,
        status=status(a2a.TASK_STATE_SUBMITTED),
        history=[echoed],
    )


def working_update(
    event: StreamEvent, texts: dict[str, str], task_id: str, context_id: str
) -> a2a.TaskStatusUpdateEvent | None:
    """The working status a run's event makes, if any: a tool's result, or an AI message's
    text so far (`texts`, by message id, accumulates it)."""
    if event.event != "messages":
        return None
    chunk = json.loads(event.data)[0]
    if not isinstance(chunk, dict):
        return None
    if chunk.get("type") == "tool" and chunk.get("tool_call_id"):
        parts = [tool_result_part(chunk)]
    elif is_ai(chunk) and (piece := text_of(chunk.get("content"))):
        key = str(chunk.get("id"))
        texts[key] = texts.get(key, "") + piece
        # The whole text so far, as the reference sends: clients replace it.
        parts = [a2a.Part(text=texts[key])]
    else:
        return None
    working = agent_text("", task_id, context_id)
    del working.parts[:]
    working.parts.extend(parts)
    return a2a.TaskStatusUpdateEvent(
        task_id=task_id,
        context_id=context_id,
        status=status(a2a.TASK_STATE_WORKING, working),
    )


def closing_events(
    task: a2a.Task, outcome: RunOutcome | None, task_id: str, context_id: str
) -> Iterator[Event]:
    """What ends the stream once the run ended: the task's artifacts, then its final status."""
    if outcome is not None and outcome.status == "interrupted":
        state = a2a.TASK_STATE_CANCELED  # the reference says COMPLETED here
    else:
        state = task.status.state
    for artifact in task.artifacts:
        yield a2a.TaskArtifactUpdateEvent(
            task_id=task_id, context_id=context_id, artifact=artifact, last_chunk=True
        )
    message = None
    if state == a2a.TASK_STATE_FAILED:
        error = (outcome.error if outcome is not None else None) or {}
        message = agent_text(str(error.get("message") or "Task failed"), task_id, context_id)
    elif state == a2a.TASK_STATE_CANCELED:
        message = agent_text("Task was canceled", task_id, context_id)
    yield a2a.TaskStatusUpdateEvent(
        task_id=task_id, context_id=context_id, status=status(state, message)
    )
