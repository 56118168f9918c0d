"""Runs: creation with every multitask strategy, joining, cancelling, listing.

Creation order matters: a streaming or waiting client is subscribed to the run's events
*before* the run is inserted, and the queue is woken right after, so the run starts at once
and no event can be missed.
"""

from __future__ import annotations

import fnmatch
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import langgraph.version

from distaff.auth import OPEN, Gate, matches, owned
from distaff.backends.base import Backend
from distaff.engine.broker import Broker, Subscription
from distaff.engine.control import RunControl
from distaff.engine.peers import Peers
from distaff.engine.run_config import run_context
from distaff.engine.webhooks import Webhooks
from distaff.errors import BadRequest, InvalidInput, NotFound
from distaff.graphs import GraphRegistry
from distaff.ids import canonical_uuid, is_uuid, isoformat, utcnow, uuid7
from distaff.models import (
    ACTIVE_RUN_STATUSES,
    Assistant,
    CancelAction,
    Json,
    MultitaskStrategy,
    Page,
    Run,
    RunOutcome,
    RunStatus,
    Thread,
    ThreadQuery,
)
from distaff.observability import tracing
from distaff.run_spec import RunSpec
from distaff.services.assistants import AssistantService
from distaff.services.threads import visible_thread
from distaff.settings import ConfigurableHeaders, Settings

CONTEXT_AND_CONFIGURABLE = (
    "Cannot specify both configurable and context. Prefer setting context alone. Context was"
    " introduced in LangGraph 0.6.0 and is the long term planned replacement for configurable."
)
NO_RUNS_TO_CANCEL = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, and the"
    " runs haven't been deleted or completed."
)

Delivery = Literal["background", "stream", "wait"]

#: Request headers runs copy into `config.configurable` unless `http.configurable_headers`
#: says otherwise (as the reference does), and those never copied, whatever it says.
DEFAULT_HEADERS = ("langsmith-trace", "baggage")
NEVER_COPIED = frozenset({"authorization", "x-api-key", "x-service-key", "x-tenant-id", "cookie"})


def header_filter(chosen: ConfigurableHeaders | None) -> Callable[[str], bool]:
    """Whether a (lower-case) header name is copied: its glob patterns compiled once, not
    matched one by one for every run."""
    includes = chosen.includes if chosen is not None else list(DEFAULT_HEADERS)
    excludes = chosen.excludes if chosen is not None else []

    def either(patterns: list[str]) -> re.Pattern[str] | None:
        translated = [fnmatch.translate(p.lower()) for p in patterns]
        return re.compile("|".join(translated)) if translated else None

    include, exclude = either(includes), either(excludes)

    def copied(name: str) -> bool:
        if include is None or not include.match(name):
            return False
        return exclude is None or not exclude.match(name)

    return copied


@dataclass(slots=True)
class CreatedRun:
    run: Run
    #: Present for `stream` and `wait`: subscribed before the run was enqueued.
    subscription: Subscription | None


def merge_config(*configs: Json) -> Json:
    """Later configs win; `configurable` and `metadata` merge key by key, tags accumulate."""
    merged: Json = {}
    for config in configs:
        for key, value in (config or {}).items():
            if key in ("configurable", "metadata") and isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            elif key == "tags" and isinstance(value, list):
                merged[key] = [
                    *merged.get(key, []),
                    *[t for t in value if t not in merged.get(key, [])],
                ]
            else:
                merged[key] = value
    return merged


def interrupts_list(interrupts: Json | None) -> list[Any]:
    return [i for items in (interrupts or {}).values() for i in items]


def thread_wait_body(thread: Thread) -> Any:
    """What `/join` returns for a run that already ended: the thread's stored outcome."""
    if thread.get("status") == "error" and thread.get("error"):
        return {"__error__": thread["error"]}
    values = thread.get("values") or {}
    pending = interrupts_list(thread.get("interrupts"))
    if pending and isinstance(values, dict):
        return {**values, "__interrupt__": pending}
    return values


