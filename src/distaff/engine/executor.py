"""Executes one claimed run: builds the config (run_config.py), streams the graph (graph_stream.py),
publishes events, and records how the run ended on the run and its thread in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from langgraph.errors import GraphBubbleUp, GraphDrained, GraphRecursionError, InvalidUpdateError
from langgraph.runtime import RunControl as GraphControl
from langgraph.types import StateSnapshot

from distaff.backends.base import Backend, LoggedEnvelope
from distaff.engine.broker import Broker
from distaff.engine.graph_stream import stream_graph
from distaff.engine.healing import close_dangling_tool_calls
from distaff.engine.peers import Peers
from distaff.engine.protocol.hub import EventHub, Tape
from distaff.engine.protocol.projection import Terminal
from distaff.engine.run_config import coerce_context, resume_point, run_config, run_context
from distaff.engine.usage import UsageRecorder, UsageTally
from distaff.engine.webhooks import Webhooks
from distaff.errors import LeaseLost, Unavailable
from distaff.graphs import CompiledGraph, GraphRegistry
from distaff.ids import now_iso
from distaff.models import (
    CancelAction,
    Json,
    Run,
    RunOutcome,
    RunStatus,
    ThreadStatus,
)
from distaff.run_spec import RunSpec
from distaff.settings import Settings
from distaff.state import ThreadSnapshot, snapshot_from, snapshot_of

log = logging.getLogger("distaff.run")
T = TypeVar("T")

#: Exception types whose message reaches clients; others say "An internal error occurred", so a
#: secret in an exception text does not leak (the reference server's rule).
_MESSAGE_ALLOWED = (
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    RuntimeError,
    RecursionError,
    TimeoutError,
    InvalidUpdateError,
    GraphBubbleUp,
    GraphRecursionError,
)
_MESSAGE_ALLOWED_NAMES = {"EmptyInputError", "TaskNotFound", "HTTPException", "UserInterrupt"}


def error_payload(exc: BaseException) -> Json:
    name = type(exc).__name__
    allowed = isinstance(exc, _MESSAGE_ALLOWED) or name in _MESSAGE_ALLOWED_NAMES
    return {"error": name, "message": str(exc) if allowed else "An internal error occurred"}


@dataclass(slots=True)
class RunHandle:
    """A run this process is executing; the worker cancels it through here."""

    run: Run
    attempt: int
    task: asyncio.Task[None] | None = None
    #: Set when a client cancelled the run; None means a shutdown interrupted it.
    action: CancelAction | None = None
    #: True only while the graph streams. A cancel interrupts the task then, and only then:
    #: before, the executor sees `action` when it starts streaming; after, the graph is done and
    #: interrupting the recording of its outcome would leave the run `running`.
    streaming: bool = False
    #: Its creator streams or waits for it in another process: send its events there.
    exported: bool = False
    #: How the run ended here, once recorded (`rollback` when cancelled so): for its log line
    #: and span.
    status: RunStatus | Literal["rollback"] | None = None
    #: Its v2 stream shows its end (or never showed it at all).
    stream_ended: bool = False
    #: langgraph's drain signal for the graph: set, it stops before its next step.
    control: GraphControl = field(default_factory=GraphControl)
    #: The run's parameters, read once from its stored `kwargs`.
    spec: RunSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = RunSpec.from_stored(self.run["kwargs"])

    def drain(self) -> bool:
        """Ask the graph to stop at its next step boundary (a shutdown), its checkpoint saved,
        so that the run resumes there with no node run twice; False for a stateless run, whose
        checkpoints do not outlive it (it may finish within the grace, or starts again)."""
        if self.spec.temporary:
            return False
        self.control.request_drain("shutdown")
        return True


async def until_stored(operation: Callable[[], Awaitable[T]], what: str) -> T:
    """`operation`, tried again while the database is unavailable (a full disk, an I/O error,
    PostgreSQL away), with a backoff from 0.2 s to 5 s. A shutdown cancels the wait; the run is
    then recovered at the next start, as after a crash."""
    delay = 0.2
    while True:
        try:
            return await operation()
        except Unavailable as exc:
            log.warning("%s: %s; trying again in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _completed_cleanly(graph: CompiledGraph, spec: RunSpec, last_values: Any) -> bool:
    """Whether a successful run's last `values` chunk is its thread's whole final state.

    Not when the graph may have paused (an `interrupt()` shows as `__interrupt__`; breakpoints
    leave no mark in the stream) nor when its output schema is narrower than its state.
    """
    if not isinstance(last_values, dict) or "__interrupt__" in last_values:
        return False
    if spec.interrupt_before or spec.interrupt_after:
        return False
    if graph.interrupt_before_nodes or graph.interrupt_after_nodes:
        return False
    builder = getattr(graph, "builder", None)
    return builder is not None and builder.output_schema is builder.state_schema


class Executor:
    def __init__(
        self,
        backend: Backend,
        graphs: GraphRegistry,
        broker: Broker,
        peers: Peers,
        webhooks: Webhooks,
        settings: Settings,
        events: EventHub,
    ) -> None:
        self._backend = backend
        self._graphs = graphs
        self._broker = broker
        self._peers = peers
        self._webhooks = webhooks
        self._settings = settings
        self._events = events
        #: Tokens this process's runs used, for `/metrics`.
        self.usage = UsageTally()

    async def execute(self, handle: RunHandle) -> ThreadStatus | None:
        """Execute a claimed run and record its end; returns the status its thread settled in
        (None when the thread went with the run, or the run was no longer this process's)."""
        tapes: list[Tape] = []
        try:
            return await self._execute(handle, tapes)
        finally:
            for tape in tapes:
                tape.abandon()  # ended without an end (shutdown, lease lost); no-op otherwise

    async def _execute(self, handle: RunHandle, tapes: list[Tape]) -> ThreadStatus | None:
        run, attempt, spec = handle.run, handle.attempt, handle.spec
        run_id, thread_id = run["run_id"], run["thread_id"]
        stateless, resumable, v2 = spec.temporary, spec.resumable, spec.v2
        config = run_config(run, spec, attempt)
        graph_id = config["configurable"]["graph_id"]
        user = config["configurable"].get("langgraph_auth_user")

        def publish(event: str, data: Any) -> None:
            self._broker.publish(run_id, event, data, resumable=resumable)

        def open_tape() -> Tape:
            tape = self._events.tape(
                run_id, thread_id, graph_id, retried=attempt > 1, checkpoints=v2
            )
            tapes.append(tape)
            tape.start()
            return tape

        # The v2 stream shows v2 runs and resumable v1 runs (both are replayed), and any run
        # while a v2 stream follows its thread (from the moment one does).
        shown = not stateless and (v2 or resumable)
        if shown:
            open_tape()

        def feed(namespace: tuple[str, ...], mode: str, data: Any) -> None:
            if not tapes:
                if stateless or not self._events.watched(thread_id):
                    return
                open_tape()
            tapes[0].feed(namespace, mode, data)

        started_at = now_iso()
        self._broker.reset(run_id)
        self._broker.bind(run_id, thread_id)
        if handle.exported:
            self._peers.export(run_id)
        publish("metadata", {"run_id": run_id, "attempt": attempt})
        status: RunStatus | None = "success"
        error: Json | None = None
        last_values: Any = None
        snapshot: ThreadSnapshot | None = None
        recorder = UsageRecorder()
        config["callbacks"] = [*(config.get("callbacks") or ()), recorder]
        try:
            # The run's service built the context (`run_context`); filtering it again keeps a
            # run queued by an earlier version (its context unfiltered) runnable, and the
            # schema turns it into the object a factory's runtime carries.
            schema = await self._graphs.context_schema(graph_id, user)
            context = run_context(schema, spec.context, {})
            async with self._graphs.graph(
                graph_id,
                config,
                stateless=stateless,
                access="threads.create_run",
                user=user,
                context=coerce_context(schema, context),
            ) as graph:
                try:
                    async with asyncio.timeout(self._settings.run_timeout_seconds) as deadline:
                        if attempt > 1 and not stateless:
                            config = await resume_point(graph, run, config)
                        if handle.action is not None:  # cancelled before the graph started
                            raise asyncio.CancelledError
                        handle.streaming = True
                        try:
                            last_values = await stream_graph(
                                graph, spec, config, context, publish, feed, handle.control
                            )
                        finally:
                            handle.streaming = False
                except asyncio.CancelledError:
                    if handle.action is None:
                        raise  # shutting down: the worker gives the run back to the queue
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
                    status = "interrupted" if handle.action == "interrupt" else None
                    error = {
                        "error": "UserInterrupt",
                        "message": f"{handle.action} requested via cancel",
                    }
                except (GraphDrained, LeaseLost):
                    # Record nothing here: a shutdown stopped it between two steps, its
                    # checkpoint saved (the worker hands it back, to resume at that step), or
                    # another process owns the run now.
                    raise
                except Unavailable:
                    # The database could not take a checkpoint (disk full, PostgreSQL gone):
                    # not the run's fault. The worker hands it back to resume once it can.
                    raise
                except TimeoutError as exc:
                    if deadline.expired():
                        status, error = (
                            "timeout",
                            {"error": "TimeoutError", "message": "run timed out"},
                        )
                    else:
                        status, error = "error", error_payload(exc)
                    publish("error", error)
                except Exception as exc:
                    log.exception("run %s failed", run_id)
                    status, error = "error", error_payload(exc)
                    publish("error", error)
                if not stateless:
                    if status is None:
                        await until_stored(
                            lambda: self._backend.checkpoints.delete_for_run(thread_id, run_id),
                            f"run {run_id}: deleting its checkpoints",
                        )
                    healed = None
                    if status in ("interrupted", "timeout") and self._settings.heal_tool_calls:
                        healed = await self._heal(graph, thread_id, run_id)
                    if healed is not None:
                        snapshot = snapshot_from(healed, error)
                    elif status == "success" and _completed_cleanly(graph, spec, last_values):
                        # The graph ran to its end: the last `values` chunk is the state and
                        # nothing is next; no need to read the checkpoint back.
                        snapshot = ThreadSnapshot(last_values, {}, False, None)
                    else:
                        snapshot = await until_stored(
                            lambda: snapshot_of(graph, thread_id, error),
                            f"run {run_id}: reading its final state",
                        )
        except (LeaseLost, Unavailable, GraphDrained):
            raise
        except Exception as exc:  # the graph factory or the state read failed
            log.exception("run %s failed outside the graph", run_id)
            status, error = "error", error_payload(exc)
            publish("error", error)
        # No snapshot when the failure came before or after the graph (its factory, the state
        # read): the thread's stored state is then left as it was; only statuses change.
        if stateless:
            snapshot = ThreadSnapshot(last_values, {}, False, error)
        usage = recorder.usage()
        outcome = RunOutcome(
            status or "rollback",
            values=last_values,
            error=error,
            usage=usage,
            # The answer is the state the thread's row gets: encoded once, for both.
            values_json=(
                snapshot.values_json
                if snapshot is not None and not stateless and snapshot.values is last_values
                else None
            ),
        )
        handle.status = outcome.status
        # The stream's end is stored with the run's (`Tape.end`).
        ending = await _end_tape(tapes[0], status, error, snapshot) if tapes else {}
        handle.stream_ended = True
        # The graph is done: what it did must be recorded, however long the database takes to
        # come back (a run left `running` would keep its thread busy until a restart).
        await until_stored(lambda: self._peers.end_log(run_id, outcome), f"run {run_id}: end")
        settled = await until_stored(
            lambda: self._backend.runs.finish(
                run_id,
                status,
                snapshot,
                delete_thread=spec.deletes_thread,
                events=ending,
                usage=usage,
            ),
            f"run {run_id}: recording how it ended",
        )
        self.usage.add(run["assistant_id"], usage)
        self._broker.finish(run_id, outcome)
        for tape in tapes:
            tape.deliver()
        if tapes:
            await tapes[0].stored(taken=settled is not None)
        if spec.webhook:
            ended = {**run, "status": status or "rollback", "updated_at": now_iso()}
            self._webhooks.send(
                spec.webhook,
                {
                    **ended,
                    "run_started_at": started_at,
                    "run_ended_at": ended["updated_at"],
                    # A stateless run has no thread state to report (as in the reference).
                    "values": None if stateless else snapshot.values if snapshot else None,
                    "error": error,
                },
            )
        return settled

    async def _heal(
        self, graph: CompiledGraph, thread_id: str, run_id: str
    ) -> StateSnapshot | None:
        """Close the tool calls a cut run left unanswered (healing.py). A graph it cannot be
        done for keeps its state as the cancel left it: the run's end is recorded anyway."""
        try:
            return await until_stored(
                lambda: close_dangling_tool_calls(graph, thread_id, run_id),
                f"run {run_id}: closing its cancelled tool calls",
            )
        except LeaseLost:
            raise
        except Exception:
            log.warning("run %s: its cancelled tool calls stay open", run_id, exc_info=True)
            return None

    async def fail(self, handle: RunHandle, exc: BaseException) -> None:
        """Record a run as failed when recording its real outcome failed (e.g. its final state
        cannot be stored), so neither the run nor its readers wait forever."""
        run_id = handle.run["run_id"]
        error = error_payload(exc)
        snapshot = ThreadSnapshot(None, {}, False, error)
        spec = handle.spec
        temporary = spec.deletes_thread
        outcome = RunOutcome("error", error=error)
        tape = None
        thread_id = handle.run["thread_id"]
        shown = spec.v2 or spec.resumable or self._events.watched(thread_id)
        if shown and not handle.stream_ended and not temporary:
            # Its v2 stream showed it running: it must show the end too, or clients wait.
            graph_id = str(spec.config.get("configurable", {}).get("graph_id"))
            tape = self._events.tape(run_id, thread_id, graph_id)
            await tape.close("failed", str(error.get("message")), [])
        try:
            if self._broker.outcome(run_id) is None:
                self._broker.publish(run_id, "error", error)
                await self._peers.end_log(run_id, outcome)
            await self._backend.runs.finish(run_id, "error", snapshot, delete_thread=temporary)
        finally:
            if self._broker.outcome(run_id) is None:
                self._broker.finish(run_id, outcome)
            if tape is not None:
                tape.deliver()


def _terminal(status: RunStatus | None, snapshot: ThreadSnapshot | None) -> Terminal:
    if status == "success":
        return "interrupted" if snapshot is not None and snapshot.interrupts else "completed"
    if status in ("error", "timeout"):
        return "failed"
    return "interrupted"  # cancelled (interrupt or rollback)


async def _end_tape(
    tape: Tape, status: RunStatus | None, error: Json | None, snapshot: ThreadSnapshot | None
) -> dict[str, list[LoggedEnvelope]]:
    pending = [
        (str(item.get("id")), item.get("value"))
        for items in (snapshot.interrupts if snapshot is not None else {}).values()
        for item in items
        if isinstance(item, dict) and item.get("id")
    ]
    message = str(error.get("message")) if error else None
    return await tape.end(_terminal(status, snapshot), message, pending)
