"""Checkpoint maintenance through a saver's public interface only, for a custom checkpointer
(`checkpointer.path`), whose tables distaff does not know.

What `BaseCheckpointSaver` offers decides what works: listing (`alist`) gives copy and storage
accounting for every saver; deleting a thread, one run's checkpoints or all but the latest needs
the saver to implement `adelete_thread`, `adelete_for_runs` or `aprune`; cutting old checkpoints
one by one (retention) has no public method at all. What the saver cannot do is refused up
front with the reason (`cannot`), never half done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from distaff.backends.base import StoredBytes, ThreadStorage
from distaff.errors import Unsupported
from distaff.serde import dumps

#: What each admin operation needs of the saver: the `BaseCheckpointSaver` method that it must
#: implement (the base class raises NotImplementedError).
_NEEDS = {
    "delete_thread": "adelete_thread",
    "delete_for_run": "adelete_for_runs",
    "keep_latest": "aprune",
}


def implements(saver: BaseCheckpointSaver[Any], method: str) -> bool:
    """Whether the saver's class overrides `method` of `BaseCheckpointSaver`."""
    return getattr(type(saver), method, None) is not getattr(BaseCheckpointSaver, method, None)


class SaverCheckpointAdmin:
    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        self._saver = saver
        self._name = f"{type(saver).__module__}.{type(saver).__qualname__}"

    def cannot(self, operation: str) -> str | None:
        if operation == "retain":
            return (
                f"checkpoint retention needs distaff's own checkpointer: the configured one"
                f" ({self._name}) has no public way to delete single checkpoints"
            )
        method = _NEEDS.get(operation)
        if method is None or implements(self._saver, method):
            return None
        return f"the configured checkpointer ({self._name}) does not implement {method}"

    def _require(self, operation: str) -> None:
        if (reason := self.cannot(operation)) is not None:
            raise Unsupported(reason)

    async def _tuples(self, thread_id: str) -> list[CheckpointTuple]:
        """Every checkpoint of the thread, in every namespace, oldest first (parents before
        their children, as a copy must put them)."""
        found = [t async for t in self._saver.alist({"configurable": {"thread_id": thread_id}})]
        return sorted(found, key=lambda t: t.checkpoint["id"])

    async def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        if implements(self._saver, "acopy_thread"):
            await self._saver.acopy_thread(source_thread_id, target_thread_id)
            return
        for t in await self._tuples(source_thread_id):
            configurable = t.config["configurable"]
            ns = configurable.get("checkpoint_ns", "")
            parent = (t.parent_config or {}).get("configurable", {}).get("checkpoint_id")
            target: dict[str, Any] = {"thread_id": target_thread_id, "checkpoint_ns": ns}
            if parent is not None:
                target["checkpoint_id"] = parent
            written = await self._saver.aput(
                {"configurable": target},
                t.checkpoint,
                t.metadata,
                dict(t.checkpoint["channel_versions"]),
            )
            by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
            for task_id, channel, value in t.pending_writes or ():
                by_task[task_id].append((channel, value))
            for task_id, writes in by_task.items():
                await self._saver.aput_writes(written, writes, task_id)

    async def delete_for_run(self, thread_id: str, run_id: str) -> None:
        self._require("delete_for_run")
        await self._saver.adelete_for_runs([run_id])

    async def delete_thread(self, thread_id: str) -> None:
        self._require("delete_thread")
        await self._saver.adelete_thread(thread_id)

    async def keep_latest(self, thread_id: str) -> None:
        self._require("keep_latest")
        await self._saver.aprune([thread_id], strategy="keep_latest")

    async def retain(self, thread_id: str, keep_last: int | None, older_than: str | None) -> int:
        self._require("retain")
        return 0  # pragma: no cover - refused above

    async def storage(self, thread_id: str) -> ThreadStorage:
        """Sizes as the saver's serializer writes them (what it stores may add framing or
        compress); each checkpoint's values are counted where they changed, by version, as
        savers that store values apart keep them."""
        serde, usage = self._saver.serde, ThreadStorage()
        seen: set[tuple[str, str, Any]] = set()
        for t in await self._tuples(thread_id):
            checkpoint = t.checkpoint
            ns = t.config["configurable"].get("checkpoint_ns", "")
            usage.checkpoints += 1
            bare = {k: v for k, v in checkpoint.items() if k != "channel_values"}
            usage.checkpoint_bytes += len(dumps(bare)) + len(dumps(t.metadata))
            versions = checkpoint["channel_versions"]
            for channel, value in checkpoint["channel_values"].items():
                key = (ns, channel, versions.get(channel))
                if key not in seen:
                    seen.add(key)
                    usage.add_value(channel, len(serde.dumps_typed(value)[1]))
            for _, _, value in t.pending_writes or ():
                usage.writes += 1
                usage.write_bytes += len(serde.dumps_typed(value)[1])
        return usage

    async def sizes(self, thread_ids: Sequence[str]) -> dict[str, StoredBytes]:
        """Checkpoint counts only: the sweep calls this for every thread, and with no access to
        the saver's tables bytes would mean decoding and re-encoding all that is stored, each
        pass. `storage` (one thread, on request) measures the bytes."""
        sizes = {}
        for thread_id in thread_ids:
            n = 0
            async for _ in self._saver.alist({"configurable": {"thread_id": thread_id}}):
                n += 1
            if n:
                sizes[thread_id] = StoredBytes(checkpoints=n)
        return sizes
