"""The metadata repositories with their user data sealed by the JSON handlers, and the v2 event
log with its lines sealed by the blob handlers.

What is sealed, as `(ctx.model, ctx.field)`: assistants' `config`, `context`, `metadata`;
threads' `metadata`, `values`, `interrupts`, `error`; runs' `metadata` and the user's part of
`kwargs` (`RUN_KWARGS`: the rest, such as `temporary`, the backends read in their own queries);
crons' `payload` and `metadata`; events' `line`. Ids, statuses and timestamps stay plain: they
are what the queries select and sort by. A query filter is passed on as the caller gave it, so
it matches plain fields only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from distaff.backends.base import (
    AssistantRepo,
    CancelTarget,
    Claim,
    CronRepo,
    EventLog,
    LoggedEnvelope,
    QueueStats,
    RunRepo,
    ThreadRepo,
    ThreadRetention,
)
from distaff.backends.encrypted.cipher import Cipher
from distaff.models import (
    Assistant,
    AssistantQuery,
    AssistantVersion,
    CancelAction,
    Cron,
    CronQuery,
    Json,
    Page,
    Run,
    RunStatus,
    Thread,
    ThreadQuery,
    ThreadStatus,
)
from distaff.state import ThreadSnapshot

#: The keys of a run's `kwargs` that hold what the caller sent; the rest are the server's flags.
RUN_KWARGS = ("input", "command", "config", "context")
_ASSISTANT_FIELDS = ("config", "context", "metadata")
_CRON_FIELDS = ("payload", "metadata")
#: What a sealed event line starts with (a plain one is a JSON object, `{`).
SEALED_LINE = b"\x00distaff-sealed\x00"


async def _seal_fields(cipher: Cipher, model: str, record: Any, fields: Sequence[str]) -> Any:
    out = dict(record)
    for field in fields:
        if isinstance(out.get(field), dict):
            out[field] = await cipher.seal_json(model, field, out[field])
    return out


async def _open_fields(cipher: Cipher, model: str, record: Any, fields: Sequence[str]) -> Any:
    # Opened into a copy: an inner repo may hand out the objects it keeps.
    record = dict(record)
    for field in fields:
        if isinstance(record.get(field), dict):
            record[field] = await cipher.open_json(model, field, record[field])
    return record


class EncryptedAssistants:
    def __init__(self, inner: AssistantRepo, cipher: Cipher) -> None:
        self._inner, self._cipher = inner, cipher

    async def _seal(self, a: Any) -> Any:
        return await _seal_fields(self._cipher, "assistant", a, _ASSISTANT_FIELDS)

    async def _open(self, a: Any) -> Any:
        return await _open_fields(self._cipher, "assistant", a, _ASSISTANT_FIELDS)

    async def ensure(self, assistants: Sequence[Assistant]) -> None:
        await self._inner.ensure([await self._seal(a) for a in assistants])

    async def create(self, assistant: Assistant, *, do_nothing: bool) -> Assistant:
        sealed = await self._seal(assistant)
        made = await self._inner.create(sealed, do_nothing=do_nothing)
        if made is sealed:  # inserted: the caller's own object, as the services tell by identity
            return assistant
        return await self._open(made)  # type: ignore[no-any-return]

    async def get(self, assistant_id: str) -> Assistant | None:
        found = await self._inner.get(assistant_id)
        return None if found is None else await self._open(found)

    async def update(self, assistant_id: str, changes: Json) -> Assistant:
        updated = await self._inner.update(assistant_id, await self._seal(changes))
        return await self._open(updated)  # type: ignore[no-any-return]

    async def delete(self, assistant_id: str) -> bool:
        return await self._inner.delete(assistant_id)

    async def search(self, query: AssistantQuery, page: Page) -> list[Assistant]:
        return [await self._open(a) for a in await self._inner.search(query, page)]

    async def count(self, query: AssistantQuery) -> int:
        return await self._inner.count(query)

    async def versions(
        self, assistant_id: str, metadata: Json, page: Page
    ) -> list[AssistantVersion]:
        found = await self._inner.versions(assistant_id, metadata, page)
        return [await self._open(v) for v in found]

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        return await self._open(await self._inner.set_latest(assistant_id, version))  # type: ignore[no-any-return]


async def seal_snapshot(cipher: Cipher, snapshot: ThreadSnapshot) -> ThreadSnapshot:
    error = snapshot.error
    return dataclasses.replace(
        snapshot,
        values=await cipher.seal_any("thread", "values", snapshot.values),
        interrupts=await cipher.seal_json("thread", "interrupts", snapshot.interrupts),
        error=None if error is None else await cipher.seal_json("thread", "error", error),
    )


async def seal_thread(cipher: Cipher, thread: Thread) -> Thread:
    out: Any = dict(thread)
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = await cipher.seal_json("thread", "metadata", out["metadata"])
    if out.get("values") is not None:
        out["values"] = await cipher.seal_any("thread", "values", out["values"])
    for field in ("interrupts", "error"):
        if isinstance(out.get(field), dict):
            out[field] = await cipher.seal_json("thread", field, out[field])
    return out  # type: ignore[no-any-return]


async def open_thread(cipher: Cipher, stored: Thread) -> Thread:
    # Opened into a copy: an inner repo may hand out the objects it keeps.
    thread: Any = dict(stored)
    if isinstance(thread.get("metadata"), dict):
        thread["metadata"] = await cipher.open_json("thread", "metadata", thread["metadata"])
    if "values" in thread:
        thread["values"] = await cipher.open_any("thread", "values", thread["values"])
    if isinstance(thread.get("interrupts"), dict):
        thread["interrupts"] = await cipher.open_json("thread", "interrupts", thread["interrupts"])
    if isinstance(thread.get("error"), dict):
        thread["error"] = await cipher.open_json("thread", "error", thread["error"])
    return thread  # type: ignore[no-any-return]


class EncryptedThreads:
    def __init__(self, inner: ThreadRepo, cipher: Cipher) -> None:
        self._inner, self._cipher = inner, cipher

    async def create(self, thread: Thread, *, do_nothing: bool) -> Thread:
        sealed = await seal_thread(self._cipher, thread)
        made = await self._inner.create(sealed, do_nothing=do_nothing)
        if made is sealed:  # inserted: the caller's own object, as the services tell by identity
            return thread
        return await open_thread(self._cipher, made)

    async def get(self, thread_id: str) -> Thread | None:
        found = await self._inner.get(thread_id)
        return None if found is None else await open_thread(self._cipher, found)

    async def update(self, thread_id: str, *, metadata: Json | None, ttl: Any = None) -> Thread:
        # Sealed key by key, so the backend's merge into the stored metadata stays right.
        if metadata:
            metadata = await self._cipher.seal_json("thread", "metadata", metadata)
        updated = await self._inner.update(thread_id, metadata=metadata, ttl=ttl)
        return await open_thread(self._cipher, updated)

    async def delete(self, thread_id: str) -> bool:
        return await self._inner.delete(thread_id)

    async def search(self, query: ThreadQuery, page: Page) -> list[Thread]:
        return [await open_thread(self._cipher, t) for t in await self._inner.search(query, page)]

    async def count(self, query: ThreadQuery) -> int:
        return await self._inner.count(query)

    async def expired(self, limit: int) -> list[tuple[str, str]]:
        return await self._inner.expired(limit)

    async def touch(self, thread_id: str) -> None:
        await self._inner.touch(thread_id)

    async def set_state(self, thread_id: str, snapshot: ThreadSnapshot) -> None:
        await self._inner.set_state(thread_id, await seal_snapshot(self._cipher, snapshot))

    async def set_retention(self, thread_id: str, policy: Json | None) -> bool:
        return await self._inner.set_retention(thread_id, policy)

    async def retention_of(self, thread_id: str) -> Json | None:
        return await self._inner.retention_of(thread_id)

    async def retention_page(self, after: str, limit: int) -> list[ThreadRetention]:
        return await self._inner.retention_page(after, limit)


class EncryptedEvents:
    def __init__(self, inner: EventLog, cipher: Cipher) -> None:
        self._inner, self._cipher = inner, cipher

    async def seal(
        self, batch: Mapping[str, Sequence[LoggedEnvelope]]
    ) -> dict[str, list[LoggedEnvelope]]:
        if not self._cipher.seals_blobs:
            return {thread_id: list(events) for thread_id, events in batch.items()}
        out: dict[str, list[LoggedEnvelope]] = {}
        for thread_id, events in batch.items():
            out[thread_id] = [
                dataclasses.replace(
                    e, line=SEALED_LINE + await self._cipher.seal_blob("event", "line", e.line)
                )
                for e in events
            ]
        return out

    async def append(self, batch: Mapping[str, Sequence[LoggedEnvelope]]) -> None:
        await self._inner.append(await self.seal(batch))

    async def read(self, thread_id: str, after: int, limit: int) -> list[LoggedEnvelope]:
        events = await self._inner.read(thread_id, after, limit)
        out = []
        for e in events:
            if e.line.startswith(SEALED_LINE):
                line = await self._cipher.open_blob("event", "line", e.line[len(SEALED_LINE) :])
                e = dataclasses.replace(e, line=line)
            out.append(e)
        return out

    async def last_seq(self, thread_id: str) -> int:
        return await self._inner.last_seq(thread_id)

    async def trim(self, thread_id: str, keep: int) -> int:
        return await self._inner.trim(thread_id, keep)


class EncryptedRuns:
    def __init__(self, inner: RunRepo, cipher: Cipher, events: EncryptedEvents) -> None:
        self._inner, self._cipher, self._events = inner, cipher, events
        self.takes_at_insert = bool(getattr(inner, "takes_at_insert", False))

    async def _seal(self, run: Run) -> Run:
        kwargs = run["kwargs"]
        secret = {k: kwargs[k] for k in RUN_KWARGS if k in kwargs}
        sealed = await self._cipher.seal_json("run", "kwargs", secret)
        return {
            **run,
            "metadata": await self._cipher.seal_json("run", "metadata", run["metadata"]),
            "kwargs": {**kwargs, **sealed},
        }

    async def _open(self, stored: Run) -> Run:
        # Opened into a copy: an inner repo may hand out the objects it keeps.
        run: Any = dict(stored)
        kwargs = run["kwargs"]
        secret = {k: kwargs[k] for k in RUN_KWARGS if k in kwargs}
        run["kwargs"] = {**kwargs, **await self._cipher.open_json("run", "kwargs", secret)}
        if isinstance(run.get("metadata"), dict):
            run["metadata"] = await self._cipher.open_json("run", "metadata", run["metadata"])
        return run  # type: ignore[no-any-return]

    async def insert(
        self,
        run: Run,
        *,
        create_thread: Thread | None,
        reject_if_busy: bool,
        read_here: bool = False,
        take: bool = False,
        assistant_as_of: tuple[int, str] | None = None,
    ) -> list[str]:
        thread = None if create_thread is None else await seal_thread(self._cipher, create_thread)
        return await self._inner.insert(
            await self._seal(run),
            create_thread=thread,
            reject_if_busy=reject_if_busy,
            read_here=read_here,
            take=take,
            assistant_as_of=assistant_as_of,
        )

    async def get(self, run_id: str, thread_id: str | None = None) -> Run | None:
        found = await self._inner.get(run_id, thread_id)
        return None if found is None else await self._open(found)

    async def list_for_thread(
        self, thread_id: str, page: Page, status: RunStatus | None = None
    ) -> list[Run]:
        found = await self._inner.list_for_thread(thread_id, page, status)
        return [await self._open(r) for r in found]

    async def delete(self, run_id: str, thread_id: str) -> bool:
        return await self._inner.delete(run_id, thread_id)

    async def claim(self, limit: int) -> Claim:
        claim = await self._inner.claim(limit)
        runs = [(await self._open(run), attempt) for run, attempt in claim.runs]
        return dataclasses.replace(claim, runs=runs)

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
        return await self._inner.finish(
            run_id,
            status,
            None if snapshot is None else await seal_snapshot(self._cipher, snapshot),
            delete_thread=delete_thread,
            events=None if events is None else await self._events.seal(events),
            usage=usage,
        )

    async def thread_usage(self, thread_id: str) -> Json:
        return await self._inner.thread_usage(thread_id)

    async def assistant_usage(self, assistant_id: str) -> Json:
        return await self._inner.assistant_usage(assistant_id)

    async def heartbeat(self, run_ids: Sequence[str]) -> dict[str, CancelAction | None]:
        return await self._inner.heartbeat(run_ids)

    async def requeue(self, run_id: str) -> None:
        await self._inner.requeue(run_id)

    async def request_cancel(
        self,
        action: CancelAction,
        *,
        run_ids: Sequence[str] | None = None,
        thread_id: str | None = None,
        status: str | None = None,
    ) -> list[CancelTarget]:
        return await self._inner.request_cancel(
            action, run_ids=run_ids, thread_id=thread_id, status=status
        )

    async def stats(self) -> QueueStats:
        return await self._inner.stats()

    async def recover(self, max_attempts: int) -> list[str]:
        return await self._inner.recover(max_attempts)


class EncryptedCrons:
    def __init__(self, inner: CronRepo, cipher: Cipher) -> None:
        self._inner, self._cipher = inner, cipher

    async def _seal(self, c: Any) -> Any:
        return await _seal_fields(self._cipher, "cron", c, _CRON_FIELDS)

    async def _open(self, c: Any) -> Any:
        return await _open_fields(self._cipher, "cron", c, _CRON_FIELDS)

    async def create(self, cron: Cron) -> Cron:
        return await self._open(await self._inner.create(await self._seal(cron)))  # type: ignore[no-any-return]

    async def get(self, cron_id: str) -> Cron | None:
        found = await self._inner.get(cron_id)
        return None if found is None else await self._open(found)

    async def update(self, cron_id: str, changes: Json) -> Cron:
        return await self._open(await self._inner.update(cron_id, await self._seal(changes)))  # type: ignore[no-any-return]

    async def delete(self, cron_id: str) -> bool:
        return await self._inner.delete(cron_id)

    async def search(self, query: CronQuery, page: Page) -> list[Cron]:
        return [await self._open(c) for c in await self._inner.search(query, page)]

    async def count(self, query: CronQuery) -> int:
        return await self._inner.count(query)

    async def due(self, now: str, limit: int) -> list[Cron]:
        return [await self._open(c) for c in await self._inner.due(now, limit)]

    async def advance(self, cron_id: str, expected: str | None, next_run_date: str | None) -> bool:
        return await self._inner.advance(cron_id, expected, next_run_date)
