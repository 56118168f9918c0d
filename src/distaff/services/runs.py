"""Runs that exist: reading, listing and deleting them, joining their events or outcome,
cancelling them. Creating them is `run_creation.py`'s.
"""

from __future__ import annotations

from typing import Any

from distaff.auth import OPEN, Gate, matches
from distaff.backends.base import Backend, require
from distaff.engine.broker import Broker, Subscription
from distaff.engine.control import RunControl
from distaff.engine.peers import Peers
from distaff.errors import NotFound
from distaff.ids import canonical_uuid, is_uuid
from distaff.models import (
    ACTIVE_RUN_STATUSES,
    CancelAction,
    Json,
    Page,
    Run,
    RunOutcome,
    RunStatus,
    Thread,
    ThreadQuery,
)
from distaff.services.threads import visible_thread

NO_RUNS_TO_CANCEL = (
    "No matching runs to cancel. Please verify the thread ID and run IDs are correct, and the"
    " runs haven't been deleted or completed."
)


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
        broker: Broker,
        control: RunControl,
        peers: Peers,
        gate: Gate = OPEN,
    ) -> None:
        self._gate = gate
        self._peers = peers
        self._backend = backend
        self._runs = backend.runs
        self._broker = broker
        self._control = control

    # -- who may do what ---------------------------------------------------------------------

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
        if action == "rollback":
            require(self._backend.checkpoints, "delete_for_run")
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
        if cancel_action == "rollback":
            require(self._backend.checkpoints, "delete_for_run")
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
