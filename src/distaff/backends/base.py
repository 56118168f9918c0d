"""What a backend provides. Services and the engine depend on these protocols only.

A backend is opened as an async context manager (`registry.open_backend(url)`) and owns, for
its lifetime: the metadata repositories (assistants, threads, runs, which double as the run
queue), the langgraph checkpointer and store handed to graphs, and the checkpoint maintenance
operations langgraph's savers do not implement (copy, prune, delete one run's checkpoints).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from distaff.backends.relay import Relay
from distaff.errors import Unsupported
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


class AssistantRepo(Protocol):
    async def ensure(self, assistants: Sequence[Assistant]) -> None:
        """Create the given assistants where their id does not exist yet."""

    async def create(self, assistant: Assistant, *, do_nothing: bool) -> Assistant:
        """Insert; an existing id raises `Conflict`, or is returned as is with `do_nothing`."""

    async def get(self, assistant_id: str) -> Assistant | None: ...

    async def update(self, assistant_id: str, changes: Json) -> Assistant:
        """Write a new version with `changes` applied (metadata merged) and make it latest."""

    async def delete(self, assistant_id: str) -> bool: ...

    async def search(self, query: AssistantQuery, page: Page) -> list[Assistant]: ...

    async def count(self, query: AssistantQuery) -> int: ...

    async def versions(
        self, assistant_id: str, metadata: Json, page: Page
    ) -> list[AssistantVersion]: ...

    async def set_latest(self, assistant_id: str, version: int) -> Assistant: ...


class ThreadRepo(Protocol):
    async def create(self, thread: Thread, *, do_nothing: bool) -> Thread: ...

    async def get(self, thread_id: str) -> Thread | None: ...

    async def update(self, thread_id: str, *, metadata: Json | None, ttl: Any = None) -> Thread: ...

    async def delete(self, thread_id: str) -> bool:
        """Delete the thread and its runs."""

    async def search(self, query: ThreadQuery, page: Page) -> list[Thread]: ...

    async def count(self, query: ThreadQuery) -> int: ...

    async def expired(self, limit: int) -> list[tuple[str, str]]:
        """Threads idle longer than their TTL (none with active runs), oldest first, as
        `(thread_id, strategy)`."""

    async def touch(self, thread_id: str) -> None:
        """Restart a thread's TTL clock (after `keep_latest` pruned it)."""

    async def set_state(self, thread_id: str, snapshot: ThreadSnapshot) -> None:
        """Refresh the denormalised `values`/`interrupts` after a state change outside runs."""

    async def set_retention(self, thread_id: str, policy: Json | None) -> bool:
        """The thread's own checkpoint retention (`{keep_last, max_age_seconds}`), None for the
        deployment's; False if there is no such thread."""

    async def retention_of(self, thread_id: str) -> Json | None:
        """The thread's own retention policy, if it has one."""

    async def retention_page(self, after: str, limit: int) -> list[ThreadRetention]:
        """Threads in ID order after `after`, with what retention needs to know of them."""


@dataclass(frozen=True, slots=True)
class ThreadRetention:
    thread_id: str
    #: The assistant its runs were stamped with (for storage by assistant), if any.
    assistant_id: str | None
    #: Its own policy; None means the deployment's.
    policy: Json | None
    #: It has pending or running runs: retention leaves it alone (a rollback must find the
    #: state before its run, a run from an older checkpoint that checkpoint).
    busy: bool = False


@dataclass(frozen=True, slots=True)
class CancelTarget:
    run_id: str
    thread_id: str
    status: RunStatus


@dataclass(frozen=True, slots=True)
class Claim:
    #: The claimed runs, each with its attempt number (1 on the first execution).
    runs: list[tuple[Run, int]]
    #: Seconds until the next scheduled pending run becomes due, None if none is known.
    next_due_in: float | None = None
    #: Claimed runs whose creator streams or waits for them in another process.
    read_elsewhere: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class QueueStats:
    n_pending: int
    n_running: int
    #: Seconds the oldest due pending run has waited (None when none waits).
    pending_wait_max: float | None
    pending_wait_median: float | None
    #: The same, counting only runs whose thread has no running run (so could start now).
    pending_unblocked_wait_max: float | None


