"""Assistants as A2A agents: what `/a2a/{assistant_id}` does (`api/a2a.py` mounts it).

An adapter over distaff's own services (protocol-surfaces contract section 3): a context is a
thread, a task is the run that started it (`"{thread_id}:{run_id}"`), a message that answers
an `interrupt()` is another run of the same task (its metadata `a2a.task_id` names it), and a
task's state is its newest run's status. So auth, owner filters, multitask rules and the queue
apply as to any run. The SDK's JSON-RPC dispatcher speaks both protocol versions over this
handler; better than the reference, a v1.0 client's stream gets real v1.0 events, a failed
task says its error, a cancelled stream ends CANCELED, and tasks carry their answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import Any, Protocol

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import (
    InvalidParamsError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from distaff.errors import DistaffError, NotFound, Refused
from distaff.ids import is_uuid
from distaff.models import Json, Page, Run, Thread, ThreadQuery
from distaff.services.a2a_card import takes_messages
from distaff.services.a2a_parts import graph_input
from distaff.services.a2a_stream import closing_events, submitted, working_update
from distaff.services.a2a_tasks import (
    CANCELED_KEY,
    SCANNED,
    TERMINAL,
    agent_text,
    answer_artifact,
    history,
    interrupt_artifact,
    status,
    task_of,
    task_state,
)
from distaff.services.assistants import AssistantService
from distaff.services.run_creation import RunCreator
from distaff.services.runs import RunService, interrupts_list
from distaff.services.threads import ThreadService


class Services(Protocol):
    """The services an agent is an adapter over (the `Runtime` has them)."""

    @property
    def assistants(self) -> AssistantService: ...

    @property
    def threads(self) -> ThreadService: ...

    @property
    def run_creator(self) -> RunCreator: ...

    @property
    def runs(self) -> RunService: ...


class Agent(RequestHandler):
    """The A2A request handler of every assistant; the assistant id and the caller come in
    the call context (`api/a2a.py` puts them there)."""

    def __init__(self, rt: Services) -> None:
        self._rt = rt

    # ------------------------------------------------------------------ lookups

    async def _assistant(self, context: ServerCallContext) -> Json:
        assistant_id = str(context.state["assistant_id"])
        try:
            return dict(await self._rt.assistants.get(assistant_id))
        except NotFound:
            raise InvalidParamsError(message=f"Assistant '{assistant_id}' not found") from None

    async def _runs(self, thread_id: str) -> list[Run]:
        return await self._rt.runs.list_for_thread(thread_id, Page(SCANNED, 0), None)

    async def _task(self, task_id: str, assistant_id: str) -> tuple[Thread, list[Run]]:
        """The task's thread and its runs, newest first. Raises TaskNotFoundError when the
        caller may not see it or it is another assistant's."""
        thread_id, _, run_id = task_id.partition(":")
        if not (is_uuid(thread_id) and is_uuid(run_id)):
            raise TaskNotFoundError(message=f"Task not found: {task_id}")
        try:
            thread = await self._rt.threads.get(thread_id)
            runs = await self._runs(thread_id)
        except NotFound:
            raise TaskNotFoundError(message=f"Task not found: {task_id}") from None
        mine = [r for r in runs if task_of(r) == task_id and r["assistant_id"] == assistant_id]
        if not mine:
            raise TaskNotFoundError(message=f"Task not found: {task_id}")
        return thread, mine

    async def _build(
        self,
        task_id: str,
        assistant_id: str,
        *,
        history_length: int | None = None,
        artifacts: bool = True,
        scope: str = "context",
    ) -> a2a.Task:
        thread, runs = await self._task(task_id, assistant_id)
        all_runs = await self._runs(thread["thread_id"])
        state = task_state(thread, runs, task_id, all_runs[0] if all_runs else None)
        latest = runs[0]
        message = None
        if state == a2a.TASK_STATE_FAILED:
            error = thread.get("error") or {}
            text = error.get("message") if isinstance(error, dict) else None
            message = agent_text(f"Task failed: {text or latest['status']}")
        elif state == a2a.TASK_STATE_CANCELED:
            message = agent_text("Task was canceled")
        task = a2a.Task(
            id=task_id,
            context_id=thread["thread_id"],
            status=status(state, message, latest["updated_at"]),
            history=history(thread, all_runs, task_id if scope == "task" else None, history_length),
        )
        if artifacts and state == a2a.TASK_STATE_COMPLETED:
            task.artifacts.append(answer_artifact(thread.get("values"), assistant_id))
        elif artifacts and state == a2a.TASK_STATE_INPUT_REQUIRED:
            task.artifacts.append(interrupt_artifact(interrupts_list(thread["interrupts"])))
        return task

    # ------------------------------------------------------------------ sending

    async def _start(
        self, params: a2a.SendMessageRequest, context: ServerCallContext, delivery: str
    ) -> tuple[str, str, Any, a2a.Message]:
        """Create the run a message makes: (task id, context id, subscription, message)."""
        assistant = await self._assistant(context)
        message = params.message
        messages, data, texts = graph_input(message)
        schemas = await self._rt.assistants.schemas(assistant["assistant_id"])
        if messages and not takes_messages(schemas):
            raise InvalidParamsError(
                message=f"Assistant '{assistant['assistant_id']}' (graph "
                f"'{assistant['graph_id']}') does not support A2A conversational messages"
            )
        context_id = message.context_id or str(uuid.uuid4())
        if not is_uuid(context_id):
            raise InvalidParamsError(message="Invalid contextId: must be a UUID")
        body: Json = {
            "assistant_id": assistant["assistant_id"],
            "if_not_exists": "create",
            "stream_mode": ["messages-tuple", "values"],
        }
        a2a_meta: Json = {"message_id": message.message_id}
        task_id = None
        if message.task_id:
            task_id = message.task_id
            thread, runs = await self._task(task_id, assistant["assistant_id"])
            if message.context_id and message.context_id != thread["thread_id"]:
                raise TaskNotFoundError(message=f"Task not found: {task_id}")
            context_id = thread["thread_id"]
            all_runs = await self._runs(context_id)
            state = task_state(thread, runs, task_id, all_runs[0] if all_runs else None)
            if state in TERMINAL:
                raise UnsupportedOperationError(
                    message="A terminal task cannot accept another message"
                )
            a2a_meta["task_id"] = task_id
            if state == a2a.TASK_STATE_INPUT_REQUIRED:
                resume = data.pop("resume", None) if "resume" in data else "\n".join(texts)
                body["command"] = {"resume": resume}
                messages = []
        if "command" not in body:
            body["input"] = {**data, **({"messages": messages} if messages else {})}
        body["metadata"] = {"a2a": a2a_meta}
        if context.state.get("run_context"):
            body["context"] = context.state["run_context"]
        try:
            created = await self._rt.run_creator.create(
                context_id,
                body,
                delivery,  # type: ignore[arg-type]
                headers=context.state.get("headers"),
            )
        except Refused:
            raise InvalidParamsError(message="Access denied to assistant or thread") from None
        except NotFound:
            raise InvalidParamsError(
                message=f"Thread '{context_id}' not found. Please create the thread first"
            ) from None
        except DistaffError as exc:
            raise InvalidParamsError(message=f"Invalid request: {exc}") from None
        run = created.run
        task_id = task_id or f"{run['thread_id']}:{run['run_id']}"
        echoed = a2a.Message()
        echoed.CopyFrom(message)
        echoed.task_id, echoed.context_id = task_id, context_id
        return task_id, context_id, created.subscription, echoed

    async def on_message_send(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> a2a.Task:
        task_id, _, subscription, _ = await self._start(params, context, "wait")
        try:
            async for _ in subscription:
                pass
        finally:
            subscription.close()
        length = params.configuration.history_length if params.HasField("configuration") else 0
        return await self._build(
            task_id,
            str(context.state["assistant_id"]),
            history_length=length or None,
            scope=_scope(context),
        )

    async def on_message_send_stream(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        task_id, context_id, subscription, echoed = await self._start(params, context, "stream")
        assistant_id = str(context.state["assistant_id"])
        try:
            yield submitted(task_id, context_id, echoed)
            texts: dict[str, str] = {}
            async for event in subscription:
                update = working_update(event, texts, task_id, context_id)
                if update is not None:
                    yield update
        finally:
            subscription.close()
        outcome = subscription.outcome
        task = await self._build(task_id, assistant_id, history_length=0)
        for closing in closing_events(task, outcome, task_id, context_id):
            yield closing

    # ------------------------------------------------------------------ tasks

    async def on_get_task(self, params: a2a.GetTaskRequest, context: ServerCallContext) -> a2a.Task:
        length = params.history_length if params.HasField("history_length") else None
        return await self._build(
            params.id,
            str(context.state["assistant_id"]),
            history_length=length,
            scope=_scope(context),
        )

    async def on_list_tasks(
        self, params: a2a.ListTasksRequest, context: ServerCallContext
    ) -> a2a.ListTasksResponse:
        assistant_id = str(context.state["assistant_id"])
        if params.context_id:
            if not is_uuid(params.context_id):
                return a2a.ListTasksResponse(page_size=0, total_size=0)
            thread_ids = [params.context_id]
        else:
            threads = await self._rt.threads.search(
                ThreadQuery(metadata={"assistant_id": assistant_id}), Page(SCANNED, 0)
            )
            thread_ids = [t["thread_id"] for t in threads]
        task_ids: list[str] = []
        for thread_id in thread_ids:
            try:
                runs = await self._runs(thread_id)
            except NotFound:
                continue
            for run in runs:
                task_id = task_of(run)
                if run["assistant_id"] == assistant_id and task_id not in task_ids:
                    task_ids.append(task_id)
        length = params.history_length if params.HasField("history_length") else 0
        tasks = [
            await self._build(
                t, assistant_id, history_length=length, artifacts=params.include_artifacts
            )
            for t in task_ids
        ]
        if params.status:
            tasks = [t for t in tasks if t.status.state == params.status]
        if params.HasField("status_timestamp_after"):
            after = params.status_timestamp_after.ToDatetime()
            tasks = [t for t in tasks if t.status.timestamp.ToDatetime() > after]
        tasks.sort(key=lambda t: t.status.timestamp.ToJsonString(), reverse=True)
        size = params.page_size or 50
        if not 1 <= size <= 100:
            raise InvalidParamsError(message="pageSize must be between 1 and 100")
        offset = int(params.page_token) if params.page_token.isdigit() else 0
        page = tasks[offset : offset + size]
        more = offset + size < len(tasks)
        return a2a.ListTasksResponse(
            tasks=page,
            total_size=len(tasks),
            page_size=len(page),
            next_page_token=str(offset + size) if more else "",
        )

    async def on_cancel_task(
        self, params: a2a.CancelTaskRequest, context: ServerCallContext
    ) -> a2a.Task:
        assistant_id = str(context.state["assistant_id"])
        task = await self._build(params.id, assistant_id, history_length=0, artifacts=False)
        if task.status.state in TERMINAL:
            raise TaskNotCancelableError(message="Task is not cancelable in its current state")
        thread, runs = await self._task(params.id, assistant_id)
        if task.status.state == a2a.TASK_STATE_INPUT_REQUIRED:
            # Its runs have ended: the task is marked cancelled on its thread and the pending
            # interrupt cleared, so the context takes new messages.
            canceled = list((thread.get("metadata") or {}).get(CANCELED_KEY) or [])
            await self._rt.threads.update(
                thread["thread_id"], {"metadata": {CANCELED_KEY: [*canceled, params.id]}}
            )
            await self._rt.threads.update_state(
                thread["thread_id"], {"values": None, "as_node": "__end__"}
            )
        else:
            for run in runs:
                if run["status"] not in ("pending", "running"):
                    continue
                subscription, _ = await self._rt.runs.subscribe(
                    run["thread_id"], run["run_id"], events=False
                )
                try:
                    await self._rt.runs.cancel_one(run["thread_id"], run["run_id"], "interrupt")
                    async with asyncio.timeout(30):
                        async for _ in subscription:
                            pass
                except (NotFound, TimeoutError):
                    pass  # it ended meanwhile, or the cancel is on its way
                finally:
                    subscription.close()
        return await self._build(params.id, assistant_id, history_length=0, artifacts=False)

    # ------------------------------------------------------------------ not offered

    async def on_create_task_push_notification_config(
        self, params: Any, context: ServerCallContext
    ) -> Any:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(
        self, params: Any, context: ServerCallContext
    ) -> Any:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(
        self, params: Any, context: ServerCallContext
    ) -> Any:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(
        self, params: Any, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError

    async def on_subscribe_to_task(
        self, params: Any, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        raise UnsupportedOperationError(message="SubscribeToTask is not supported")
        yield  # an async generator, as the interface wants

    async def on_get_extended_agent_card(
        self, params: Any, context: ServerCallContext
    ) -> a2a.AgentCard:
        card = context.state.get("card")
        if card is None:
            raise UnsupportedOperationError(message="No agent card")
        return card  # type: ignore[no-any-return]


def _scope(context: ServerCallContext) -> str:
    """`task` (only this task's messages in `history`) or `context` (the whole thread's), as
    the card's history-scope extension says."""
    headers = context.state.get("headers") or {}
    return "task" if headers.get("langgraph-a2a-history-scope") == "task" else "context"
