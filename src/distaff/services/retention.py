"""Checkpoint retention and storage accounting.

A thread gains a checkpoint per superstep, forever. A retention policy, `{keep_last,
max_age_seconds}`, set for the deployment (settings) or for one thread (its own replaces the
deployment's), is applied by the sweeper: each pass walks every thread without active runs,
deletes what its policy lets go (the backend's `retain`: never the root's latest checkpoint nor
a paused subgraph's, so never the latest state or a pending interrupt), measures what is left,
and sums it by assistant for `/metrics`. After a pass that deleted anything, SQLite gives the
freed pages back to the file system a few at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from distaff.auth import OPEN, Gate
from distaff.backends.base import Backend, StoredBytes, ThreadRetention, require
from distaff.errors import NotFound, Refused
from distaff.ids import checkpoint_id_at
from distaff.models import Json
from distaff.services.assistants import AssistantService
from distaff.services.threads import visible_thread
from distaff.settings import Settings

log = logging.getLogger("distaff.sweeper")


async def every_thread_visible(gate: Gate, what: str) -> None:
    """Sums over an assistant's threads cover every user's: refused to a principal whom an
    auth handler limits to some threads."""
    if await gate.authorize("threads", "search", {}):
        raise Refused(
            f"The assistant's {what} sums every user's threads; not for a user limited to some"
        )


#: Threads read (and measured) per statement during a pass.
PAGE = 200


class RetentionService:
    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        assistants: AssistantService,
        gate: Gate = OPEN,
    ) -> None:
        self._backend = backend
        self._assistants = assistants
        self._gate = gate
        policy = {
            "keep_last": settings.checkpoint_keep_last,
            "max_age_seconds": settings.checkpoint_max_age_seconds,
        }
        #: The deployment's policy; None when it keeps everything.
        self.default: Json | None = policy if any(v is not None for v in policy.values()) else None
        #: Bytes stored by assistant ("" for threads no run stamped), as of the last pass.
        self.storage_by_assistant: dict[str, StoredBytes] = {}
        #: Checkpoints deleted by retention since the process started.
        self.deleted = 0

    # -- the API --------------------------------------------------------------------------

    async def get(self, thread_id: str) -> Json:
        thread = await visible_thread(self._backend.threads, self._gate, thread_id, "read")
        return await self._answer(thread["thread_id"])

    async def put(self, thread_id: str, policy: Json | None) -> Json:
        thread = await visible_thread(self._backend.threads, self._gate, thread_id, "update")
        tid = thread["thread_id"]
        if policy and any(v is not None for v in policy.values()):  # `{}` keeps everything
            require(self._backend.checkpoints, "retain")
        if not await self._backend.threads.set_retention(tid, policy):
            raise NotFound(f"Thread {thread_id} not found")
        return await self._answer(tid)

    async def _answer(self, thread_id: str) -> Json:
        own = await self._backend.threads.retention_of(thread_id)
        return {
            "thread_id": thread_id,
            "policy": own,
            "effective": own if own is not None else self.default,
        }

    async def assistant_storage(self, assistant_id: str) -> Json:
        """Bytes the assistant's threads occupy now (a walk over every thread)."""
        aid = (await self._assistants.get(assistant_id))["assistant_id"]
        await every_thread_visible(self._gate, "storage")
        total = StoredBytes()
        async for page in self._pages():
            mine = [t.thread_id for t in page if t.assistant_id == aid]
            for size in (await self._backend.checkpoints.sizes(mine)).values():
                total.add(size)
        return {"assistant_id": aid, **total.to_json()}

    # -- the sweeper's job ------------------------------------------------------------------

    async def sweep(self) -> int:
        """One pass over every thread; returns the checkpoints deleted."""
        deleted = 0
        totals: dict[str, StoredBytes] = {}
        admin = self._backend.checkpoints
        async for page in self._pages():
            for thread in page:
                try:
                    deleted += await self._retain(thread)
                except Exception:  # one thread's failure does not stop the pass
                    log.exception("retention of thread %s failed", thread.thread_id)
            sizes = await admin.sizes([t.thread_id for t in page])
            for thread in page:
                if thread.thread_id in sizes:
                    totals.setdefault(thread.assistant_id or "", StoredBytes()).add(
                        sizes[thread.thread_id]
                    )
        self.storage_by_assistant = totals
        self.deleted += deleted
        if deleted:
            freed = await self._backend.reclaim_space()
            if freed:
                log.info("retention: %d free pages given back to the file system", freed)
        return deleted

    async def _retain(self, thread: ThreadRetention) -> int:
        policy = thread.policy if thread.policy is not None else self.default
        if not policy or thread.busy or self._backend.checkpoints.cannot("retain"):
            return 0
        keep_last = policy.get("keep_last")
        max_age = policy.get("max_age_seconds")
        older_than = checkpoint_id_at(time.time() - max_age) if max_age else None
        if keep_last is None and older_than is None:
            return 0
        return await self._backend.checkpoints.retain(thread.thread_id, keep_last, older_than)

    async def _pages(self) -> AsyncIterator[list[ThreadRetention]]:
        after = ""
        while page := await self._backend.threads.retention_page(after, PAGE):
            yield page
            after = page[-1].thread_id
            await asyncio.sleep(0)  # requests go first between pages