class RunRepo(Protocol):
    #: `insert` understands `take` and `assistant_as_of`. A repository without the attribute
    #: (a plug-in written before them) is given neither: its runs are claimed by the worker.
    takes_at_insert: bool

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
        """Insert a pending run and mark its thread busy, atomically.

        Creates `create_thread` first when given and missing. Raises `NotFound` when the thread
        does not exist, `Conflict` when `reject_if_busy` and the thread has an active run.
        `read_here` records that this process streams or waits for the run, so another process
        that claims it sends its events here. Returns the ids of the runs that were already
        active on the thread.

        `take` (the run is due now and this process's worker has a slot kept for it): if the
        thread has no active run, the run goes in claimed by this process, running, as
        `claim` would leave it with attempt 1, and no worker need look for it. An empty return
        then means it was taken; with runs already active it goes in pending, as without.

        `assistant_as_of` (the run was made from a cached assistant): its `version` and
        `updated_at` then. If the stored assistant differs (or is gone), nothing is inserted
        and `StaleAssistant` is raised, checked in the same atomic step as the insert.
        """

    async def get(self, run_id: str, thread_id: str | None = None) -> Run | None: ...

    async def list_for_thread(
        self, thread_id: str, page: Page, status: RunStatus | None = None
    ) -> list[Run]: ...

    async def delete(self, run_id: str, thread_id: str) -> bool: ...

    async def claim(self, limit: int) -> Claim:
        """Take up to `limit` due pending runs, at most one per thread and none on a thread that
        already has a running run; mark them running. When none is due, say when one will be."""

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
        """End a run: set its status (None deletes it, for rollback) and recompute its thread's
        status and state fields (kept as they were when `snapshot` is None) in the same
        transaction, or delete the thread with its runs (a stateless run's temporary thread).
        `events` (its stream's last events) are appended to the event log in that transaction
        too, and `usage` (`distaff.usage`) is stored on the run and added to its assistant's
        totals. Returns the new thread status; None when the run was not ended here (gone, or
        no longer this process's), its events and usage then not stored."""

    async def thread_usage(self, thread_id: str) -> Json:
        """The summed usage of the thread's runs (`distaff.usage`)."""

    async def assistant_usage(self, assistant_id: str) -> Json:
        """The assistant's usage totals, over every run it had, stateless and deleted ones
        included (`distaff.usage`)."""

    async def heartbeat(self, run_ids: Sequence[str]) -> dict[str, CancelAction | None]:
        """Renew this process's claim on running runs. Returns those it still holds, each with
        the cancel requested for it, if any; a run missing from the answer was lost (its lease
        expired and another process may have taken it)."""

    async def requeue(self, run_id: str) -> None:
        """Give a running run back to the queue (shutdown); it resumes from its checkpoints."""

    async def request_cancel(
        self,
        action: CancelAction,
        *,
        run_ids: Sequence[str] | None = None,
        thread_id: str | None = None,
        status: str | None = None,
    ) -> list[CancelTarget]:
        """Cancel matching active runs. Pending ones end here (interrupted, or deleted for
        rollback; a stateless one goes with its thread); running ones are flagged (so `recover`
        honours the cancel after a crash) and returned so the engine can stop them."""

    async def stats(self) -> QueueStats: ...

    async def recover(self, max_attempts: int) -> list[str]:
        """Runs left running by a dead process go back to pending, end in `error` when they
        used up their attempts, or end as cancelled when a cancel was accepted for them.
        Returns the ids of the runs it took back. A single-process backend calls it at start-up
        only; a shared one also periodically, and counts a process dead when its lease
        expired."""


class CronRepo(Protocol):
    async def create(self, cron: Cron) -> Cron: ...

    async def get(self, cron_id: str) -> Cron | None: ...

    async def update(self, cron_id: str, changes: Json) -> Cron:
        """Apply `changes` (metadata merged); raises `NotFound`."""

    async def delete(self, cron_id: str) -> bool: ...

    async def search(self, query: CronQuery, page: Page) -> list[Cron]: ...

    async def count(self, query: CronQuery) -> int: ...

    async def due(self, now: str, limit: int) -> list[Cron]:
        """Enabled crons whose next run date has come (and whose end time has not)."""

    async def advance(self, cron_id: str, expected: str | None, next_run_date: str | None) -> bool:
        """Move a cron to its next run date if it is still at `expected`: the one caller that
        gets True fires it, so two schedulers on one database never fire a tick twice."""


@dataclass(slots=True)
class ThreadStorage:
    """What a thread's checkpoints occupy in the checkpointer, in serialised bytes."""

    checkpoints: int = 0
    checkpoint_bytes: int = 0
    #: Stored channel values by channel: `[versions, bytes]`.
    channels: dict[str, list[int]] = field(default_factory=dict)
    writes: int = 0
    write_bytes: int = 0

    def add_value(self, channel: str, size: int) -> None:
        entry = self.channels.setdefault(channel, [0, 0])
        entry[0] += 1
        entry[1] += size

    def to_json(self, thread_id: str) -> Json:
        """The reference's `GET /threads/{id}/storage` body."""
        value_bytes = sum(b for _, b in self.channels.values())
        return {
            "thread_id": thread_id,
            "total_bytes": self.checkpoint_bytes + value_bytes + self.write_bytes,
            "checkpoints": {"count": self.checkpoints, "bytes": self.checkpoint_bytes},
            "channel_values": {
                "count": sum(v for v, _ in self.channels.values()),
                "bytes": value_bytes,
                "by_channel": {
                    name: {"versions": v, "bytes": b} for name, (v, b) in self.channels.items()
                },
            },
            "pending_writes": {"count": self.writes, "bytes": self.write_bytes},
        }


