"""A checkpointer that encrypts what it hands the real one, and decrypts what it reads back.

langgraph's serializer is synchronous and the handlers are async, so the values are sealed here,
in the async methods, before the inner saver sees them: each channel value and pending write is
serialised with the inner saver's own serde (its allow-lists still decide what is revived), the
bytes blob-encrypted, and the inner saver given `{SEALED: ciphertext}` in the value's place: a
dict of bytes, which every langgraph serde stores and gives back as it was, whether it writes
each value apart (memory, PostgreSQL) or the whole checkpoint at once (SQLite). Checkpoint
metadata goes through the JSON handlers, except the keys the server and langgraph read in the
database or filter history by (`RESERVED_METADATA`), which stay plain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)

from distaff.backends.encrypted.bridge import run_on
from distaff.backends.encrypted.cipher import Cipher, EncryptionError

#: The key of the stand-in a sealed value is stored as (a plain value never has it).
SEALED = "__distaff_sealed__"

#: Checkpoint metadata keys kept plain: langgraph's own (history filters on `source`/`step`),
#: the run's id (the backends delete a rolled-back run's checkpoints by it, in SQL), and the ids
#: the server stamps on every run (searched and grouped by, never secret).
RESERVED_METADATA = frozenset(
    {
        "source",
        "step",
        "parents",
        "run_id",
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "assistant_id",
        "graph_id",
    }
)

_SYNC = (
    "the encrypted checkpointer cannot be called synchronously on the server's event loop (the"
    " encryption handlers are async): use the graph's async API there (ainvoke, astream,"
    " aget_state)"
)

T = TypeVar("T")


class EncryptedSaver(BaseCheckpointSaver[Any]):
    def __init__(
        self,
        inner: BaseCheckpointSaver[Any],
        cipher: Cipher,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self._cipher = cipher
        # Opened on the server's loop: a sync graph node (run on a worker thread) calling a
        # subgraph's `invoke` uses the sync methods, whose calls are run there, where the async
        # handlers can be awaited.
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self._loop = loop

    @property
    def config_specs(self) -> list[Any]:
        return self.inner.config_specs

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> EncryptedSaver:
        # The allow-list is the inner serde's business: it is the one that revives values.
        inner = self.inner.with_allowlist(extra_allowlist)
        return self if inner is self.inner else EncryptedSaver(inner, self._cipher, self._loop)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)

    # -- sealing -------------------------------------------------------------------------------

    async def _seal_value(self, field: str, value: Any) -> Any:
        if not self._cipher.seals_blobs:
            return value
        kind, data = self.inner.serde.dumps_typed(value)
        plain = kind.encode() + b"\n" + data
        return {SEALED: await self._cipher.seal_blob("checkpoint", field, plain)}

    async def _open_value(self, field: str, value: Any) -> Any:
        if not (isinstance(value, dict) and value.keys() == {SEALED}):
            return value  # written before encryption was configured, or blobs not encrypted
        plain = await self._cipher.open_blob("checkpoint", field, value[SEALED])
        kind, sep, data = plain.partition(b"\n")
        if not sep:
            raise EncryptionError(f"checkpoint.{field}: the decrypted value is malformed")
        return self.inner.serde.loads_typed((kind.decode(), data))

    async def _seal_metadata(self, metadata: CheckpointMetadata) -> CheckpointMetadata:
        secret = {k: v for k, v in metadata.items() if k not in RESERVED_METADATA}
        if not secret:
            return metadata
        sealed = await self._cipher.seal_json("checkpoint", "metadata", secret)
        return {**metadata, **sealed}  # type: ignore[typeddict-item]

    async def _open_metadata(self, metadata: CheckpointMetadata) -> CheckpointMetadata:
        secret = {k: v for k, v in metadata.items() if k not in RESERVED_METADATA}
        if not secret:
            return metadata
        opened = await self._cipher.open_json("checkpoint", "metadata", secret)
        return {**metadata, **opened}  # type: ignore[typeddict-item]

    async def _open(self, item: CheckpointTuple | None) -> CheckpointTuple | None:
        if item is None:
            return None
        checkpoint = item.checkpoint
        values = {
            k: await self._open_value("channel_values", v)
            for k, v in checkpoint["channel_values"].items()
        }
        writes = None
        if item.pending_writes is not None:
            writes = [
                (task, channel, await self._open_value("writes", value))
                for task, channel, value in item.pending_writes
            ]
        return CheckpointTuple(
            config=item.config,
            checkpoint={**checkpoint, "channel_values": values},
            metadata=await self._open_metadata(item.metadata),
            parent_config=item.parent_config,
            pending_writes=writes,
        )

    # -- what langgraph calls ------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._open(await self.inner.aget_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        # A filter on an encrypted metadata value matches nothing, as the docs say.
        async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
            opened = await self._open(item)
            assert opened is not None
            yield opened

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        values = {
            k: await self._seal_value("channel_values", v)
            for k, v in checkpoint["channel_values"].items()
        }
        sealed: Checkpoint = {**checkpoint, "channel_values": values}
        # The inner saver would add the config's metadata (the run's) and primitive
        # configurable values to the checkpoint's in plain: merged and sealed here instead, so
        # it finds every key already there and adds nothing.
        merged = get_checkpoint_metadata(config, metadata)
        return await self.inner.aput(
            config, sealed, await self._seal_metadata(merged), new_versions
        )

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        sealed = [(channel, await self._seal_value("writes", v)) for channel, v in writes]
        await self.inner.aput_writes(config, sealed, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.inner.adelete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self.inner.adelete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.inner.acopy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self.inner.aprune(thread_ids, strategy=strategy)

    # `aget_delta_channel_history` is left to the base class: it walks `aget_tuple`, which
    # decrypts (the inner savers' faster overrides would return sealed values).

    # -- the synchronous interface: run on the server's loop, from another thread -------------

    def _sync(self, call: Coroutine[Any, Any, T]) -> T:
        return run_on(self._loop, call, _SYNC)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        async def collect() -> list[CheckpointTuple]:
            found = self.alist(config, filter=filter, before=before, limit=limit)
            return [item async for item in found]

        return iter(self._sync(collect()))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._sync(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._sync(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)