class RunService:
    def __init__(
        self,
        backend: Backend,
        graphs: GraphRegistry,
        assistants: AssistantService,
        broker: Broker,
        control: RunControl,
        webhooks: Webhooks,
        settings: Settings,
        peers: Peers,
        gate: Gate = OPEN,
    ) -> None:
        self._gate = gate
        self._peers = peers
        self._backend = backend
        self._runs = backend.runs
        self._graphs = graphs
        self._assistants = assistants
        self._broker = broker
        self._control = control
        self._webhooks = webhooks
        self._settings = settings
        self._copied_header = header_filter(settings.http.configurable_headers)

    async def create(
        self,
        thread_id: str | None,
        body: Json,
        delivery: Delivery,
        *,
        request_id: str | None = None,
        server_configurable: Json | None = None,
        headers: Json | None = None,
        thread_metadata: Json | None = None,
        v2: bool = False,
    ) -> CreatedRun:
        """`headers`: the request headers a run copies into `config.configurable`;
        `thread_metadata`: more metadata for the thread the run creates, if it creates one (a
        cron's, so that `threads.search(metadata=...)` finds the threads it made); `v2`: a run
        of the v2 stream (every channel, subgraphs; replayed from the thread's event log, so
        its v1 events are not kept as well)."""
        command = body.get("command")
        if thread_id is None and command and command.get("resume") is not None:
            raise BadRequest("You must provide a thread_id when resuming.")
        request_config = body.get("config") or {}
        if request_config.get("configurable") and body.get("context"):
            raise BadRequest(CONTEXT_AND_CONFIGURABLE)
        assistant = await self._assistants.resolve(body["assistant_id"], authorized=True)
        if command and command.get("goto"):
            self._check_goto(assistant["graph_id"], command["goto"])
        if body.get("webhook"):
            await self._webhooks.check(body["webhook"])
        stateless = thread_id is None
        if thread_id is not None:
            if not is_uuid(thread_id):
                raise NotFound("Thread or assistant not found.")
            thread_id = canonical_uuid(thread_id)
        run_id = uuid7()
        flt, run_metadata = await self._authorize_create(thread_id, run_id, assistant, body)
        if thread_id is None:
            thread_id = uuid7()
        graph_id = assistant["graph_id"]
        now = utcnow()
        after = float(body.get("after_seconds") or 0)
        created_at = isoformat(now + timedelta(seconds=after))
        metadata: Json = {
            **assistant["metadata"],
            **run_metadata,
            "graph_id": graph_id,
            "assistant_id": assistant["assistant_id"],
        }
        config = merge_config(assistant["config"], request_config)
        # The context from the caller's configuration, before the server's own keys join it
        # (`user_id: ""`, the ids): they are distaff's, not values for the graph's context.
        schema = await self._graphs.context_schema(graph_id, self._gate.user())
        context = run_context(
            schema,
            {**assistant["context"], **(body.get("context") or {})},
            config.get("configurable") or {},
        )
        config["configurable"] = {
            **self._copied_headers(headers),
            **(config.get("configurable") or {}),
            "langgraph_auth_user": None,
            "langgraph_auth_user_id": "",
            "langgraph_auth_permissions": [],
            "langgraph_request_id": request_id or str(uuid.uuid4()),
            "__request_start_time_ms__": int(time.time() * 1000),
            "__after_seconds__": after,
            "run_id": run_id,
            "thread_id": thread_id,
            "graph_id": graph_id,
            "assistant_id": assistant["assistant_id"],
            "user_id": "",
            **self._gate.run_configurable(),
            **(server_configurable or {}),
        }
        if traceparent := tracing.traceparent_of(request_id):
            config["configurable"][tracing.TRACEPARENT_KEY] = traceparent
        config["metadata"] = {
            **(config.get("metadata") or {}),
            **metadata,
            "langgraph_version": langgraph.version.__version__,
            "langgraph_host": "self-hosted",
            "langgraph_api_url": self._settings.public_url,
            "run_id": run_id,
            "thread_id": thread_id,
            "user_id": config["configurable"]["user_id"],
        }
        spec = RunSpec.from_body(body, config=config, context=context, temporary=stateless, v2=v2)
        strategy: MultitaskStrategy = (
            "enqueue" if stateless else (body.get("multitask_strategy") or "enqueue")
        )
        run: Run = {
            "run_id": run_id,
            "thread_id": thread_id,
            "assistant_id": assistant["assistant_id"],
            "metadata": metadata,
            "status": "pending",
            "kwargs": spec.to_stored(),
            "multitask_strategy": strategy,
            "created_at": created_at,
            "updated_at": created_at,
            "langsmith_session_name": None,
        }
        create_thread: Thread | None = None
        if stateless or body.get("if_not_exists") == "create":
            iso_now = isoformat(now)
            create_thread = {
                "thread_id": thread_id,
                "created_at": iso_now,
                "updated_at": iso_now,
                "state_updated_at": iso_now,
                "metadata": {
                    "graph_id": graph_id,
                    "assistant_id": assistant["assistant_id"],
                    **(thread_metadata or {}),
                    **owned(flt),
                },
                "status": "idle",
                "config": {},
                "values": None,
            }
        subscription = (
            self._broker.subscribe(run_id, events=delivery == "stream")
            if delivery != "background"
            else None
        )
        try:
            inflight = await self._runs.insert(
                run,
                create_thread=create_thread,
                reject_if_busy=strategy == "reject",
                read_here=subscription is not None,
            )
        except BaseException:
            if subscription is not None:
                subscription.close()
            raise
        if inflight and strategy in ("interrupt", "rollback"):
            await self._control.cancel(
                "interrupt" if strategy == "interrupt" else "rollback", run_ids=inflight
            )
        self._control.wake()
        return CreatedRun(run, subscription)

    def _check_goto(self, graph_id: str, goto: Any) -> None:
        """`command.goto` names nodes of the graph (langgraph would silently go nowhere)."""
        nodes = self._graphs.node_names(graph_id)
        if nodes is None:
            return
        items = goto if isinstance(goto, list) else [goto]
        names = [item["node"] if isinstance(item, dict) else item for item in items]
        if unknown := [n for n in names if n not in nodes and n != "__end__"]:
            known = ", ".join(sorted(n for n in nodes if not n.startswith("__")))
            raise InvalidInput(
                f"command.goto names no node of graph {graph_id!r}: {', '.join(unknown)}"
                f" (its nodes: {known})"
            )

    # -- who may do what ---------------------------------------------------------------------

    async def _authorize_create(
        self, thread_id: str | None, run_id: str, assistant: Assistant, body: Json
    ) -> tuple[Json | None, Json]:
        """Ask `threads.create_run`; returns its filter and the run's metadata (which the
        handler may have stamped). A thread the filter hides is answered as missing."""
        if not self._gate.enabled:
            return None, body.get("metadata") or {}
        strategy = body.get("multitask_strategy") or "enqueue"
        value: Json = {
            "thread_id": thread_id,
            "assistant_id": assistant["assistant_id"],
            "run_id": run_id,
            "status": "pending",
            "metadata": dict(body.get("metadata") or {}),
            "prevent_insert_if_inflight": strategy == "reject",
            "multitask_strategy": strategy,
            "if_not_exists": body.get("if_not_exists") or "reject",
            "after_seconds": body.get("after_seconds") or 0,
            "kwargs": {k: v for k, v in body.items() if k not in ("metadata", "assistant_id")},
        }
        flt = await self._gate.authorize("threads", "create_run", value)
        if flt is not None and thread_id is not None:
            thread = await self._backend.threads.get(thread_id)
            if thread is not None and not matches(thread["metadata"], flt):
                raise NotFound("Thread or assistant not found.")
        return flt, value.get("metadata") or {}

    def _copied_headers(self, headers: Json | None) -> Json:
        """The request headers `http.configurable_headers` selects (by default the tracing
        ones); credentials never."""
        if not headers:
            return {}
        copied = self._copied_header
        return {
            name: value
            for name, value in ((k.lower(), v) for k, v in headers.items())
            if name not in NEVER_COPIED and copied(name)
        }

    async def _guard(self, thread_id: str, action: str, value: Json) -> None:
        """Refuse (403, or 404 for a thread the filter hides) unless the current principal
        may do `action` on the thread; free when auth is off."""
        if self._gate.enabled:
            await visible_thread(self._backend.threads, self._gate, thread_id, action, value)

    # -- reading, deleting -------------------------------------------------------------------

    async def get(self, thread_id: str | None, run_id: str) -> Run:
        """A run; `thread_id` None finds it by id alone (the `/runs/{run_id}` routes)."""
        return await self._visible_run(thread_id, run_id, "read")

    async def _visible_run(
        self, thread_id: str | None, run_id: str, action: str, value: Json | None = None
    ) -> Run:
        tid = None if thread_id is None else _uuid_or_404(thread_id)
        rid = _uuid_or_404(run_id)
        asked = {"run_id": rid, **(value or {})}
        if tid is not None:
            await self._guard(tid, action, asked)
        run = await self._runs.get(rid, tid)
        if run is None:
            raise NotFound()
        if tid is None:
            await self._guard(run["thread_id"], action, asked)
        return run

    async def list_for_thread(
        self, thread_id: str, page: Page, status: RunStatus | None
    ) -> list[Run]:
        thread = await visible_thread(self._backend.threads, self._gate, thread_id, "read")
        return await self._runs.list_for_thread(thread["thread_id"], page, status)

    async def delete(self, thread_id: str, run_id: str) -> None:
        tid, rid = _uuid_or_404(thread_id), _uuid_or_404(run_id)
        await self._guard(tid, "delete", {"run_id": rid})
        if not await self._runs.delete(rid, tid):
            raise NotFound()
        await self._backend.checkpoints.delete_for_run(tid, rid)

    async def subscribe(
        self,
        thread_id: str | None,
        run_id: str,
        last_event_id: str | None = None,
        *,
        events: bool = True,
    ) -> tuple[Subscription, Run]:
        """Subscribe to a run's events (replaying stored ones after `last_event_id`) and end.

        The subscription is taken before the status is read, so a run ending in between is
        seen through the broker; a run that had already ended ends the subscription at once.
        """
        run = await self.get(thread_id, run_id)
        active = run["status"] in ACTIVE_RUN_STATUSES
        if active or run["kwargs"].get("resumable"):
            # The run may execute (or have executed) in another process: mirror it here.
            await self._peers.follow(run["run_id"], run["thread_id"], events=events and active)
        subscription = self._broker.subscribe(run["run_id"], after=last_event_id, events=events)
        current = await self._runs.get(run["run_id"])
        if current is None or current["status"] not in ACTIVE_RUN_STATUSES:
            if self._broker.outcome(run["run_id"]) is None:
                subscription.end()
        return subscription, current or run

    async def outcome_body(self, thread_id: str, outcome: RunOutcome | None) -> Any:
        """The `/wait` or `/join` body: the run's own outcome, else the thread's stored one."""
        if outcome is not None and (outcome.values is not None or outcome.error is not None):
            return outcome.wait_body()
        thread = await self._backend.threads.get(thread_id)
        return thread_wait_body(thread) if thread is not None else {}

    async def subscribe_thread(self, thread_id: str, last_event_id: str | None) -> Subscription:
        thread = await visible_thread(self._backend.threads, self._gate, thread_id, "read")
        tid = thread["thread_id"]
        await self._peers.follow_thread(tid, replay=last_event_id is not None)
        return self._broker.subscribe_thread(tid, after=last_event_id)

    async def unsubscribe_thread(self, thread_id: str) -> None:
        await self._peers.unfollow_thread(canonical_uuid(thread_id))

    async def is_active(self, run_id: str) -> bool:
        run = await self._runs.get(run_id)
        return run is not None and run["status"] in ACTIVE_RUN_STATUSES

    async def cancel_one(self, thread_id: str, run_id: str, action: str) -> Run:
        run = await self._visible_run(thread_id, run_id, "update", {"action": action})
        targets = await self._control.cancel(
            "rollback" if action == "rollback" else "interrupt", run_ids=[run["run_id"]]
        )
        if not targets:
            raise NotFound(NO_RUNS_TO_CANCEL)
        return run

    async def cancel_many(
        self, *, thread_id: str | None, run_ids: list[str] | None, status: str | None, action: str
    ) -> None:
        cancel_action: CancelAction = "rollback" if action == "rollback" else "interrupt"
        tid = _uuid_or_404(thread_id) if thread_id else None
        rids = [_uuid_or_404(r) for r in run_ids] if run_ids is not None else None
        wanted = None if status == "all" else status
        value: Json = {"thread_id": tid, "action": cancel_action}
        flt = await self._gate.authorize("threads", "update", value)
        if flt is None:
            targets = await self._control.cancel(
                cancel_action, run_ids=rids, thread_id=tid, status=wanted
            )
        else:
            targets = []
            for visible_tid, visible_rids in await self._visible_targets(flt, tid, rids):
                targets += await self._control.cancel(
                    cancel_action, run_ids=visible_rids, thread_id=visible_tid, status=wanted
                )
        if not targets:
            raise NotFound("No runs found to cancel.")

    async def _visible_targets(
        self, flt: Json, thread_id: str | None, run_ids: list[str] | None
    ) -> list[tuple[str, list[str] | None]]:
        """What a bulk cancel under a filter may touch: `(thread_id, run_ids)` pairs on threads
        the filter lets through."""
        threads = self._backend.threads
        if run_ids is not None:
            by_thread: dict[str, list[str]] = {}
            for rid in run_ids:
                run = await self._runs.get(rid, thread_id)
                if run is not None:
                    by_thread.setdefault(run["thread_id"], []).append(rid)
            candidates: list[tuple[str, list[str] | None]] = list(by_thread.items())
        elif thread_id is not None:
            candidates = [(thread_id, None)]
        else:
            # Active runs live on busy threads: page through the caller's.
            busy: list[tuple[str, list[str] | None]] = []
            query = ThreadQuery(status="busy", auth=flt)
            while page := await threads.search(query, Page(500, len(busy))):
                busy += [(t["thread_id"], None) for t in page]
            return busy
        visible: list[tuple[str, list[str] | None]] = []
        for tid, rids in candidates:
            thread = await threads.get(tid)
            if thread is not None and matches(thread["metadata"], flt):
                visible.append((tid, rids))
        return visible


def _uuid_or_404(value: str) -> str:
    if not is_uuid(value):
        raise NotFound()
    return canonical_uuid(value)