class CheckpointAdmin(Protocol):
    """Checkpoint maintenance the langgraph savers leave unimplemented."""

    def cannot(self, operation: str) -> str | None:
        """Why this admin cannot do `operation` (a method name of this protocol), or None if
        it can; distaff asks before it accepts a request that would need it (a rollback, a
        retention policy) so the request is refused with the reason instead of failing half
        way. distaff's own backends can do everything."""

    async def storage(self, thread_id: str) -> ThreadStorage:
        """What the thread's checkpoints, channel values and pending writes occupy."""

    async def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None: ...

    async def delete_for_run(self, thread_id: str, run_id: str) -> None: ...

    async def delete_thread(self, thread_id: str) -> None: ...

    async def keep_latest(self, thread_id: str) -> None: ...

    async def retain(self, thread_id: str, keep_last: int | None, older_than: str | None) -> int:
        """Delete the thread's checkpoints (and their writes, and values no checkpoint left
        refers to) older than the `keep_last`-th newest of its main line (the root namespace's
        latest checkpoint and its parents) and older than the checkpoint ID `older_than`,
        whichever cuts more; the newest checkpoint of each namespace always stays, and with it
        the latest state and any pending interrupt. Returns how many checkpoints went."""

    async def sizes(self, thread_ids: Sequence[str]) -> dict[str, StoredBytes]:
        """The raw bytes each thread's checkpoints, separately stored channel values and
        pending writes occupy (no decoding: cheap enough for a sweep over every thread)."""


def require(admin: CheckpointAdmin, operation: str) -> None:
    """Raise `Unsupported` (422, with the reason) if the admin cannot do `operation`."""
    if (reason := admin.cannot(operation)) is not None:
        raise Unsupported(reason)


@dataclass(slots=True)
class StoredBytes:
    """Bytes stored for one thread (or summed over many). `blob_bytes` is 0 where the saver
    keeps channel values inside the checkpoints (SQLite), counted in `checkpoint_bytes`."""

    checkpoints: int = 0
    checkpoint_bytes: int = 0
    blob_bytes: int = 0
    write_bytes: int = 0

    def add(self, other: StoredBytes) -> None:
        self.checkpoints += other.checkpoints
        self.checkpoint_bytes += other.checkpoint_bytes
        self.blob_bytes += other.blob_bytes
        self.write_bytes += other.write_bytes

    def to_json(self) -> Json:
        total = self.checkpoint_bytes + self.blob_bytes + self.write_bytes
        return {
            "checkpoints": self.checkpoints,
            "checkpoint_bytes": self.checkpoint_bytes,
            "blob_bytes": self.blob_bytes,
            "write_bytes": self.write_bytes,
            "total_bytes": total,
        }


@dataclass(frozen=True, slots=True)
class LoggedEnvelope:
    """One stored event of a thread's v2 stream: its wire line and what filters need."""

    seq: int
    run_id: str
    method: str
    namespace: tuple[str, ...]
    #: The `name` of a `custom` event's data, for `custom:<name>` subscriptions.
    name: str | None
    #: The whole envelope, one line of JSON.
    line: bytes


class EventLog(Protocol):
    """Every thread's v2 stream events, numbered by the thread (`seq` from 1), so a stream
    can be replayed from any process and after a restart."""

    async def append(self, batch: Mapping[str, Sequence[LoggedEnvelope]]) -> None:
        """Store each thread's new events, all in one transaction (many threads stream at
        once); a thread that no longer exists gets none."""

    async def read(self, thread_id: str, after: int, limit: int) -> list[LoggedEnvelope]:
        """Events with `seq > after`, oldest first, at most `limit`."""

    async def last_seq(self, thread_id: str) -> int:
        """The highest `seq` stored for the thread (0 for none)."""

    async def trim(self, thread_id: str, keep: int) -> int:
        """Drop the oldest runs' events until at most `keep` are left, never the latest
        run's (a replay starts at a run's beginning); returns how many went."""


class Backend(Protocol):
    # Read-only members, so an implementation may narrow each to its own concrete class.
    @property
    def assistants(self) -> AssistantRepo: ...
    @property
    def threads(self) -> ThreadRepo: ...
    @property
    def runs(self) -> RunRepo: ...
    @property
    def checkpointer(self) -> BaseCheckpointSaver[Any]: ...
    @property
    def store(self) -> BaseStore: ...
    @property
    def checkpoints(self) -> CheckpointAdmin: ...
    @property
    def crons(self) -> CronRepo: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def location(self) -> str:
        """Where the data lives, in words."""

    @property
    def relay(self) -> Relay | None:
        """Messages between processes sharing the database; None for a single-process one."""

    async def check(self) -> None:
        """Raise if the database cannot be reached (`/ok?check_db=1`)."""

    async def sweep_store(self) -> int:
        """Delete expired store items; returns how many."""

    async def reclaim_space(self) -> int:
        """Give the database file's free pages back to the file system after large deletes, a
        little at a time (SQLite's incremental vacuum); returns the pages freed. A no-op where
        the database does it itself (PostgreSQL's autovacuum) or there is no file."""
