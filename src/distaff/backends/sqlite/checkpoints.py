"""Checkpoint maintenance on the tables of langgraph's `SqliteSaver` (see `saver.py`)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from distaff.backends.base import StoredBytes, ThreadStorage
from distaff.backends.rules.checkpoints import retention_cut
from distaff.backends.sqlite.database import Database

_RUN_CHECKPOINTS = (
    "SELECT checkpoint_ns, checkpoint_id FROM checkpoints"
    " WHERE thread_id=? AND json_extract(CAST(metadata AS TEXT), '$.run_id') = ?"
)


# The `keep_last`-th checkpoint of the main line: the root namespace's latest, then parents.
_NTH_OF_MAIN_LINE = """
WITH RECURSIVE line(checkpoint_id, parent_checkpoint_id, depth) AS (
    SELECT checkpoint_id, parent_checkpoint_id, 1 FROM checkpoints
    WHERE thread_id = :thread_id AND checkpoint_ns = '' AND checkpoint_id = (
        SELECT max(checkpoint_id) FROM checkpoints
        WHERE thread_id = :thread_id AND checkpoint_ns = ''
    )
    UNION ALL
    SELECT c.checkpoint_id, c.parent_checkpoint_id, line.depth + 1
    FROM checkpoints c JOIN line ON c.thread_id = :thread_id AND c.checkpoint_ns = ''
        AND c.checkpoint_id = line.parent_checkpoint_id
    WHERE line.depth < :keep_last
)
SELECT checkpoint_id FROM line WHERE depth = :keep_last
"""
# Older than the cut, never the root's newest. A subgraph call has a namespace of its own (its
# task's), so its checkpoints go once older than the cut and than the root's latest checkpoint:
# a subgraph paused in an interrupt wrote its checkpoints during the root's pending step, after
# the root's latest. (IDs are uuid6, ordered by time.)
_ROOT_LATEST = (
    "(SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = :thread_id"
    " AND checkpoint_ns = '')"
)
_OLDER = f"thread_id = :thread_id AND checkpoint_id < :cut AND checkpoint_id < {_ROOT_LATEST}"


class SqliteCheckpointAdmin:
    def __init__(self, db: Database, saver: BaseCheckpointSaver[Any]) -> None:
        self._db = db
        self._saver = saver

    def cannot(self, operation: str) -> str | None:
        return None  # all of it, on its own tables

    async def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, type, checkpoint, metadata) SELECT ?, checkpoint_ns,"
                " checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints"
                " WHERE thread_id=?",
                (target_thread_id, source_thread_id),
            )
            conn.execute(
                "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path,"
                " idx, channel, type, value) SELECT ?, checkpoint_ns, checkpoint_id, task_id,"
                " task_path, idx, channel, type, value FROM writes WHERE thread_id=?",
                (target_thread_id, source_thread_id),
            )

        await self._db.write(job)

    async def storage(self, thread_id: str) -> ThreadStorage:
        """langgraph's SQLite saver keeps every channel value inside each checkpoint that has
        it, so the values are counted there, copy by copy, and a checkpoint's own bytes are
        what is left: the total is what the thread really occupies in the file."""

        def job(conn: sqlite3.Connection) -> tuple[list[Any], Any]:
            rows = conn.execute(
                "SELECT type, checkpoint, length(checkpoint) + coalesce(length(metadata), 0)"
                " FROM checkpoints WHERE thread_id=?",
                (thread_id,),
            ).fetchall()
            writes = conn.execute(
                "SELECT count(*), coalesce(sum(length(value)), 0) FROM writes WHERE thread_id=?",
                (thread_id,),
            ).fetchone()
            return [tuple(r) for r in rows], tuple(writes)

        rows, (writes, write_bytes) = await self._db.read(job)
        # Decoding is CPU work: off the database thread and off the event loop.
        return await asyncio.to_thread(self._measure, rows, int(writes), int(write_bytes))

    def _measure(self, rows: list[Any], writes: int, write_bytes: int) -> ThreadStorage:
        serde = self._saver.serde
        usage = ThreadStorage(writes=writes, write_bytes=write_bytes)
        for kind, blob, size in rows:
            inline = 0
            checkpoint = serde.loads_typed((kind, blob)) if blob is not None else {}
            for channel, value in (checkpoint.get("channel_values") or {}).items():
                value_bytes = len(serde.dumps_typed(value)[1])
                usage.add_value(channel, value_bytes)
                inline += value_bytes
            usage.checkpoints += 1
            usage.checkpoint_bytes += max(0, int(size) - inline)
        return usage

    async def delete_for_run(self, thread_id: str, run_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            for ns, checkpoint_id in conn.execute(_RUN_CHECKPOINTS, (thread_id, run_id)).fetchall():
                key = (thread_id, ns, checkpoint_id)
                conn.execute(
                    "DELETE FROM writes WHERE thread_id=? AND checkpoint_ns=? AND checkpoint_id=?",
                    key,
                )
                conn.execute(
                    "DELETE FROM checkpoints WHERE thread_id=? AND checkpoint_ns=?"
                    " AND checkpoint_id=?",
                    key,
                )

        await self._db.write(job)

    async def delete_thread(self, thread_id: str) -> None:
        await self._saver.adelete_thread(thread_id)

    async def keep_latest(self, thread_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            latest = (
                "SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id=?"
                " GROUP BY checkpoint_ns"
            )
            conn.execute(
                f"DELETE FROM writes WHERE thread_id=? AND checkpoint_id NOT IN ({latest})",
                (thread_id, thread_id),
            )
            conn.execute(
                f"DELETE FROM checkpoints WHERE thread_id=? AND checkpoint_id NOT IN ({latest})",
                (thread_id, thread_id),
            )

        await self._db.write(job)

    async def retain(self, thread_id: str, keep_last: int | None, older_than: str | None) -> int:
        def job(conn: sqlite3.Connection) -> int:
            nth = None
            if keep_last is not None:
                row = conn.execute(
                    _NTH_OF_MAIN_LINE, {"thread_id": thread_id, "keep_last": keep_last}
                ).fetchone()
                nth = row[0] if row is not None else None
            cut = retention_cut(nth, older_than)
            if cut is None:
                return 0
            params = {"thread_id": thread_id, "cut": cut}
            conn.execute(f"DELETE FROM writes WHERE {_OLDER}", params)
            return conn.execute(f"DELETE FROM checkpoints WHERE {_OLDER}", params).rowcount

        return await self._db.write(job)

    async def sizes(self, thread_ids: Sequence[str]) -> dict[str, StoredBytes]:
        if not thread_ids:
            return {}
        marks = ",".join("?" * len(thread_ids))

        def job(conn: sqlite3.Connection) -> dict[str, StoredBytes]:
            out: dict[str, StoredBytes] = {}
            for tid, n, size in conn.execute(
                "SELECT thread_id, count(*), sum(length(checkpoint) + coalesce(length(metadata),"
                f" 0)) FROM checkpoints WHERE thread_id IN ({marks}) GROUP BY thread_id",
                tuple(thread_ids),
            ):
                out[tid] = StoredBytes(checkpoints=n, checkpoint_bytes=size or 0)
            for tid, size in conn.execute(
                "SELECT thread_id, sum(length(value)) FROM writes"
                f" WHERE thread_id IN ({marks}) GROUP BY thread_id",
                tuple(thread_ids),
            ):
                out.setdefault(tid, StoredBytes()).write_bytes = size or 0
            return out

        return await self._db.read(job)
