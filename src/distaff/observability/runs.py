"""A run's execution seen from outside: its start and end lines, its ids on every line written
meanwhile, and (when tracing is on) its span."""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langgraph.errors import GraphDrained

from distaff.errors import LeaseLost, Unavailable
from distaff.observability import tracing
from distaff.observability.logs import LogIds, current_ids

if TYPE_CHECKING:
    from distaff.engine.executor import RunHandle

log = logging.getLogger("distaff.run")


def _ended_as(handle: RunHandle, error: BaseException | None) -> str:
    """The run's status as this attempt left it. `drained` (stopped at a step boundary for a
    shutdown), `requeued` (cut by a shutdown, or the database unavailable) and `lease_lost`
    leave the run to a later attempt; `error` without a recorded status is a failure to record
    its end."""
    if isinstance(error, GraphDrained):
        return "drained"
    if isinstance(error, asyncio.CancelledError | Unavailable):
        return "requeued"
    if isinstance(error, LeaseLost):
        return "lease_lost"
    if error is not None:
        return "error"
    return handle.status or "unknown"


class ObservedRun:
    """Around one attempt at executing a run, in the run's own task.

    The run's ids stay bound after the block: the rest of the task is the worker's handling
    of this same run (giving it back to the queue, recording a failure), whose lines should
    carry them too. The task ends right after.
    """

    __slots__ = ("_fields", "_handle", "_span", "_start")

    def __init__(self, handle: RunHandle) -> None:
        self._handle = handle
        self._span: tracing.RunSpan | None = None
        self._start = 0.0
        self._fields: dict[str, Any] = {}

    def __enter__(self) -> None:
        handle = self._handle
        run = handle.run
        configurable = handle.spec.config.get("configurable") or {}
        graph_id = configurable.get("graph_id") or (run.get("metadata") or {}).get("graph_id")
        # The id of the request that created the run: the run's lines are that request's too.
        request_id = configurable.get("langgraph_request_id")
        current_ids.set(LogIds(request_id, run["run_id"], run["thread_id"]))
        self._fields = fields = {
            "graph_id": graph_id,
            "assistant_id": run["assistant_id"],
            "attempt": handle.attempt,
        }
        log.info("run started (graph %s, attempt %d)", graph_id, handle.attempt, extra=fields)
        if tracing.enabled():
            self._span = tracing.RunSpan(
                f"run {graph_id}",
                configurable.get(tracing.TRACEPARENT_KEY),
                {
                    "distaff.run_id": run["run_id"],
                    "distaff.thread_id": run["thread_id"],
                    "distaff.graph_id": str(graph_id),
                    "distaff.assistant_id": run["assistant_id"],
                    "distaff.run.attempt": handle.attempt,
                    **({"distaff.request_id": request_id} if request_id else {}),
                },
            )
        self._start = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        status = _ended_as(self._handle, error)
        if self._span is not None:
            self._span.end(status, error)
        ms = round((time.perf_counter() - self._start) * 1000, 1)
        log.info(
            "run ended: %s in %.1f ms (graph %s, attempt %d)",
            status,
            ms,
            self._fields["graph_id"],
            self._handle.attempt,
            extra={**self._fields, "status": status, "duration_ms": ms},
        )
