"""Creating runs, with every multitask strategy (the runs that exist are `runs.py`'s).

Creation order matters: a streaming or waiting client is subscribed to the run's events
*before* the run is inserted, so no event can be missed. A run due now, with a slot free in
this process's worker, goes in already claimed and starts here at once (`Worker.insert_taken`);
any other is inserted pending and the queue woken right after, so it starts as soon as a worker
can take it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import langgraph.version

from distaff.auth import OPEN, Gate, matches, owned
from distaff.backends.base import Backend, require
from distaff.engine.broker import Broker, Subscription
from distaff.engine.control import RunControl
from distaff.engine.run_config import run_context
from distaff.engine.webhooks import Webhooks
from distaff.errors import BadRequest, InvalidInput, NotFound, StaleAssistant
from distaff.graphs import GraphRegistry
from distaff.ids import canonical_uuid, is_uuid, isoformat, utcnow, uuid7
from distaff.models import Assistant, Json, MultitaskStrategy, Run, Thread
from distaff.observability import tracing
from distaff.run_spec import RunSpec
from distaff.services.assistants import AssistantService
from distaff.settings import ConfigurableHeaders, Settings

CONTEXT_AND_CONFIGURABLE = (
    "Cannot specify both configurable and context. Prefer setting context alone. Context was"
    " introduced in LangGraph 0.6.0 and is the long term planned replacement for configurable."
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


class RunCreator:
    def __init__(
        self,
        backend: Backend,
        graphs: GraphRegistry,
        assistants: AssistantService,
        broker: Broker,
        control: RunControl,
        webhooks: Webhooks,
        settings: Settings,
        gate: Gate = OPEN,
    ) -> None:
        self._gate = gate
        self._backend = backend
        self._runs = backend.runs
        self._graphs = graphs
        self._assistants = assistants
        self._broker = broker
        self._control = control
        self._webhooks = webhooks
        self._settings = settings
        self._copied_header = header_filter(settings.http.configurable_headers)
        #: The runs repository takes runs at insert and checks cached assistants there
        #: (`RunRepo.takes_at_insert`; a plug-in written before it does neither).
        self._takes = bool(getattr(self._runs, "takes_at_insert", False))

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
        make = functools.partial(
            self._create,
            thread_id,
            body,
            delivery,
            request_id=request_id,
            server_configurable=server_configurable,
            headers=headers,
            thread_metadata=thread_metadata,
            v2=v2,
        )
        try:
            return await make(cached=self._takes)
        except StaleAssistant as stale:
            # The assistant changed since it was cached: made again from what is stored now
            # (so the `threads.create_run` handler and the webhook check run again too).
            self._assistants.forget(str(stale))
            return await make(cached=False)

    async def _create(
        self,
        thread_id: str | None,
        body: Json,
        delivery: Delivery,
        *,
        request_id: str | None,
        server_configurable: Json | None,
        headers: Json | None,
        thread_metadata: Json | None,
        v2: bool,
        cached: bool,
    ) -> CreatedRun:
        command = body.get("command")
        if thread_id is None and command and command.get("resume") is not None:
            raise BadRequest("You must provide a thread_id when resuming.")
        request_config = body.get("config") or {}
        if request_config.get("configurable") and body.get("context"):
            raise BadRequest(CONTEXT_AND_CONFIGURABLE)
        assistant = await self._assistants.resolve(
            body["assistant_id"], authorized=True, cached=cached
        )
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
            "usage": None,
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
        if strategy == "rollback":  # before anything is stored
            require(self._backend.checkpoints, "delete_for_run")
        # A run due now, with a slot free here, is taken as it goes in (see `Worker.reserve`).
        take = self._takes and after <= 0 and self._control.reserve()

        # A repository without `takes_at_insert` knows neither keyword.
        as_of = (assistant["version"], assistant["updated_at"]) if cached else None
        extra: dict[str, Any] = {"take": take, "assistant_as_of": as_of} if self._takes else {}

        def insert() -> Awaitable[list[str]]:
            return self._runs.insert(
                run,
                create_thread=create_thread,
                reject_if_busy=strategy == "reject",
                read_here=subscription is not None,
                **extra,
            )

        try:
            inflight = await (self._control.insert_taken(run, insert) if take else insert())
        except BaseException:
            if subscription is not None:
                subscription.close()
            raise
        if inflight and strategy in ("interrupt", "rollback"):
            await self._control.cancel(
                "interrupt" if strategy == "interrupt" else "rollback", run_ids=inflight
            )
        if not take or inflight:
            self._control.wake()  # (a run taken at insert is executing here already)
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
