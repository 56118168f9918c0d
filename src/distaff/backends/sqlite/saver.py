"""langgraph's checkpointer for SQLite, run on distaff's database thread.

`AsyncSqliteSaver` opens a second connection to the file. Two writers on one SQLite file take
turns through the file lock, and the loser sleeps in SQLite's busy handler (1 ms, then longer)
before retrying: under concurrent runs most of the time goes to those sleeps. langgraph's
synchronous `SqliteSaver`, run as jobs on the thread that already owns distaff's connection,
shares that connection instead: metadata and checkpoint writes queue behind each other in
memory, never on the file lock. Each call is still one thread hop, as with aiosqlite.

That saver keeps every channel's value inside each checkpoint, so each checkpoint encodes the
whole state again; a run on a thread writes three, the first (`source: input`, before any node
runs) holding exactly the values the run has just read. That one reuses the bytes they were
read from (`_Written`): encoding the messages of a long thread is most of a checkpoint's cost.
The bytes stored are the ones the serializer would write (`tests/test_sqlite_saver.py`).
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer, _msgpack_enc
from langgraph.checkpoint.sqlite import SqliteSaver

from distaff.backends.message_reuse import ReusingSerializer, reading, recorder_for, reusing
from distaff.backends.sqlite.database import Database

#: The last checkpoint written is kept for this many threads, and this many bytes in all.
_KEPT_THREADS = 64
_KEPT_BYTES = 8 * 2**20


def _map_header(size: int) -> bytes:
    """A msgpack map's header, as msgpack writes it (the shortest form)."""
    if size < 16:
        return bytes((0x80 | size,))
    if size < 2**16:
        return b"\xde" + struct.pack(">H", size)
    return b"\xdf" + struct.pack(">I", size)


class _Written:
    """A thread's last checkpoint as this process wrote it: each channel's encoded value and,
    once the checkpoint has been read back, the objects it was read as."""

    __slots__ = ("checkpoint_id", "pieces", "read", "size")

    def __init__(self, checkpoint_id: str, pieces: dict[str, bytes]) -> None:
        self.checkpoint_id = checkpoint_id
        self.pieces = pieces
        self.read: Mapping[str, Any] = {}
        self.size = sum(map(len, pieces.values()))

    @property
    def weight(self) -> int:
        """Its bytes, and the objects read at about three times theirs."""
        return self.size * 4 if self.read else self.size


class _Kept:
    """The `_Written` of the last threads, within bounds. One per saver, shared by its copies
    (langgraph copies a saver at compile time under strict msgpack), so the count stays true;
    used under the database's lock only."""

    def __init__(self) -> None:
        self.by_thread: OrderedDict[tuple[str, str], _Written] = OrderedDict()
        self.weight = 0

    def take(self, key: tuple[str, str]) -> _Written | None:
        written = self.by_thread.pop(key, None)
        if written is not None:
            self.weight -= written.weight
        return written

    def keep(self, key: tuple[str, str], written: _Written) -> None:
        if written.size <= _KEPT_BYTES:
            self.by_thread[key] = written
            self.weight += written.weight
            self._bound()

    def read(self, key: tuple[str, str], values: Mapping[str, Any]) -> None:
        written = self.by_thread[key]
        self.weight -= written.weight
        written.read = values
        self.weight += written.weight
        self.by_thread.move_to_end(key)  # the next to be written: the last to go
        self._bound()

    def _bound(self) -> None:
        while self.by_thread and (len(self.by_thread) > _KEPT_THREADS or self.weight > _KEPT_BYTES):
            _, dropped = self.by_thread.popitem(last=False)
            self.weight -= dropped.weight


