"""langgraph's Postgres checkpointer as distaff runs it: fenced by leases, and writing a
checkpoint in one statement.

`AsyncPostgresSaver` writes a checkpoint as one upsert per changed channel's blob plus the
checkpoint's own, and a step's writes as one insert per write (executemany in a pipeline: each
is a statement the server parses and plans), and it serialises every operation of the process
through one `asyncio.Lock`, which a single shared connection needs and a pool does not: with
it, one client paging through a long history held up every run's checkpoint writes. Here:

- `aput` is one statement: the blobs go in through `unnest` in a common table expression of
  the checkpoint's upsert (3 -> 1 statements per checkpoint of a one-node run; blobs and
  checkpoint commit together, so no blob is ever left without the checkpoint that wrote it);
- `aput_writes` is one statement whatever the number of writes;
- operations on a pool take a connection each, without the lock.

The rows written are exactly those `AsyncPostgresSaver` writes (its own reads, list and
maintenance are unchanged): the tables stay langgraph's, and the plain saver reads them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from distaff.backends.message_reuse import Recorder, reading, recorder_for
from distaff.backends.postgres.leases import Leases

_PUT_CHECKPOINT = """
    WITH blobs AS (
        INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
        SELECT %(thread_id)s, %(ns)s, b.channel, b.version, b.type, b.blob
        FROM unnest(%(channels)s::text[], %(versions)s::text[], %(types)s::text[],
                    %(blobs)b::bytea[]) AS b (channel, version, type, blob)
        ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
    )
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
                             checkpoint, metadata)
    VALUES (%(thread_id)s, %(ns)s, %(checkpoint_id)s, %(parent_id)s, %(checkpoint)s,
            %(metadata)s)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
    DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
"""

_PUT_WRITES = """
    INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path,
                                   idx, channel, type, blob)
    SELECT %(thread_id)s, %(ns)s, %(checkpoint_id)s, %(task_id)s, %(task_path)s,
           w.idx, w.channel, w.type, w.blob
    FROM unnest(%(idx)s::integer[], %(channels)s::text[], %(types)s::text[],
                %(blobs)b::bytea[]) AS w (idx, channel, type, blob)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO {action}
"""
_UPSERT_WRITES = _PUT_WRITES.format(
    action="UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
)
_INSERT_WRITES = _PUT_WRITES.format(action="NOTHING")


class FencedSaver(AsyncPostgresSaver):
    """langgraph's Postgres saver, writing only for runs whose lease holds (see `leases.py`)."""

    leases: Leases

    @contextlib.asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        if not isinstance(self.conn, AsyncConnectionPool) or self.pipe is not None:
            async with super()._cursor(pipeline=pipeline) as cur:
                yield cur
            return
        # A connection of its own: nothing to serialise. (`pipeline` batches the saver's own
        # multi-statement operations; on a pooled autocommit connection they run as they come.)
        async with self.conn.connection() as conn:
            async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                yield cur

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with reading(config):  # a run's read takes the messages its thread's last run wrote
            return await super().aget_tuple(config)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self.leases.check(config)
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        ns = configurable["checkpoint_ns"]
        # As `AsyncPostgresSaver.aput`: primitive values stay inline in the checkpoint, the
        # others (and delta snapshots, marked True inline) go to blobs.
        inline = dict(checkpoint["channel_values"])
        blob_values: dict[str, Any] = {}
        for k, v in checkpoint["channel_values"].items():
            if isinstance(v, _DeltaSnapshot):
                blob_values[k] = inline.pop(k)
                inline[k] = True
            elif not (v is None or isinstance(v, str | int | float | bool)):
                blob_values[k] = inline.pop(k)
        # Serialised here, not in a thread as langgraph does: a thread hop costs more than
        # msgpack takes for all but very large states (the SQLite saver does the same).
        # Their messages are kept for the thread's next run (`message_reuse.py`).
        recorder = recorder_for(self.serde, str(thread_id), config)
        blobs = [
            (k, str(ver), *_dumps(self.serde, blob_values[k], recorder))
            for k, ver in new_versions.items()
            if k in blob_values
        ]
        params = {
            "thread_id": thread_id,
            "ns": ns,
            "checkpoint_id": checkpoint["id"],
            "parent_id": configurable.get("checkpoint_id"),
            "checkpoint": Jsonb({**checkpoint, "channel_values": inline}),
            "metadata": Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
            "channels": [b[0] for b in blobs],
            "versions": [b[1] for b in blobs],
            "types": [b[2] for b in blobs],
            "blobs": [b[3] for b in blobs],
        }
        async with self._cursor() as cur:
            await cur.execute(_PUT_CHECKPOINT, params)
        if recorder is not None:
            recorder.keep()
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.leases.check(config)
        if not writes:
            return
        # As langgraph: special channels (errors, interrupts...) have fixed indexes and replace
        # what an earlier attempt wrote; other writes keep the first attempt's. One statement may
        # not touch a row twice, so of writes sharing an index the one executemany would have
        # left stays: the last for an upsert, the first for an insert.
        upsert = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        rows: dict[int, tuple[str, str, bytes]] = {}
        for i, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, i)
            if upsert or idx not in rows:
                rows[idx] = (channel, *self.serde.dumps_typed(value))
        configurable = config["configurable"]
        params = {
            "thread_id": configurable["thread_id"],
            "ns": configurable["checkpoint_ns"],
            "checkpoint_id": configurable["checkpoint_id"],
            "task_id": task_id,
            "task_path": task_path,
            "idx": list(rows),
            "channels": [r[0] for r in rows.values()],
            "types": [r[1] for r in rows.values()],
            "blobs": [r[2] for r in rows.values()],
        }
        async with self._cursor() as cur:
            await cur.execute(_UPSERT_WRITES if upsert else _INSERT_WRITES, params)


def _dumps(serde: SerializerProtocol, value: Any, recorder: Recorder | None) -> tuple[str, bytes]:
    """`serde.dumps_typed(value)`, through `recorder` where that makes the same bytes."""
    if recorder is None or value is None or isinstance(value, bytes | bytearray):
        return serde.dumps_typed(value)
    try:
        return "msgpack", recorder.encode(value)
    except ormsgpack.MsgpackEncodeError:
        return serde.dumps_typed(value)  # its fallback (pickle, if configured) decides
