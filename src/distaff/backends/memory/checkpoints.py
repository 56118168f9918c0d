"""Checkpoint maintenance on langgraph's `InMemorySaver` dictionaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from distaff.backends.base import StoredBytes, ThreadStorage
from distaff.backends.rules.checkpoints import retention_cut


class MemoryCheckpointAdmin:
    def __init__(self, saver: InMemorySaver) -> None:
        self._saver = saver

    def cannot(self, operation: str) -> str | None:
        return None  # all of it, on its own tables

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

    async def retain(self, thread_id: str, keep_last: int | None, older_than: str | None) -> int:
        s = self._saver
        namespaces = s.storage.get(thread_id, {})
        root = namespaces.get("", {})
        nth: str | None = None
        if keep_last is not None and root:
            nth = max(root)  # the main line's latest, then its parents
            for _ in range(keep_last - 1):
                parent = root[nth][2] if nth is not None else None
                nth = parent if parent in root else None
        cut = retention_cut(nth, older_than)
        if cut is None:
            return 0
        if not root:
            return 0
        # As on SQLite: older than the cut and than the root's latest (a paused subgraph's
        # checkpoints come after it).
        cut = min(cut, max(root))
        deleted = 0
        for ns, checkpoints in list(namespaces.items()):
            for checkpoint_id in [c for c in checkpoints if c < cut]:
                del checkpoints[checkpoint_id]
                s.writes.pop((thread_id, ns, checkpoint_id), None)
                deleted += 1
        self._drop_unreferenced_blobs(thread_id)
        return deleted

    def _drop_unreferenced_blobs(self, thread_id: str) -> None:
        s = self._saver
        referenced = {
            (ns, channel, version)
            for ns, checkpoints in s.storage.get(thread_id, {}).items()
            for checkpoint, _, _ in checkpoints.values()
            for channel, version in s.serde.loads_typed(checkpoint)["channel_versions"].items()
        }
        for key in [k for k in s.blobs if k[0] == thread_id]:
            if key[1:] not in referenced:
                del s.blobs[key]

    async def sizes(self, thread_ids: Sequence[str]) -> dict[str, StoredBytes]:
        s, wanted = self._saver, set(thread_ids)
        out: dict[str, StoredBytes] = {}
        for thread_id in wanted & set(s.storage):
            size = out[thread_id] = StoredBytes()
            for checkpoints in s.storage[thread_id].values():
                for checkpoint, metadata, _ in checkpoints.values():
                    size.checkpoints += 1
                    size.checkpoint_bytes += len(checkpoint[1]) + len(metadata[1])
        for (tid, _, _, _), (_, blob) in list(s.blobs.items()):
            if tid in out:
                out[tid].blob_bytes += len(blob)
        for (tid, _, _), writes in list(s.writes.items()):
            if tid in out:
                out[tid].write_bytes += sum(len(w[2][1]) for w in writes.values())
        return out
