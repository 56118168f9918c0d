"""Runs in PostgreSQL: the records and the queue.

`claim` takes runs with `FOR UPDATE SKIP LOCKED`, so processes claiming at once never take the
same run and never wait for each other; a partial unique index keeps at most one run per
thread `running`, whatever any process believes. A claimed run records its `owner` and a
lease that the owner's heartbeats renew; `finish` only ends a run its own process owns, so a
worker that lost its run cannot overwrite the result of the run's next owner.

`recover` (at start-up and then periodically, from every process) takes back runs whose owner
is gone: its lease expired, or it was a process on this host whose pid no longer exists (so a
crash on one machine is recovered at once, not a lease later).

The statements that claim runs and end them by owner are in `claims.py`; what a cancel or a
recovery does to a run and its thread, in `run_effects.py`.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import DictRow

from distaff import usage as usage_json
from distaff.backends.base import CancelTarget, Claim, LoggedEnvelope, QueueStats
from distaff.backends.postgres.claims import CLAIM, DROP_OWN_THREAD, OWNED, gone
from distaff.backends.postgres.database import Database, iso, json, jsonb
from distaff.backends.postgres.events import events_cte
from distaff.backends.postgres.leases import Leases
from distaff.backends.postgres.run_effects import apply_effect
from distaff.backends.postgres.threads import snapshot_columns
from distaff.backends.rules import runs as rules
from distaff.errors import StaleAssistant
from distaff.ids import now_iso, utcnow
from distaff.models import (
    CancelAction,
    Json,
    Page,
    Run,
    RunStatus,
    Thread,
    ThreadStatus,
    is_temporary,
)
from distaff.state import ThreadSnapshot


def _row(row: DictRow) -> Run:
    return {
        "run_id": row["run_id"],
        "thread_id": row["thread_id"],
        "assistant_id": row["assistant_id"],
        "metadata": row["metadata"],
        "status": row["status"],
        "kwargs": row["kwargs"],
        "multitask_strategy": row["multitask_strategy"],
        "created_at": iso(row["created_at"]) or "",
        "updated_at": iso(row["updated_at"]) or "",
        "langsmith_session_name": None,
        "usage": row.get("usage"),
    }


def _seconds_since(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds()


_RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, metadata, status, kwargs, multitask_strategy,"
    " created_at, updated_at, reader, attempt, owner, lease_until"
)
#: Pending; or, taken at insert (`owner` given), as `CLAIM` leaves a run.
_RUN_VALUES = (
    "%(run_id)s::text, %(thread_id)s::text, %(assistant_id)s::text, %(metadata)s::jsonb,"
    " CASE WHEN %(owner)s::text IS NULL THEN 'pending' ELSE 'running' END, %(kwargs)s::json,"
    " %(strategy)s::text, %(created_at)s::timestamptz, %(updated_at)s::timestamptz,"
    " %(reader)s::text, CASE WHEN %(owner)s::text IS NULL THEN 0 ELSE 1 END, %(owner)s::text,"
    " %(lease_until)s::timestamptz"
)

#: Whether the run's assistant is as the run's creator saw it (`assistant_as_of`; true when
#: it read the assistant afresh).
_ASSISTANT_AS_OF = """
    (%(as_of_version)s::integer IS NULL OR EXISTS (
        SELECT 1 FROM assistants WHERE assistant_id = %(assistant_id)s::text
        AND version = %(as_of_version)s::integer
        AND updated_at = %(as_of_updated_at)s::timestamptz))
"""

#: A run on a new thread: both rows in one statement, the thread busy from the start, if the
#: assistant is as seen (`fresh`). `inserted` is 0 when the thread exists.
_INSERT_WITH_THREAD = f"""
    WITH fresh AS (SELECT {_ASSISTANT_AS_OF} AS ok), thread AS (
        INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata,
                             status, config, "values", ttl)
        SELECT %(thread_id)s, %(thread_created_at)s, %(updated_at)s, %(state_updated_at)s,
               %(thread_metadata)s, 'busy', %(config)s, %(values)s, %(ttl)s
        FROM fresh WHERE ok
        ON CONFLICT (thread_id) DO NOTHING
        RETURNING thread_id
    ), run AS (
        INSERT INTO runs ({_RUN_COLUMNS}) SELECT {_RUN_VALUES} FROM thread RETURNING run_id
    )
    SELECT (SELECT ok FROM fresh) AS fresh, (SELECT count(*) FROM run) AS inserted
