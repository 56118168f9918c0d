"""The v2 protocol's commands (`POST /threads/{id}/commands` and the WebSocket).

A command is `{"id": int, "method": str, "params": {...}}`; its answer is a `success` with a
`result`, or an `error` with one of the protocol's codes. Runs are ordinary runs (`RunCreator`):
the same queue, multitask strategies, auth and webhooks as v1.

Beyond the reference, which knows six methods: `run.cancel` (what the spec names, for what
clients otherwise do through v1), `state.get` and `state.listCheckpoints` (the thread's v1
state and history, answered here so a client needs one channel).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from distaff.auth import Gate
from distaff.backends.base import Backend
from distaff.engine.protocol.hub import EventHub
from distaff.errors import DistaffError, NotFound, Unavailable
from distaff.ids import canonical_uuid, is_uuid
from distaff.models import Json, Thread
from distaff.serde import loads
from distaff.services.run_creation import RunCreator
from distaff.services.runs import RunService
from distaff.services.threads import ThreadService, visible_thread

MULTITASK = frozenset({"reject", "interrupt", "rollback", "enqueue"})
TRACER_KEYS = frozenset({"project_name", "example_id"})
#: How far back `input.respond` looks in the thread's log for where an interrupt was asked.
_INTERRUPT_LOOKBACK = 500


class CommandError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def error_reply(command_id: Any, code: str, message: str, **extra: Any) -> Json:
    return {"type": "error", "id": command_id, "error": code, "message": message, **extra}


def success_reply(command_id: Any, result: Json, applied_through_seq: int) -> Json:
    return {
        "type": "success",
        "id": command_id,
        "result": result,
        "meta": {"applied_through_seq": applied_through_seq},
    }


@contextlib.contextmanager
def _read_errors() -> Iterator[None]:
    """A v1 read's refusals as protocol errors; a database outage stays a 503."""
    try:
        yield
    except Unavailable:
        raise
    except NotFound as exc:
        raise CommandError("no_such_run", str(exc)) from exc
    except DistaffError as exc:
        raise CommandError("invalid_argument", str(exc)) from exc


