"""Checkpoint maintenance on the tables of langgraph's `AsyncPostgresSaver`.

Unlike the SQLite saver, it keeps channel values apart from checkpoints: `checkpoint_blobs` holds
one row per (thread, namespace, channel, version), and a checkpoint points at its values through
`checkpoint -> 'channel_versions'`, so successive checkpoints share the rows of the channels that
did not change. Deleting checkpoints thus deletes only the blobs that they referenced and no
checkpoint left in their namespace still does. Blobs nobody references at all are left alone: a
run saving a checkpoint writes its blobs first, in their own statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from psycopg.rows import DictRow

from distaff.backends.base import StoredBytes, ThreadStorage
from distaff.backends.postgres.database import Connection, Database
from distaff.backends.rules.checkpoints import retention_cut

# Both end in a SELECT of the (namespace, channel, version) that the deleted checkpoints
# referenced. A checkpoint's writes go by its deleted ID, not by "every checkpoint but the
# kept ones": a run saves a step's writes in the background, and they may commit before the
# checkpoint they belong to does.
_FREED = """
, _writes AS (
    DELETE FROM checkpoint_writes w USING _deleted d
    WHERE w.thread_id = %(thread_id)s
    AND w.checkpoint_ns = d.checkpoint_ns AND w.checkpoint_id = d.checkpoint_id
)
SELECT DISTINCT d.checkpoint_ns, v.key AS channel, v.value AS version
FROM _deleted d CROSS JOIN LATERAL jsonb_each_text(d.versions) AS v
"""

_DELETE_RUN = (
    """
WITH _deleted AS (
    DELETE FROM checkpoints
    WHERE thread_id = %(thread_id)s AND metadata ->> 'run_id' = %(run_id)s
    RETURNING checkpoint_ns, checkpoint_id, checkpoint -> 'channel_versions' AS versions
)"""
    + _FREED
)

# The newest checkpoint of each namespace stays (IDs are uuid6, ordered by time, as the saver
# itself assumes). One statement, one snapshot: a checkpoint saved meanwhile is not deleted.
_DELETE_ALL_BUT_LATEST = (
    """
WITH _latest AS (
    SELECT DISTINCT ON (checkpoint_ns) checkpoint_ns, checkpoint_id FROM checkpoints
    WHERE thread_id = %(thread_id)s ORDER BY checkpoint_ns, checkpoint_id DESC
), _deleted AS (
    DELETE FROM checkpoints c
    WHERE c.thread_id = %(thread_id)s AND NOT EXISTS (
        SELECT 1 FROM _latest l
        WHERE l.checkpoint_ns = c.checkpoint_ns AND l.checkpoint_id = c.checkpoint_id
    )
    RETURNING c.checkpoint_ns, c.checkpoint_id, c.checkpoint -> 'channel_versions' AS versions
)"""
    + _FREED
)

# Run after the deletion, as its own statement, so `_referenced` sees the checkpoints that
# remain (and any saved since). EXCEPT is a set difference, not a per-blob scan of the thread.
_DELETE_UNREFERENCED_BLOBS = """
WITH _referenced AS (
    SELECT c.checkpoint_ns, v.key AS channel, v.value AS version
    FROM checkpoints c
    CROSS JOIN LATERAL jsonb_each_text(c.checkpoint -> 'channel_versions') AS v
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = ANY(%(namespaces)s::text[])
), _garbage AS (
    SELECT * FROM unnest(%(ns)s::text[], %(channel)s::text[], %(version)s::text[])
        AS f(checkpoint_ns, channel, version)
    EXCEPT
    SELECT checkpoint_ns, channel, version FROM _referenced
)
DELETE FROM checkpoint_blobs b USING _garbage g
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = g.checkpoint_ns
AND b.channel = g.channel AND b.version = g.version
"""


# The `keep_last`-th checkpoint of the main line: the root namespace's latest, then parents.
_NTH_OF_MAIN_LINE = """
WITH RECURSIVE line(checkpoint_id, parent_checkpoint_id, depth) AS (
    SELECT checkpoint_id, parent_checkpoint_id, 1 FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id = (
        SELECT max(checkpoint_id) FROM checkpoints
        WHERE thread_id = %(thread_id)s AND checkpoint_ns = ''
    )
    UNION ALL
    SELECT c.checkpoint_id, c.parent_checkpoint_id, line.depth + 1
    FROM checkpoints c JOIN line ON c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
        AND c.checkpoint_id = line.parent_checkpoint_id
    WHERE line.depth < %(keep_last)s
)
SELECT checkpoint_id FROM line WHERE depth = %(keep_last)s
"""
# Older than the cut and than the root's latest checkpoint (so never that one, nor a paused
# subgraph's, written after it: see the SQLite backend); one statement, one snapshot.
_DELETE_OLDER = (
    """