"""

#: A run on an existing thread, in one round trip (`distaff_add_run`, in `schema.py`): under
#: the thread's row lock, so `reject` sees every run another process inserted before it, on any
#: replica. The thread's active runs come back; NULL if there is no such thread.
_ADD_RUN = f"""
    SELECT ok AS fresh, CASE WHEN ok THEN distaff_add_run(%(run_id)s::text, %(thread_id)s::text,
        %(assistant_id)s::text, %(metadata)s::jsonb, %(kwargs)s::json, %(strategy)s::text,
        %(created_at)s::timestamptz, %(updated_at)s::timestamptz, %(reader)s::text,
        %(stamp)s::jsonb, %(reject)s::boolean, %(owner)s::text, %(lease_until)s::timestamptz)
        END AS inflight
    FROM (SELECT {_ASSISTANT_AS_OF} AS ok) AS fresh
"""

#: A run's end by its owner (`distaff_end_run`, in `schema.py`): the run's record, then its
#: thread's status and state; NULL if the run is not ours any more or its thread is gone.
_END_RUN = """
    SELECT distaff_end_run(%(run_id)s::text, %(owner)s::text, %(status)s::text,
        %(ended)s::text, %(now)s::timestamptz, %(snapshot)s::boolean, %(values)s::jsonb,
        %(interrupts)s::json, %(error)s::json, %(usage)s::jsonb) AS status
"""

#: A stateless run's end with its usage: added to its assistant's totals, then its thread goes.
_DROP_OWN_THREAD_COUNTED = f"""
    WITH counted AS (
        SELECT distaff_count_usage(assistant_id, %(usage)s::jsonb) FROM runs WHERE {OWNED}
    ), dropped AS ({DROP_OWN_THREAD} RETURNING 1)
    SELECT (SELECT count(*) FROM counted) AS counted, (SELECT count(*) FROM dropped) AS dropped