def _namespace(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise CommandError("invalid_argument", f"{what} namespace must be a list of strings.")
    return value


class ProtocolService:
    def __init__(
        self,
        backend: Backend,
        run_creator: RunCreator,
        runs: RunService,
        threads: ThreadService,
        events: EventHub,
        gate: Gate,
    ) -> None:
        self._backend = backend
        self._run_creator = run_creator
        self._runs = runs
        self._threads = threads
        self._events = events
        self._gate = gate
        self._methods: dict[str, Callable[[str, Json, Json], Any]] = {
            "run.start": self._run_start,
            "input.respond": self._input_respond,
            "agent.getTree": self._get_tree,
            "run.cancel": self._run_cancel,
            "state.get": self._state_get,
            "state.listCheckpoints": self._list_checkpoints,
        }

    async def last_seq(self, thread_id: str) -> int:
        """How far the thread's stream has gone (a reply's `applied_through_seq`)."""
        if not is_uuid(thread_id):
            return 0
        tid = canonical_uuid(thread_id)
        known = self._events.known_seq(tid)
        return known if known is not None else await self._backend.events.last_seq(tid)

    async def call(
        self, thread_id: str, method: str, params: Json, request: Json
    ) -> tuple[Json, int]:
        """Run one command: its result and how far the thread's stream had gone before it;
        raises `CommandError`. `request`: the request id and headers a run carries, as v1
        runs do."""
        handler = self._methods.get(method)
        if handler is None:
            raise CommandError("unknown_command", f"Unknown command method: {method}")
        if method == "run.start":
            return await self._run_start(thread_id, params, request)
        applied = await self.last_seq(thread_id)
        result: Json = await handler(thread_id, params, request)
        return result, applied

    async def visible(self, thread_id: str) -> Thread | None:
        """The thread if it exists and the caller may read it; None if it does not exist yet
        (a stream may wait for it); NotFound if it is hidden from the caller."""
        tid = canonical_uuid(thread_id)
        thread = await self._backend.threads.get(tid)
        if thread is None or not self._gate.enabled:
            return thread  # without auth, the row read is the answer: no second read
        return await visible_thread(self._backend.threads, self._gate, tid, "read")

    # -- runs ---------------------------------------------------------------------------------

    async def _create(self, thread_id: str, body: Json, request: Json) -> str:
        try:
            created = await self._run_creator.create(
                thread_id,
                body,
                "background",
                request_id=request.get("request_id"),
                headers=request.get("headers"),
                v2=True,
            )
        except Unavailable:
            raise  # the database, not the command: a 503, as on v1, for the client to retry
        except DistaffError as exc:
            # The v1 refusal; its reply says it as "<status>: <detail>" (`api/protocol.py`).
            raise CommandError("unknown_error", str(exc)) from exc
        return str(created.run["run_id"])

    async def _run_start(self, thread_id: str, params: Json, request: Json) -> tuple[Json, int]:
        assistant_id = params.get("assistant_id")
        if not isinstance(assistant_id, str) or not assistant_id:
            raise CommandError("invalid_argument", "run.start requires a non-empty assistant_id.")
        if not is_uuid(thread_id):
            raise CommandError("unknown_error", "422: Invalid thread ID")
        config = params.get("config")
        config = dict(config) if isinstance(config, dict) else {}
        configurable = config.get("configurable")
        configurable = dict(configurable) if isinstance(configurable, dict) else {}
        body: Json = {"assistant_id": assistant_id, "if_not_exists": "create"}
        if "checkpoint_id" in configurable:
            checkpoint_id = configurable["checkpoint_id"]
            if not isinstance(checkpoint_id, str) or not is_uuid(checkpoint_id):
                raise CommandError(
                    "invalid_argument",
                    f"Invalid config.configurable.checkpoint_id: {checkpoint_id!r}.",
                )
            body["checkpoint"] = {"checkpoint_id": checkpoint_id}
        tracer = params.get("langsmith_tracer")
        if tracer is not None and (
            not isinstance(tracer, dict)
            or set(tracer) - TRACER_KEYS
            or not all(isinstance(v, str) for v in tracer.values())
        ):
            raise CommandError(
                "invalid_argument",
                "langsmith_tracer must be an object with string project_name and example_id.",
            )
        # `context` is accepted too (the reference drops it); with `configurable` given it
        # joins it, where the run's context is built from the keys the schema declares.
        context = params.get("context")
        if isinstance(context, dict) and context:
            if configurable:
                configurable = {**configurable, **context}
            else:
                body["context"] = context
        config["configurable"] = configurable
        body["config"] = config
        if isinstance(params.get("metadata"), dict):
            body["metadata"] = params["metadata"]
        strategy = params.get("multitaskStrategy", params.get("multitask_strategy"))
        body["multitask_strategy"] = strategy if strategy in MULTITASK else "enqueue"
        value = params.get("input")
        thread = await self._backend.threads.get(canonical_uuid(thread_id))
        if thread is None:
            self._events.fresh(canonical_uuid(thread_id))  # this run creates it
            applied = 0
        else:
            applied = await self.last_seq(thread_id)  # before the run can add to it
        if value is not None and await self._interrupted(thread):
            # The spec's rule: input for an interrupted thread answers its interrupt.
            body["command"] = {"resume": value}
        else:
            body["input"] = value
        return {"run_id": await self._create(thread_id, body, request)}, applied

    async def _interrupted(self, thread: Thread | None) -> bool:
        if thread is None or (thread["status"] == "idle" and not thread.get("interrupts")):
            return False  # nothing asked, nor a run ending that may be asking
        return bool(await self._pending(thread))

    async def _pending(self, thread: Thread) -> dict[str, list[str] | None]:
        """The interrupts waiting for an answer, with where they were asked (None: not
        known). The thread row has them once the interrupted run's end is recorded; the
        thread's log has them as soon as the stream showed them, earlier: a client answering
        at once must not be told they do not exist. (Its answer is a run queued behind the
        one still ending, as the reference's 5-second settle wait does, without the wait.)"""
        pending: dict[str, list[str] | None] = {
            str(item.get("id")): None
            for items in (thread.get("interrupts") or {}).values()
            for item in items
            if isinstance(item, dict)
        }
        thread_id = thread["thread_id"]
        last = await self._backend.events.last_seq(thread_id)
        rows = await self._backend.events.read(
            thread_id, max(0, last - _INTERRUPT_LOOKBACK), _INTERRUPT_LOOKBACK
        )
        # What the run executing here showed and has not written yet.
        seen = rows[-1].seq if rows else last
        rows += [e for e in self._events.unwritten(thread_id) if e.seq > seen]
        latest = rows[-1].run_id if rows else None
        asked: dict[str, list[str]] = {}
        # An interrupt ends its run: until the run's end shows, its requests stand.
        ending = "interrupted"
        for row in rows:
            if row.run_id != latest or row.method not in ("input.requested", "lifecycle"):
                continue
            params = loads(row.line)["params"]
            if row.method == "input.requested":
                asked[str(params["data"].get("interrupt_id"))] = list(params["namespace"])
            elif not row.namespace and params["data"].get("event") != "running":
                ending = params["data"].get("event")
        for interrupt_id, namespace in asked.items():
            if interrupt_id in pending or ending == "interrupted":
                pending[interrupt_id] = namespace
        return pending

    async def _input_respond(self, thread_id: str, params: Json, request: Json) -> Json:
        if "responses" in params:
            entries = params["responses"]
            if not isinstance(entries, list) or not entries:
                raise CommandError(
                    "invalid_argument", "input.respond responses must be a non-empty list."
                )
        else:
            entries = [params]
        answers: list[tuple[str, list[str], Any]] = []
        for entry in entries:
            interrupt_id = entry.get("interrupt_id") if isinstance(entry, dict) else None
            if not isinstance(interrupt_id, str) or not interrupt_id:
                raise CommandError("invalid_argument", "input.respond requires an interrupt_id.")
            namespace = _namespace(entry.get("namespace"), "input.respond")
            answers.append((interrupt_id, namespace, entry.get("response")))
        if not is_uuid(thread_id):
            raise CommandError("no_such_run", "No interrupted run is bound to this thread.")
        try:
            thread = await self.visible(thread_id)
        except NotFound:
            thread = None
        assistant_id = (thread or {}).get("metadata", {}).get("assistant_id")
        if thread is None or not assistant_id:
            raise CommandError("no_such_run", "No interrupted run is bound to this thread.")
        pending = await self._pending(thread)
        for interrupt_id, namespace, _ in answers:
            if interrupt_id not in pending:
                raise CommandError(
                    "no_such_interrupt", f"Unknown or already-consumed interrupt: {interrupt_id}"
                )
            asked = pending[interrupt_id]
            if asked is not None and asked != namespace:
                raise CommandError(
                    "no_such_interrupt", "Interrupt namespace does not match the pending interrupt."
                )
        command: Json = {"resume": {i: response for i, _, response in answers}}
        if params.get("update") is not None:
            command["update"] = params["update"]
        if params.get("goto") is not None:
            command["goto"] = params["goto"]
        body: Json = {
            "assistant_id": assistant_id,
            "command": command,
            "multitask_strategy": "enqueue",
        }
        if isinstance(params.get("config"), dict):
            body["config"] = params["config"]
        if isinstance(params.get("metadata"), dict):
            body["metadata"] = params["metadata"]
        await self._create(thread["thread_id"], body, request)
        return {}

    async def _run_cancel(self, thread_id: str, params: Json, request: Json) -> Json:
        """Cancel the thread's active runs (or the one `run_id` names)."""
        if not is_uuid(thread_id):
            raise CommandError("no_such_run", "No active run is bound to this thread.")
        action = "rollback" if params.get("action") == "rollback" else "interrupt"
        run_id = params.get("run_id")
        try:
            if isinstance(run_id, str) and run_id:
                await self._runs.cancel_one(thread_id, run_id, action)
            else:
                await self._runs.cancel_many(
                    thread_id=thread_id, run_ids=None, status=None, action=action
                )
        except NotFound as exc:
            raise CommandError("no_such_run", str(exc)) from exc
        return {}

    # -- reading ------------------------------------------------------------------------------

    async def _get_tree(self, thread_id: str, params: Json, request: Json) -> Json:
        """The namespaces of the thread's latest run, from its lifecycle events."""
        if not is_uuid(thread_id) or await self._readable(thread_id) is None:
            raise CommandError("no_such_run", "No active run is bound to this thread.")
        tid = canonical_uuid(thread_id)
        last = await self._backend.events.last_seq(tid)
        rows = await self._backend.events.read(tid, max(0, last - 5000), 5000)
        if not rows:
            raise CommandError("no_such_run", "No active run is bound to this thread.")
        latest = rows[-1].run_id
        nodes: dict[tuple[str, ...], Json] = {}
        for row in rows:
            if row.run_id != latest or row.method != "lifecycle":
                continue
            data = loads(row.line)["params"]["data"]
            node = nodes.setdefault(
                row.namespace,
                {"namespace": list(row.namespace), "status": "started", "graph_name": ""},
            )
            node["status"] = (
                data.get("event") if row.namespace or data.get("event") != "running" else "running"
            )
            node["graph_name"] = data.get("graph_name") or node["graph_name"]
        for ns in sorted(nodes, key=lambda n: (len(n), n), reverse=True):
            if not ns:
                continue
            parent = nodes.setdefault(
                ns[:-1], {"namespace": list(ns[:-1]), "status": "started", "graph_name": ""}
            )
            parent.setdefault("children", []).insert(0, nodes[ns])
        for node in nodes.values():
            if "children" in node:
                node["children"].sort(key=lambda c: c["namespace"])
        root = nodes.get((), {"namespace": [], "status": "started", "graph_name": ""})
        return {"tree": root}

    async def _readable(self, thread_id: str) -> Thread | None:
        try:
            return await self.visible(thread_id)
        except NotFound:
            return None

    async def _state_get(self, thread_id: str, params: Json, request: Json) -> Json:
        with _read_errors():
            state: Json = await self._threads.state(
                thread_id, subgraphs=bool(params.get("subgraphs"))
            )
        return state

    async def _list_checkpoints(self, thread_id: str, params: Json, request: Json) -> Json:
        limit = params.get("limit")
        before = params.get("before")
        with _read_errors():
            history = await self._threads.history(
                thread_id,
                limit=limit if isinstance(limit, int) and limit > 0 else 10,
                before={"configurable": {"checkpoint_id": before}}
                if isinstance(before, str)
                else None,
            )
        return {"checkpoints": history}
