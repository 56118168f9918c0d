"""Runs in SQLite: the records and the queue. At most one run per thread is ever `running`:
`claim` only takes a run whose thread has none, and it runs as one job on the database thread."""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime

from distaff import usage as usage_json
from distaff.backends.base import CancelTarget, Claim, LoggedEnvelope, QueueStats
from distaff.backends.rules import runs as rules
from distaff.backends.sqlite.database import Database, dump, load
from distaff.backends.sqlite.events import event_rows, insert_events
from distaff.backends.sqlite.threads import insert_thread, write_snapshot
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

#: How each `rules.runs.Effect` changes the run (`drop_thread` goes through `_drop_thread`).
_CHANGES: dict[rules.Change, str] = {
    "flag": "UPDATE runs SET cancel_action=:cancel WHERE run_id=:run_id",
    "delete": "DELETE FROM runs WHERE run_id=:run_id",
    "interrupt": "UPDATE runs SET status='interrupted', cancel_action=NULL, updated_at=:now"
    " WHERE run_id=:run_id",
    "fail": "UPDATE runs SET status='error', updated_at=:now WHERE run_id=:run_id",
    "requeue": "UPDATE runs SET status='pending', updated_at=:now WHERE run_id=:run_id",
}


def _row(row: sqlite3.Row) -> Run:
    return {
        "run_id": row["run_id"],
        "thread_id": row["thread_id"],
        "assistant_id": row["assistant_id"],
        "metadata": load(row["metadata"]),
        "status": row["status"],
        "kwargs": load(row["kwargs"]),
        "multitask_strategy": row["multitask_strategy"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "langsmith_session_name": None,
        "usage": load(row["usage"]) if row["usage"] is not None else None,
    }


_COUNT_USAGE = """
    INSERT INTO usage_totals AS u
        (assistant_id, model, input_tokens, output_tokens, total_tokens, calls, runs)
    VALUES (?, ?, ?, ?, ?, ?, 1)
    ON CONFLICT (assistant_id, model) DO UPDATE SET
        input_tokens = u.input_tokens + excluded.input_tokens,
        output_tokens = u.output_tokens + excluded.output_tokens,
        total_tokens = u.total_tokens + excluded.total_tokens,
        calls = u.calls + excluded.calls,
        runs = u.runs + 1
"""


def _count_usage(conn: sqlite3.Connection, assistant_id: str, usage: Json) -> None:
    """Add a run's usage to its assistant's totals."""
    conn.executemany(
        _COUNT_USAGE,
        [
            (assistant_id, model, *(int(figures.get(key, 0)) for key in usage_json.FIELDS))
            for model, figures in usage.get("by_model", {}).items()
        ],
    )


def _active_ids(conn: sqlite3.Connection, thread_id: str, exclude: str | None = None) -> list[str]:
    rows = conn.execute(
        "SELECT run_id FROM runs WHERE thread_id=? AND status IN ('pending','running')"
        " ORDER BY created_at",
        (thread_id,),
    ).fetchall()
    return [r[0] for r in rows if r[0] != exclude]


def _drop_thread(conn: sqlite3.Connection, thread_id: str) -> None:
    conn.execute("DELETE FROM runs WHERE thread_id=?", (thread_id,))
    conn.execute("DELETE FROM threads WHERE thread_id=?", (thread_id,))


def _settle_thread(
    conn: sqlite3.Connection, thread_id: str, ended: ThreadStatus, now: str
) -> ThreadStatus:
    """A run on the thread ended: its status, as `rules.runs.settled` decides, is written."""
    status = rules.settled(ended, others_active=bool(_active_ids(conn, thread_id)))
    conn.execute(
        "UPDATE threads SET status=?, updated_at=? WHERE thread_id=?", (status, now, thread_id)
    )
    return status


def _apply(
    conn: sqlite3.Connection, run_id: str, thread_id: str, effect: rules.Effect, now: str
) -> None:
    """Make the change `effect` says to the run, then to its thread."""
    if effect.change == "drop_thread":
        _drop_thread(conn, thread_id)
        return
    conn.execute(_CHANGES[effect.change], {"run_id": run_id, "cancel": effect.cancel, "now": now})
    if effect.thread_error is not None:
        conn.execute(
            "UPDATE threads SET error=?, interrupts=coalesce(interrupts, '{}') WHERE thread_id=?",
            (dump(effect.thread_error), thread_id),
        )
    if effect.settle is not None:
        _settle_thread(conn, thread_id, effect.settle, now)


def _queue_stats(n_pending: int, n_running: int, due: list[sqlite3.Row]) -> QueueStats:
    now = utcnow()
    waits = sorted((now - datetime.fromisoformat(row[0])).total_seconds() for row in due)
    unblocked = [
        (now - datetime.fromisoformat(row[0])).total_seconds() for row in due if not row[1]
    ]
    return QueueStats(
        n_pending=n_pending,
        n_running=n_running,
        pending_wait_max=waits[-1] if waits else None,
        pending_wait_median=statistics.median(waits) if waits else None,
        pending_unblocked_wait_max=max(unblocked) if unblocked else None,
    )


class SqliteRuns:
    takes_at_insert = True

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self,
        run: Run,
        *,
        create_thread: Thread | None,
        reject_if_busy: bool,
        read_here: bool = False,  # one process: every reader is here
        take: bool = False,
        assistant_as_of: tuple[int, str] | None = None,
    ) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            if assistant_as_of is not None:
                row = conn.execute(
                    "SELECT version, updated_at FROM assistants WHERE assistant_id=?",
                    (run["assistant_id"],),
                ).fetchone()
                if row is None or (row["version"], row["updated_at"]) != assistant_as_of:
                    raise StaleAssistant(run["assistant_id"])
            # Only the thread's metadata: its values (the whole state, growing with every
            # turn) are not needed here, and decoding them was a tenth of a thread's run.
            row = conn.execute(
                "SELECT metadata FROM threads WHERE thread_id=?", (run["thread_id"],)
            ).fetchone()
            if row is not None:
                stored: Json = load(row["metadata"])
            elif create_thread is not None:
                stored = create_thread["metadata"]
            else:
                raise rules.thread_missing()
            # Stamp the graph on the thread now (the reference waits for the run to end, which
            # leaves a stale graph_id on the thread and on the run's metadata meanwhile).
            metadata = {
                **stored,
                "graph_id": run["metadata"].get("graph_id"),
                "assistant_id": run["assistant_id"],
            }
            inflight: list[str]
            if row is not None:
                inflight = _active_ids(conn, run["thread_id"])
                if inflight and reject_if_busy:
                    raise rules.thread_busy()
                conn.execute(
                    "UPDATE threads SET status='busy', metadata=?, updated_at=? WHERE thread_id=?",
                    (dump(metadata), run["updated_at"], run["thread_id"]),
                )
            else:
                # A thread made for this run (stateless, `if_not_exists`): nothing can be active
                # on it, and it goes in as the update above would leave it.
                assert create_thread is not None
                inflight = []
                insert_thread(
                    conn,
                    {
                        **create_thread,
                        "status": "busy",
                        "metadata": metadata,
                        "updated_at": run["updated_at"],
                    },
                )
            # Taken: as `claim` leaves a run (attempt 1), in the statement that inserts it.
            taken = take and not inflight
            conn.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, metadata, status, kwargs,"
                " multitask_strategy, created_at, updated_at, attempt)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    run["run_id"],
                    run["thread_id"],
                    run["assistant_id"],
                    dump(run["metadata"]),
                    "running" if taken else run["status"],
                    dump(run["kwargs"]),
                    run["multitask_strategy"],
                    run["created_at"],
                    run["updated_at"],
                    1 if taken else 0,
                ),
            )
            return inflight

        return await self._db.write(job)

    async def get(self, run_id: str, thread_id: str | None = None) -> Run | None:
        def job(conn: sqlite3.Connection) -> Run | None:
            row = conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if row is None or (thread_id is not None and row["thread_id"] != thread_id):
                return None
            return _row(row)

        return await self._db.read(job)

    async def list_for_thread(
        self, thread_id: str, page: Page, status: RunStatus | None = None
    ) -> list[Run]:
        def job(conn: sqlite3.Connection) -> list[Run]:
            sql, params = "SELECT * FROM runs WHERE thread_id=?", [thread_id]
            if status is not None:
                sql += " AND status=?"
                params.append(status)
            sql += " ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?"
            return [_row(r) for r in conn.execute(sql, (*params, page.limit, page.offset))]

        return await self._db.read(job)

    async def delete(self, run_id: str, thread_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT status FROM runs WHERE run_id=? AND thread_id=?", (run_id, thread_id)
            ).fetchone()
            if row is None:
                return False
            rules.check_deletable(run_id, row["status"])
            conn.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
            return True

        return await self._db.write(job)

    async def claim(self, limit: int) -> Claim:
        def job(conn: sqlite3.Connection) -> Claim:
            now = now_iso()
            # The oldest pending run of each thread that has none running: runs queued on one
            # busy thread never crowd other threads out of the window.
            rows = conn.execute(
                "SELECT * FROM runs r WHERE r.status='pending'"
                " AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.thread_id=r.thread_id"
                "  AND (x.status='running' OR (x.status='pending'"
                "  AND (x.created_at, x.run_id) < (r.created_at, r.run_id))))"
                " ORDER BY r.created_at, r.run_id LIMIT ?",
                (limit,),
            ).fetchall()
            claimed: list[tuple[Run, int]] = []
            later: str | None = None
            for row in rows:
                if row["created_at"] > now:  # scheduled (after_seconds): not due yet
                    later = row["created_at"] if later is None else min(later, row["created_at"])
                    continue
                attempt = row["attempt"] + 1
                conn.execute(
                    "UPDATE runs SET status='running', attempt=?, updated_at=? WHERE run_id=?",
                    (attempt, now, row["run_id"]),
                )
                run = _row(row)
                run["status"], run["updated_at"] = "running", now
                claimed.append((run, attempt))
            if later is None:
                return Claim(claimed)
            due = (datetime.fromisoformat(later) - utcnow()).total_seconds()
            return Claim(claimed, max(0.0, due))

        return await self._db.write(job)

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
        rows = event_rows(events or {})
        usage_text = dump(usage) if usage is not None else None

        def job(conn: sqlite3.Connection) -> ThreadStatus | None:
            row = conn.execute(
                "SELECT thread_id, assistant_id FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
            if row is None:
                return None  # deleted meanwhile, with its thread
            thread_id, now = row["thread_id"], now_iso()
            if usage is not None:  # spent, however the run ended
                _count_usage(conn, row["assistant_id"], usage)
            if delete_thread:
                _drop_thread(conn, thread_id)
                return None
            insert_events(conn, rows)
            if status is None:
                conn.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
            else:
                conn.execute(
                    "UPDATE runs SET status=?, updated_at=?, cancel_action=NULL, usage=?"
                    " WHERE run_id=?",
                    (status, now, usage_text, run_id),
                )
            if snapshot is not None:
                write_snapshot(conn, thread_id, snapshot, now)
            has_next = snapshot is not None and snapshot.has_next
            ended = rules.thread_status_after(status, has_next=has_next)
            return _settle_thread(conn, thread_id, ended, now)

        return await self._db.write(job)

    async def thread_usage(self, thread_id: str) -> Json:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT usage FROM runs WHERE thread_id=? AND usage IS NOT NULL", (thread_id,)
            ).fetchall()
        )
        return usage_json.summed(load(row["usage"]) for row in rows)

    async def assistant_usage(self, assistant_id: str) -> Json:
        rows = await self._db.read(
            lambda conn: conn.execute(
                "SELECT * FROM usage_totals WHERE assistant_id=?", (assistant_id,)
            ).fetchall()
        )
        return usage_json.summed({"by_model": {row["model"]: dict(row)}} for row in rows)

    async def heartbeat(self, run_ids: Sequence[str]) -> dict[str, CancelAction | None]:
        # One process per database: no leases to renew, only cancels to report.
        marks = ",".join("?" * len(run_ids))
        rows = await self._db.read(
            lambda conn: conn.execute(
                f"SELECT run_id, cancel_action FROM runs WHERE status='running'"
                f" AND run_id IN ({marks})",
                tuple(run_ids),
            ).fetchall()
        )
        return {r["run_id"]: r["cancel_action"] for r in rows}

    async def requeue(self, run_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            # The attempt stays counted: it tells the next execution to resume from the
            # checkpoints this one wrote. A pending run is never failed for its attempts.
            conn.execute(
                "UPDATE runs SET status='pending', updated_at=?"
                " WHERE run_id=? AND status='running'",
                (now_iso(), run_id),
            )

        await self._db.write(job)

    async def request_cancel(
        self,
        action: CancelAction,
        *,
        run_ids: Sequence[str] | None = None,
        thread_id: str | None = None,
        status: str | None = None,
    ) -> list[CancelTarget]:
        def job(conn: sqlite3.Connection) -> list[CancelTarget]:
            sql = (
                "SELECT run_id, thread_id, status, kwargs FROM runs"
                " WHERE status IN ('pending','running')"
            )
            params: list[object] = []
            if run_ids is not None:
                sql += f" AND run_id IN ({','.join('?' * len(run_ids))})"
                params.extend(run_ids)
            if thread_id is not None:
                sql += " AND thread_id=?"
                params.append(thread_id)
            narrowed = rules.active_filter(status)
            if narrowed is not None:
                sql += " AND status=?"
                params.append(narrowed)
            rows = conn.execute(sql, params).fetchall()
            targets = [CancelTarget(r["run_id"], r["thread_id"], r["status"]) for r in rows]
            now = now_iso()
            for t, row in zip(targets, rows, strict=True):
                effect = rules.on_cancel(
                    action, t.status, temporary=is_temporary(load(row["kwargs"]))
                )
                _apply(conn, t.run_id, t.thread_id, effect, now)
            return targets

        return await self._db.write(job)

    async def stats(self) -> QueueStats:
        def job(conn: sqlite3.Connection) -> QueueStats:
            now = now_iso()
            n_running = conn.execute("SELECT count(*) FROM runs WHERE status='running'").fetchone()
            n_pending = conn.execute("SELECT count(*) FROM runs WHERE status='pending'").fetchone()
            due = conn.execute(
                "SELECT r.created_at, EXISTS (SELECT 1 FROM runs x WHERE x.thread_id=r.thread_id"
                " AND x.status='running') FROM runs r WHERE r.status='pending' AND r.created_at<=?",
                (now,),
            ).fetchall()
            return _queue_stats(n_pending[0], n_running[0], due)

        return await self._db.read(job)

    async def recover(self, max_attempts: int) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            now = now_iso()
            rows = conn.execute(
                "SELECT run_id, thread_id, attempt, kwargs, cancel_action FROM runs"
                " WHERE status='running'"
            ).fetchall()
            for row in rows:
                effect = rules.on_recover(
                    row["cancel_action"],
                    row["attempt"],
                    max_attempts,
                    temporary=is_temporary(load(row["kwargs"])),
                )
                _apply(conn, row["run_id"], row["thread_id"], effect, now)
            return [row["run_id"] for row in rows]

        return await self._db.write(job)