WITH _deleted AS (
    DELETE FROM checkpoints c
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_id < %(cut)s AND c.checkpoint_id < (
        SELECT max(checkpoint_id) FROM checkpoints
        WHERE thread_id = %(thread_id)s AND checkpoint_ns = ''
    )
    RETURNING c.checkpoint_ns, c.checkpoint_id, c.checkpoint -> 'channel_versions' AS versions
)"""
    + _FREED
)
_COUNT = "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s"


async def _count(conn: Connection, thread_id: str) -> int:
    row = await (await conn.execute(_COUNT, (thread_id,))).fetchone()
    return int(row["n"]) if row is not None else 0


async def _delete_blobs(conn: Connection, thread_id: str, freed: list[DictRow]) -> None:
    if not freed:
        return
    params = {
        "thread_id": thread_id,
        "namespaces": sorted({r["checkpoint_ns"] for r in freed}),
        "ns": [r["checkpoint_ns"] for r in freed],
        "channel": [r["channel"] for r in freed],
        "version": [r["version"] for r in freed],
    }
    await conn.execute(_DELETE_UNREFERENCED_BLOBS, params)


class PostgresCheckpointAdmin:
    def __init__(self, db: Database, saver: BaseCheckpointSaver[Any]) -> None:
        self._db = db
        self._saver = saver

    def cannot(self, operation: str) -> str | None:
        return None  # all of it, on its own tables

    async def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        params = (target_thread_id, source_thread_id)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, type, checkpoint, metadata) SELECT %s, checkpoint_ns,"
                " checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
                " FROM checkpoints WHERE thread_id = %s",
                params,
            )
            await conn.execute(
                "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type,"
                " blob) SELECT %s, checkpoint_ns, channel, version, type, blob"
                " FROM checkpoint_blobs WHERE thread_id = %s",
                params,
            )
            await conn.execute(
                "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id,"
                " task_path, idx, channel, type, blob) SELECT %s, checkpoint_ns, checkpoint_id,"
                " task_id, task_path, idx, channel, type, blob"
                " FROM checkpoint_writes WHERE thread_id = %s",
                params,
            )

    async def storage(self, thread_id: str) -> ThreadStorage:
        usage = ThreadStorage()
        async with self._db.transaction() as conn:  # one snapshot for the three figures
            cur = await conn.execute(
                "SELECT count(*) AS n, coalesce(sum(pg_column_size(checkpoint)"
                " + pg_column_size(metadata)), 0) AS bytes FROM checkpoints WHERE thread_id = %s",
                (thread_id,),
            )
            row = await cur.fetchone()
            if row is not None:
                usage.checkpoints, usage.checkpoint_bytes = int(row["n"]), int(row["bytes"])
            cur = await conn.execute(
                "SELECT channel, count(*) AS n, coalesce(sum(octet_length(blob)), 0) AS bytes"
                " FROM checkpoint_blobs WHERE thread_id = %s GROUP BY channel ORDER BY channel",
                (thread_id,),
            )
            for row in await cur.fetchall():
                usage.channels[row["channel"]] = [int(row["n"]), int(row["bytes"])]
            cur = await conn.execute(
                "SELECT count(*) AS n, coalesce(sum(octet_length(blob)), 0) AS bytes"
                " FROM checkpoint_writes WHERE thread_id = %s",
                (thread_id,),
            )
            row = await cur.fetchone()
            if row is not None:
                usage.writes, usage.write_bytes = int(row["n"]), int(row["bytes"])
        return usage

    async def delete_for_run(self, thread_id: str, run_id: str) -> None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(_DELETE_RUN, {"thread_id": thread_id, "run_id": run_id})
            await _delete_blobs(conn, thread_id, await cur.fetchall())

    async def delete_thread(self, thread_id: str) -> None:
        await self._saver.adelete_thread(thread_id)

    async def keep_latest(self, thread_id: str) -> None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(_DELETE_ALL_BUT_LATEST, {"thread_id": thread_id})
            await _delete_blobs(conn, thread_id, await cur.fetchall())

    async def retain(self, thread_id: str, keep_last: int | None, older_than: str | None) -> int:
        async with self._db.transaction() as conn:
            nth = None
            if keep_last is not None:
                cur = await conn.execute(
                    _NTH_OF_MAIN_LINE, {"thread_id": thread_id, "keep_last": keep_last}
                )
                row = await cur.fetchone()
                nth = row["checkpoint_id"] if row is not None else None
            cut = retention_cut(nth, older_than)
            if cut is None:
                return 0
            before = await _count(conn, thread_id)
            cur = await conn.execute(_DELETE_OLDER, {"thread_id": thread_id, "cut": cut})
            await _delete_blobs(conn, thread_id, await cur.fetchall())
            return max(0, before - await _count(conn, thread_id))

    async def sizes(self, thread_ids: Sequence[str]) -> dict[str, StoredBytes]:
        if not thread_ids:
            return {}
        ids = list(thread_ids)
        out: dict[str, StoredBytes] = {}
        async with self._db.transaction() as conn:  # one snapshot for the three figures
            cur = await conn.execute(
                "SELECT thread_id, count(*) AS n, sum(pg_column_size(checkpoint)"
                " + pg_column_size(metadata)) AS bytes FROM checkpoints"
                " WHERE thread_id = ANY(%s) GROUP BY thread_id",
                (ids,),
            )
            for row in await cur.fetchall():
                out[row["thread_id"]] = StoredBytes(int(row["n"]), int(row["bytes"] or 0))
            for table, attribute in _VALUE_TABLES:
                cur = await conn.execute(
                    f"SELECT thread_id, sum(octet_length(blob)) AS bytes FROM {table}"
                    " WHERE thread_id = ANY(%s) GROUP BY thread_id",
                    (ids,),
                )
                for row in await cur.fetchall():
                    size = out.setdefault(row["thread_id"], StoredBytes())
                    setattr(size, attribute, int(row["bytes"] or 0))
        return out


#: The tables `sizes` sums besides checkpoints, and where each goes.
_VALUE_TABLES = (("checkpoint_blobs", "blob_bytes"), ("checkpoint_writes", "write_bytes"))
