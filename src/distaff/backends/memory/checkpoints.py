"""Checkpoint maintenance on langgraph's `InMemorySaver` dictionaries."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from distaff.backends.base import ThreadStorage


class MemoryCheckpointAdmin:
    def __init__(self, saver: InMemorySaver) -> None:
        self._saver = saver

    async def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        s = self._saver
        for ns, checkpoints in list(s.storage.get(source_thread_id, {}).items()):
            s.storage[target_thread_id][ns].update(checkpoints)
        for (thread_id, ns, checkpoint_id), writes in list(s.writes.items()):
            if thread_id == source_thread_id:
                s.writes[(target_thread_id, ns, checkpoint_id)] = dict(writes)
        for (thread_id, ns, channel, version), blob in list(s.blobs.items()):
            if thread_id == source_thread_id:
                s.blobs[(target_thread_id, ns, channel, version)] = blob

    async def storage(self, thread_id: str) -> ThreadStorage:
        s, usage = self._saver, ThreadStorage()
        for checkpoints in s.storage.get(thread_id, {}).values():
            for checkpoint, metadata, _ in checkpoints.values():
                usage.checkpoints += 1
                usage.checkpoint_bytes += len(checkpoint[1]) + len(metadata[1])
        for (tid, _, channel, _), (_, blob) in list(s.blobs.items()):
            if tid == thread_id:
                usage.add_value(channel, len(blob))
        for (tid, _, _), writes in list(s.writes.items()):
            if tid == thread_id:
                for _, _, (_, blob), _ in writes.values():
                    usage.writes += 1
                    usage.write_bytes += len(blob)
        return usage

    async def delete_for_run(self, thread_id: str, run_id: str) -> None:
        s = self._saver
        for ns, checkpoints in list(s.storage.get(thread_id, {}).items()):
            for checkpoint_id, (_, metadata, _) in list(checkpoints.items()):
                meta: dict[str, Any] = s.serde.loads_typed(metadata)
                if meta.get("run_id") == run_id:
                    del checkpoints[checkpoint_id]
                    s.writes.pop((thread_id, ns, checkpoint_id), None)

    async def delete_thread(self, thread_id: str) -> None:
        await self._saver.adelete_thread(thread_id)

    async def keep_latest(self, thread_id: str) -> None:
        s = self._saver
        for ns, checkpoints in list(s.storage.get(thread_id, {}).items()):
            if not checkpoints:
                continue
            latest = max(checkpoints)
            for checkpoint_id in [c for c in checkpoints if c != latest]:
                del checkpoints[checkpoint_id]
                s.writes.pop((thread_id, ns, checkpoint_id), None)
