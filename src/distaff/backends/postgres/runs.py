"""Runs in PostgreSQL: the records and the queue.

`claim` takes runs with `FOR UPDATE SKIP LOCKED`, so processes claiming at once never take the
same run and never wait for each other; a partial unique index keeps at most one run per
thread `running`, whatever any process believes. A claimed run records its `owner` and a
lease that the owner's heartbeats renew; `finish` only ends a run its own process owns, so a
worker that lost its run cannot overwrite the result of the run's next owner.

`recover` (at start-up and then periodically, from every process) takes back runs whose owner
is gone: its lease expired, or it was a process on this host whose pid no longer exists (so a
crash on one machine is recovered at once, not a lease later).
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg.rows import DictRow

from distaff.backends.base import CancelTarget, Claim, QueueStats, ThreadSnapshot
from distaff.backends.postgres.database import Connection, Database, iso, json, jsonb
from distaff.backends.postgres.leases import Leases
from distaff.backends.postgres.threads import get_thread, insert_thread, write_snapshot
from distaff.errors import Conflict, NotFound
from distaff.ids import now_iso, utcnow
from distaff.models import CancelAction, Page, Run, RunStatus, Thread, ThreadStatus, is_temporary

BUSY_MESSAGE = (
    "Thread is already running a task. Wait for it to finish or choose a different multitask"
    " strategy."
)


def owner_id() -> str:
    """This process, as recorded on the runs it claims: `host:pid:nonce`."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _gone(owner: str | None, host: str) -> bool:
    """Whether `owner` was a process on this host that no longer exists."""
    if owner is None:
        return True
    owner_host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if owner_host != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, under another user
        return False
    return False


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
    }


async def _active_ids(conn: Connection, thread_id: str) -> list[str]:
    cur = await conn.execute(
        "SELECT run_id FROM runs WHERE thread_id = %s AND status IN ('pending', 'running')"
        " ORDER BY created_at, run_id",
        (thread_id,),
    )
    return [r["run_id"] for r in await cur.fetchall()]


async def _drop_thread(conn: Connection, thread_id: str) -> None:
    await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))  # runs cascade


async def _settle_thread(
    conn: Connection, thread_id: str, ended: ThreadStatus, now: str
) -> ThreadStatus:
    """A run on the thread ended: the thread is busy while others are active, else `ended`."""
    status: ThreadStatus = "busy" if await _active_ids(conn, thread_id) else ended
    await conn.execute(
        "UPDATE threads SET status = %s, updated_at = %s WHERE thread_id = %s",
        (status, now, thread_id),
    )
    return status