class DatabaseSaver(SqliteSaver):
    def __init__(
        self, db: Database, conn: sqlite3.Connection, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(conn, serde=reusing(serde))
        self._db = db
        # Only langgraph's own serializer (as `ReusingSerializer` is, byte for byte): its
        # encoding of a checkpoint is what `_encode` writes piece by piece.
        self._reuses_bytes = type(self.serde) in (JsonPlusSerializer, ReusingSerializer)
        self._kept = _Kept()

    # -- synchronous calls: a job of the database's like the others --------------------------
    # A sync node that invokes a subgraph calls these from a worker thread. They hold the
    # database's (reentrant) lock, as the async methods' jobs below do: `SqliteSaver.cursor`
    # commits, and on the shared connection it would otherwise commit whatever transaction
    # another job has open.

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._db.call(lambda _: self._get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        found = self._db.call(
            lambda _: [*SqliteSaver.list(self, config, filter=filter, before=before, limit=limit)]
        )
        return iter(found)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._db.call(lambda _: self._put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._db.call(lambda _: SqliteSaver.put_writes(self, config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._db.call(lambda _: SqliteSaver.delete_thread(self, thread_id))

    def get_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        return self._db.call(lambda _: SqliteSaver.get_delta_channel_history(self, *args, **kwargs))

    # -- the input checkpoint from the bytes just read ---------------------------------------

    def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with reading(config):  # a run's read takes the messages its thread's last run wrote
            found = super().get_tuple(config)
        if found is not None and self._reuses_bytes:
            conf = found.config["configurable"]  # the config asked with, when it named one
            key = (str(conf["thread_id"]), conf.get("checkpoint_ns", ""))
            written = self._kept.by_thread.get(key)
            if written is not None and written.checkpoint_id == found.checkpoint["id"]:
                # Read from the bytes written here (this process is the file's only writer,
                # and a checkpoint's row is written once): the objects and their encoding.
                self._kept.read(key, dict(found.checkpoint["channel_values"]))
        return found

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        values = checkpoint["channel_values"]
        if not self._reuses_bytes or not all(type(name) is str for name in values):
            # (A name of another type is encoded as a map key differently than alone.)
            return super().put(config, checkpoint, metadata, new_versions)
        conf = config["configurable"]
        thread_id, checkpoint_ns = str(conf["thread_id"]), conf["checkpoint_ns"]
        key = (thread_id, checkpoint_ns)
        written = self._kept.take(key)
        # Only the input checkpoint reuses, and only values still the very objects read: it is
        # the state the run read. (It is written in the background and the first node may
        # already be running: a node changing a value in place leaves it as read here, where
        # encoding the value now would take the change.)
        reusable = written.read if written is not None and metadata.get("source") == "input" else {}
        # Its messages are kept for the thread's next run (`message_reuse.py`).
        recorder = recorder_for(self.serde, thread_id, config)
        try:
            blob, pieces = _encode(
                checkpoint, reusable, written, new_versions, recorder.encode if recorder else None
            )
        except ormsgpack.MsgpackEncodeError:
            # langgraph's pickle fallback, if configured, decides; nothing kept.
            return super().put(config, checkpoint, metadata, new_versions)
        # As `SqliteSaver.put` writes it, with the checkpoint encoded above.
        serialized_metadata = json.dumps(
            get_checkpoint_metadata(config, metadata), ensure_ascii=False
        ).encode("utf-8", "ignore")
        with self.cursor() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    thread_id,
                    checkpoint_ns,
                    checkpoint["id"],
                    conf.get("checkpoint_id"),
                    "msgpack",
                    blob,
                    serialized_metadata,
                ),
            )
        if recorder is not None:
            recorder.keep()
        self._kept.keep(key, _Written(checkpoint["id"], pieces))
        return {
            "configurable": {
                "thread_id": conf["thread_id"],
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def asetup(self) -> None:
        await self._db.read(lambda _: self.setup())

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._db.read(lambda _: self._get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await self._db.read(
            lambda _: list(
                SqliteSaver.list(self, config, filter=filter, before=before, limit=limit)
            )
        )
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._db.write(lambda _: self._put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._db.write(
            lambda _: SqliteSaver.put_writes(self, config, writes, task_id, task_path)
        )

    async def adelete_thread(self, thread_id: str) -> None:
        await self._db.write(lambda _: SqliteSaver.delete_thread(self, thread_id))

    async def aget_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        return await self._db.read(
            lambda _: SqliteSaver.get_delta_channel_history(self, *args, **kwargs)
        )


def _encode(
    checkpoint: Checkpoint,
    reusable: Mapping[str, Any],
    written: _Written | None,
    new_versions: ChannelVersions,
    encode: Callable[[Any], bytes] | None = None,
) -> tuple[bytes, dict[str, bytes]]:
    """The checkpoint as langgraph's serializer encodes it (a msgpack map, its entries in
    order), built from each channel value's own encoding: a value not changed since it was
    read (same object, same version) takes the bytes it was read from. `encode`: langgraph's
    encoding of one value, or a function making the same bytes."""
    encode = encode or _msgpack_enc
    pieces: dict[str, bytes] = {}
    parts = [_map_header(len(checkpoint))]
    for name, value in checkpoint.items():
        parts.append(_msgpack_enc(name))
        if name != "channel_values":
            parts.append(_msgpack_enc(value))
            continue
        values = checkpoint["channel_values"]
        parts.append(_map_header(len(values)))
        for channel, channel_value in values.items():
            if (
                written is not None
                and channel not in new_versions
                and channel in written.pieces
                and reusable.get(channel, _NONE) is channel_value
            ):
                piece = written.pieces[channel]
            else:
                piece = encode(channel_value)
            pieces[channel] = piece
            parts += (_msgpack_enc(channel), piece)
    return b"".join(parts), pieces


_NONE = object()