"""


class PostgresRuns:
    takes_at_insert = True

    def __init__(self, db: Database, owner: str, leases: Leases) -> None:
        self._db = db
        #: This process, as recorded on the runs it claims (see `claims.owner_id`).
        self.owner = owner
        self._leases = leases
        self._lease = leases.seconds

    async def insert(
        self,
        run: Run,
        *,
        create_thread: Thread | None,
        reject_if_busy: bool,
        read_here: bool = False,
        take: bool = False,
        assistant_as_of: tuple[int, str] | None = None,
    ) -> list[str]:
        # Stamp the graph on the thread now (see the SQLite backend for why).
        stamp = {"graph_id": run["metadata"].get("graph_id"), "assistant_id": run["assistant_id"]}
        # A run taken at insert holds a lease from the moment it is sent, as a claim's does.
        sent_at = time.monotonic()
        params: dict[str, object] = {
            "owner": self.owner if take else None,
            "lease_until": iso(utcnow() + timedelta(seconds=self._lease)) if take else None,
            "as_of_version": None if assistant_as_of is None else assistant_as_of[0],
            "as_of_updated_at": None if assistant_as_of is None else assistant_as_of[1],
            "run_id": run["run_id"],
            "thread_id": run["thread_id"],
            "assistant_id": run["assistant_id"],
            "metadata": jsonb(run["metadata"]),
            "kwargs": json(run["kwargs"]),
            "strategy": run["multitask_strategy"],
            "created_at": run["created_at"],
            "updated_at": run["updated_at"],
            "reader": self.owner if read_here else None,
            "stamp": jsonb(stamp),
        }
        if create_thread is not None:
            # A new thread has no runs: it goes in with its run, in one statement.
            t = create_thread
            row = await self._db.fetchone(
                _INSERT_WITH_THREAD,
                {
                    **params,
                    "thread_created_at": t["created_at"],
                    "state_updated_at": t["state_updated_at"],
                    "thread_metadata": jsonb({**t["metadata"], **stamp}),
                    "config": json(t["config"]),
                    "values": None if t.get("values") is None else jsonb(t["values"]),
                    "ttl": json(t.get("ttl")),
                },
            )
            if row is None or not row["fresh"]:
                raise StaleAssistant(run["assistant_id"])
            if row["inserted"]:
                if take:
                    self._leases.renewed((run["run_id"],), sent_at)
                return []
            # The thread exists already (`if_not_exists: "create"`): as for any thread.
        row = await self._db.fetchone(_ADD_RUN, {**params, "reject": reject_if_busy})
        if row is None or not row["fresh"]:
            raise StaleAssistant(run["assistant_id"])
        inflight: list[str] | None = row["inflight"]
        if inflight is None:
            raise rules.thread_missing()
        if inflight and reject_if_busy:
            raise rules.thread_busy()  # nothing was inserted
        if take and not inflight:
            self._leases.renewed((run["run_id"],), sent_at)
        return inflight

    async def get(self, run_id: str, thread_id: str | None = None) -> Run | None:
        row = await self._db.fetchone("SELECT * FROM runs WHERE run_id = %s", (run_id,))
        if row is None or (thread_id is not None and row["thread_id"] != thread_id):
            return None
        return _row(row)

    async def list_for_thread(
        self, thread_id: str, page: Page, status: RunStatus | None = None
    ) -> list[Run]:
        sql, params = "SELECT * FROM runs WHERE thread_id = %s", [thread_id]
        if status is not None:
            sql += " AND status = %s"
            params.append(status)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT %s OFFSET %s"
        rows = await self._db.fetchall(sql, (*params, page.limit, page.offset))
        return [_row(r) for r in rows]

    async def delete(self, run_id: str, thread_id: str) -> bool:
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT status FROM runs WHERE run_id = %s AND thread_id = %s FOR UPDATE",
                (run_id, thread_id),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            rules.check_deletable(run_id, row["status"])
            await conn.execute("DELETE FROM runs WHERE run_id = %s", (run_id,))
            return True

    async def claim(self, limit: int) -> Claim:
        now, sent_at = now_iso(), time.monotonic()
        try:
            rows = await self._db.fetchall(
                CLAIM, {"now": now, "limit": limit, "owner": self.owner, "lease": self._lease}
            )
        except psycopg.errors.UniqueViolation:
            # Another process started a run on one of these threads a moment ago; the index
            # refused the second. Nothing was claimed; the next wake-up tries again.
            return Claim([], 0.0)
        taken = [r for r in rows if r["run_id"] is not None]
        at = rows[0]["next_due"] if rows else None
        due_in = None if at is None else max(0.0, (at - utcnow()).total_seconds())
        if not taken:
            return Claim([], due_in)
        self._leases.renewed((r["run_id"] for r in taken), sent_at)
        claimed = sorted(
            ((_row(r), int(r["attempt"])) for r in taken), key=lambda c: c[0]["created_at"]
        )
        elsewhere = frozenset(
            r["run_id"] for r in taken if r["reader"] is not None and r["reader"] != self.owner
        )
        return Claim(claimed, due_in, read_elsewhere=elsewhere)

    async def finish(
        self,
        run_id: str,
        status: RunStatus | None,
        snapshot: ThreadSnapshot | None,
        *,
        delete_thread: bool = False,
        events: Mapping[str, Sequence[LoggedEnvelope]] | None = None,
        usage: Json | None = None,
    ) -> ThreadStatus | None:
        # Only while this process owns the run: a worker that lost its lease, its run taken
        # over by another process (or failed by a sweeper), must not overwrite the outcome.
        self._leases.drop(run_id)
        fence = {"run_id": run_id, "owner": self.owner}
        if delete_thread:
            if usage is None:
                await self._db.execute(DROP_OWN_THREAD, fence)
            else:
                await self._db.fetchone(_DROP_OWN_THREAD_COUNTED, {**fence, "usage": jsonb(usage)})
            return None
        now = now_iso()
        has_next = snapshot is not None and snapshot.has_next
        params: dict[str, object] = {
            **fence,
            "status": status,
            "ended": rules.thread_status_after(status, has_next=has_next),
            "now": now,
            "snapshot": snapshot is not None,
            "usage": jsonb(usage) if usage is not None else None,
            **(
                snapshot_columns(snapshot, now)
                if snapshot is not None
                else {"values": None, "interrupts": None, "error": None}
            ),
        }
        sql = _END_RUN
        if events:
            # The stream's last events in the same statement: no round trip more.
            cte, event_params = events_cte(events, self.owner)
            sql = f"WITH {cte} {sql}, (SELECT count(*) FROM news) AS notified"
            params.update(event_params)
        row = await self._db.fetchone(sql, params)
        return row["status"] if row else None

    async def thread_usage(self, thread_id: str) -> Json:
        rows = await self._db.fetchall(
            "SELECT usage FROM runs WHERE thread_id = %s AND usage IS NOT NULL", (thread_id,)
        )
        return usage_json.summed(row["usage"] for row in rows)

    async def assistant_usage(self, assistant_id: str) -> Json:
        rows = await self._db.fetchall(
            "SELECT * FROM usage_totals WHERE assistant_id = %s", (assistant_id,)
        )
        return usage_json.summed({"by_model": {row["model"]: dict(row)}} for row in rows)

    async def heartbeat(self, run_ids: Sequence[str]) -> dict[str, CancelAction | None]:
        sent_at = time.monotonic()
        rows = await self._db.fetchall(
            "UPDATE runs SET lease_until = now() + %s * interval '1 second'"
            " WHERE run_id = ANY(%s) AND owner = %s AND status = 'running'"
            " RETURNING run_id, cancel_action",
            (self._lease, list(run_ids), self.owner),
        )
        held = {r["run_id"]: r["cancel_action"] for r in rows}
        self._leases.renewed(held, sent_at)
        return held

    async def requeue(self, run_id: str) -> None:
        # The attempt stays counted: it tells the next execution to resume from checkpoints.
        self._leases.drop(run_id)
        await self._db.execute(
            "UPDATE runs SET status = 'pending', updated_at = %s, owner = NULL, lease_until = NULL"
            " WHERE run_id = %s AND status = 'running' AND owner = %s",
            (now_iso(), run_id, self.owner),
        )

    async def request_cancel(
        self,
        action: CancelAction,
        *,
        run_ids: Sequence[str] | None = None,
        thread_id: str | None = None,
        status: str | None = None,
    ) -> list[CancelTarget]:
        sql = (
            "SELECT run_id, thread_id, status, kwargs FROM runs"
            " WHERE status IN ('pending', 'running')"
        )
        params: list[object] = []
        if run_ids is not None:
            sql += " AND run_id = ANY(%s)"
            params.append(list(run_ids))
        if thread_id is not None:
            sql += " AND thread_id = %s"
            params.append(thread_id)
        narrowed = rules.active_filter(status)
        if narrowed is not None:
            sql += " AND status = %s"
            params.append(narrowed)
        async with self._db.transaction() as conn:
            rows = await (
                await conn.execute(sql + " ORDER BY run_id FOR UPDATE", params)
            ).fetchall()
            targets = [CancelTarget(r["run_id"], r["thread_id"], r["status"]) for r in rows]
            now = now_iso()
            for t, row in zip(targets, rows, strict=True):
                effect = rules.on_cancel(action, t.status, temporary=is_temporary(row["kwargs"]))
                await apply_effect(conn, t.run_id, t.thread_id, effect, now)
            return targets

    async def stats(self) -> QueueStats:
        now = utcnow()
        counts = await self._db.fetchone(
            "SELECT count(*) FILTER (WHERE status = 'running') AS running,"
            " count(*) FILTER (WHERE status = 'pending') AS pending"
            " FROM runs WHERE status IN ('pending', 'running')"
        )
        due = await self._db.fetchall(
            "SELECT r.created_at, EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id"
            " AND x.status = 'running') AS blocked FROM runs r"
            " WHERE r.status = 'pending' AND r.created_at <= %s::timestamptz",
            (iso(now),),
        )
        waits = sorted(_seconds_since(r["created_at"], now) for r in due)
        unblocked = [_seconds_since(r["created_at"], now) for r in due if not r["blocked"]]
        return QueueStats(
            n_pending=int(counts["pending"]) if counts else 0,
            n_running=int(counts["running"]) if counts else 0,
            pending_wait_max=waits[-1] if waits else None,
            pending_wait_median=statistics.median(waits) if waits else None,
            pending_unblocked_wait_max=max(unblocked) if unblocked else None,
        )

    async def recover(self, max_attempts: int) -> list[str]:
        """Runs whose owner is gone: its lease expired, or its pid on this host is dead."""
        host = socket.gethostname()
        async with self._db.transaction() as conn:
            candidates = await (
                await conn.execute(
                    "SELECT run_id, thread_id, attempt, kwargs, cancel_action, owner,"
                    " lease_until IS NULL OR lease_until < now() AS expired FROM runs"
                    " WHERE status = 'running' AND owner IS DISTINCT FROM %s"
                    " AND (lease_until IS NULL OR lease_until < now() OR owner LIKE %s)"
                    " FOR UPDATE SKIP LOCKED",
                    (self.owner, f"{host}:%"),
                )
            ).fetchall()
            rows = [r for r in candidates if r["expired"] or gone(r["owner"], host)]
            now = now_iso()
            for row in rows:
                effect = rules.on_recover(
                    row["cancel_action"],
                    row["attempt"],
                    max_attempts,
                    temporary=is_temporary(row["kwargs"]),
                )
                await apply_effect(conn, row["run_id"], row["thread_id"], effect, now)
        return [row["run_id"] for row in rows]