def _seconds_since(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds()


class PostgresRuns:
    def __init__(self, db: Database, owner: str, leases: Leases) -> None:
        self._db = db
        #: This process, as recorded on the runs it claims (see `owner_id`).
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
    ) -> list[str]:
        async with self._db.transaction() as conn:
            if create_thread is not None:
                await insert_thread(conn, create_thread, do_nothing=True)
            # The row lock orders concurrent inserts on one thread: `reject` sees every run
            # another process inserted before it, on any replica.
            thread = await get_thread(conn, run["thread_id"], lock=True)
            if thread is None:
                raise NotFound("Thread or assistant not found.")
            inflight = await _active_ids(conn, run["thread_id"])
            if inflight and reject_if_busy:
                raise Conflict(BUSY_MESSAGE)
            await conn.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, metadata, status, kwargs,"
                " multitask_strategy, created_at, updated_at, reader)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    run["run_id"],
                    run["thread_id"],
                    run["assistant_id"],
                    jsonb(run["metadata"]),
                    run["status"],
                    json(run["kwargs"]),
                    run["multitask_strategy"],
                    run["created_at"],
                    run["updated_at"],
                    self.owner if read_here else None,
                ),
            )
            # Stamp the graph on the thread now (see the SQLite backend for why).
            stamp = {
                "graph_id": run["metadata"].get("graph_id"),
                "assistant_id": run["assistant_id"],
            }
            await conn.execute(
                "UPDATE threads SET status = 'busy', metadata = metadata || %s, updated_at = %s"
                " WHERE thread_id = %s",
                (jsonb(stamp), run["updated_at"], run["thread_id"]),
            )
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
            if row["status"] in ("pending", "running"):
                raise Conflict(f"Run {run_id} is still {row['status']}; cancel it first")
            await conn.execute("DELETE FROM runs WHERE run_id = %s", (run_id,))
            return True

    async def claim(self, limit: int) -> Claim:
        now, sent_at = now_iso(), time.monotonic()
        try:
            async with self._db.transaction() as conn:
                # The oldest due pending run of each thread that has none running.
                cur = await conn.execute(
                    "WITH due AS ("
                    " SELECT r.run_id FROM runs r"
                    " WHERE r.status = 'pending' AND r.created_at <= %(now)s::timestamptz"
                    " AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id = r.thread_id"
                    "  AND (x.status = 'running' OR (x.status = 'pending'"
                    "  AND (x.created_at, x.run_id) < (r.created_at, r.run_id))))"
                    " ORDER BY r.created_at, r.run_id LIMIT %(limit)s"
                    " FOR UPDATE OF r SKIP LOCKED)"
                    " UPDATE runs SET status = 'running', attempt = runs.attempt + 1,"
                    " updated_at = %(now)s, owner = %(owner)s,"
                    " lease_until = %(now)s::timestamptz + %(lease)s * interval '1 second'"
                    " FROM due WHERE runs.run_id = due.run_id RETURNING runs.*",
                    {"now": now, "limit": limit, "owner": self.owner, "lease": self._lease},
                )
                rows = await cur.fetchall()
        except psycopg.errors.UniqueViolation:
            # Another process started a run on one of these threads a moment ago; the index
            # refused the second. Nothing was claimed; the next wake-up tries again.
            return Claim([], 0.0)
        claimed = sorted(
            ((_row(r), int(r["attempt"])) for r in rows), key=lambda c: c[0]["created_at"]
        )
        if claimed:
            self._leases.renewed((r["run_id"] for r in rows), sent_at)
            elsewhere = frozenset(
                r["run_id"] for r in rows if r["reader"] is not None and r["reader"] != self.owner
            )
            return Claim(claimed, read_elsewhere=elsewhere)
        row = await self._db.fetchone(
            "SELECT min(created_at) AS at FROM runs WHERE status = 'pending'"
            " AND created_at > %s::timestamptz",
            (now,),
        )
        if row is None or row["at"] is None:
            return Claim([])
        return Claim([], max(0.0, (row["at"] - utcnow()).total_seconds()))

    async def finish(
        self,
        run_id: str,
        status: RunStatus | None,
        snapshot: ThreadSnapshot | None,
        *,
        delete_thread: bool = False,
    ) -> ThreadStatus | None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT thread_id, owner FROM runs WHERE run_id = %s FOR UPDATE", (run_id,)
            )
            row = await cur.fetchone()
            self._leases.drop(run_id)
            if row is None:
                return None  # deleted meanwhile, with its thread
            if row["owner"] is not None and row["owner"] != self.owner:
                return None  # another process owns the run now: its result stands
            thread_id, now = row["thread_id"], now_iso()
            if delete_thread:
                await _drop_thread(conn, thread_id)
                return None
            if status is None:
                await conn.execute("DELETE FROM runs WHERE run_id = %s", (run_id,))
            else:
                await conn.execute(
                    "UPDATE runs SET status = %s, updated_at = %s, cancel_action = NULL,"
                    " owner = NULL, lease_until = NULL WHERE run_id = %s",
                    (status, now, run_id),
                )
            ended: ThreadStatus = "idle"
            if snapshot is not None:
                await write_snapshot(conn, thread_id, snapshot, now)
            if status == "error":
                ended = "error"
            elif snapshot is not None and snapshot.has_next:
                ended = "interrupted"
            return await _settle_thread(conn, thread_id, ended, now)

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
        if status in ("pending", "running"):
            sql += " AND status = %s"
            params.append(status)
        async with self._db.transaction() as conn:
            rows = await (
                await conn.execute(sql + " ORDER BY run_id FOR UPDATE", params)
            ).fetchall()
            targets = [CancelTarget(r["run_id"], r["thread_id"], r["status"]) for r in rows]
            now = now_iso()
            for t, row in zip(targets, rows, strict=True):
                if t.status == "running":
                    # Recorded so a cancel accepted just before a crash is honoured by `recover`.
                    await conn.execute(
                        "UPDATE runs SET cancel_action = %s WHERE run_id = %s", (action, t.run_id)
                    )
                    continue
                if is_temporary(row["kwargs"]):
                    await _drop_thread(conn, t.thread_id)  # a stateless run that never ran
                    continue
                if action == "rollback":
                    await conn.execute("DELETE FROM runs WHERE run_id = %s", (t.run_id,))
                else:
                    await conn.execute(
                        "UPDATE runs SET status = 'interrupted', updated_at = %s WHERE run_id = %s",
                        (now, t.run_id),
                    )
                await _settle_thread(conn, t.thread_id, "idle", now)
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
        requeued = []
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
            rows = [r for r in candidates if r["expired"] or _gone(r["owner"], host)]
            now = now_iso()
            for row in rows:
                temporary = is_temporary(row["kwargs"])
                run_id, thread_id = row["run_id"], row["thread_id"]
                if row["cancel_action"] is not None:  # cancelled before the process died
                    if temporary:
                        await _drop_thread(conn, thread_id)
                        continue
                    if row["cancel_action"] == "rollback":
                        await conn.execute("DELETE FROM runs WHERE run_id = %s", (run_id,))
                    else:
                        await conn.execute(
                            "UPDATE runs SET status = 'interrupted', cancel_action = NULL,"
                            " owner = NULL, lease_until = NULL, updated_at = %s WHERE run_id = %s",
                            (now, run_id),
                        )
                    await _settle_thread(conn, thread_id, "idle", now)
                elif row["attempt"] >= max_attempts and temporary:
                    await _drop_thread(conn, thread_id)
                elif row["attempt"] >= max_attempts:
                    await conn.execute(
                        "UPDATE runs SET status = 'error', owner = NULL, lease_until = NULL,"
                        " updated_at = %s WHERE run_id = %s",
                        (now, run_id),
                    )
                    error = {"error": "RunAttemptsExceeded", "message": "the run's worker died"}
                    await conn.execute(
                        "UPDATE threads SET error = %s, interrupts = coalesce(interrupts, '{}')"
                        " WHERE thread_id = %s",
                        (json(error), thread_id),
                    )
                    await _settle_thread(conn, thread_id, "error", now)
                else:
                    await conn.execute(
                        "UPDATE runs SET status = 'pending', owner = NULL, lease_until = NULL,"
                        " updated_at = %s WHERE run_id = %s",
                        (now, run_id),
                    )
                    requeued.append(run_id)
        return requeued
