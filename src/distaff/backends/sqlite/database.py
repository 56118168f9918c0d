"""One SQLite connection; every operation is a plain function run on it as one job, one job
at a time.

Why not a lock around an async driver: a repository operation is several statements, and with
one connection that must not interleave with another operation's. Running the whole operation
as one job makes it atomic. A job runs inline, on the event loop's thread, when the connection
is free: jobs are short (a few statements on a file this process alone writes, in WAL mode
with `synchronous=NORMAL`, so a commit does not wait for the disk), and handing one to a
thread and back costs more CPU than the job (about 100 us against 20-40 us here, four to ten
jobs a run). When another thread holds the connection (a sync graph node reading the store,
or a job that waits for the disk, which always goes to the database's thread), the job queues
on that thread instead of blocking the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from distaff.backends.sqlite.schema import migrate
from distaff.errors import Unavailable
from distaff.filters import matches
from distaff.serde import dumps, loads

log = logging.getLogger("distaff.sqlite")
P = ParamSpec("P")
T = TypeVar("T")


def _json_contains(doc: str | None, pattern: str) -> int:
    """SQL `json_contains(doc, pattern)`: PostgreSQL `@>` semantics on JSON text."""
    if doc is None:
        return 0
    return int(contains(loads(doc), loads(pattern)))


def _auth_matches(doc: str | None, flt: str) -> int:
    """SQL `auth_matches(metadata, filter)`: an auth handler's filter (`distaff/filters.py`)."""
    return int(matches(loads(doc) if doc is not None else None, loads(flt)))


def contains(doc: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(doc, dict) and all(
            k in doc and contains(doc[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(doc, list) and all(any(contains(d, p) for d in doc) for p in pattern)
    return bool(doc == pattern and type(doc) is type(pattern)) or (
        isinstance(doc, int | float)
        and isinstance(pattern, int | float)
        and not isinstance(doc, bool)
        and not isinstance(pattern, bool)
        and doc == pattern
    )


#: SQLite result codes that say the file cannot be written or read now, not that the request
#: was wrong: busy beyond the timeout, read-only, I/O error, disk full, cannot open.
_UNAVAILABLE_CODES = frozenset({5, 8, 10, 13, 14})


def _storage_fault(exc: sqlite3.Error) -> Unavailable | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _UNAVAILABLE_CODES:
        return Unavailable(f"the database cannot be written now: {exc}")
    return None


def _translated(fn: Callable[[], T]) -> Callable[[], T]:
    """`fn`, with a full disk or an I/O error raised as `Unavailable` (503, and a run that
    meets it is handed back to the queue rather than failed)."""

    def job() -> T:
        try:
            return fn()
        except sqlite3.Error as exc:
            fault = _storage_fault(exc)
            if fault is None:
                raise
            raise fault from exc

    return job


class Database:
    #: How often the background connection folds the WAL back into the database file.
    CHECKPOINT_SECONDS = 1.0
    #: WAL frames (pages) past which the rest is folded on the database thread (64 MiB at 4 KiB
    #: pages): that fold waits for an fsync, so it should be rare.
    WAL_LIMIT_FRAMES = 16384

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="distaff-sqlite")
        #: Held by whoever runs a job on the connection. Re-entrant: a job may call the store's
        #: sync API, which takes it again on the same thread.
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self._queue(self._open)  # migrations may take a while: off the loop
        if self._path != ":memory:":
            self._checkpointer = asyncio.create_task(
                self._checkpoint_wal(), name="distaff-sqlite-wal-checkpoint"
            )

    async def _checkpoint_wal(self) -> None:
        """Fold the WAL into the database from a connection of its own, off the request path.

        SQLite otherwise checkpoints inside whichever commit crosses 1000 pages, and that
        commit then waits for the copy and its fsync while every other job queues behind it.
        A PASSIVE checkpoint never blocks writers or readers, but under steady writes it never
        catches up, and the WAL only restarts from its beginning once a checkpoint has. So when
        the WAL passes `WAL_LIMIT_FRAMES`, the few frames still to copy are folded by a RESTART
        checkpoint run as a job on the database thread, where no writer can race it.
        """
        conn = await asyncio.to_thread(sqlite3.connect, self._path, check_same_thread=False)
        # The PASSIVE checkpoint runs in a thread that a cancel (close) does not stop: the
        # connection is closed only once that thread is done with it (closing it under a
        # running statement crashes the process).
        passive: asyncio.Future[tuple[int, int, int]] | None = None
        try:
            while True:
                await asyncio.sleep(self.CHECKPOINT_SECONDS)
                try:
                    passive = asyncio.ensure_future(
                        asyncio.to_thread(
                            lambda: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        )
                    )
                    busy, frames, _ = await asyncio.shield(passive)
                    if not busy and frames > self.WAL_LIMIT_FRAMES:
                        # It waits for an fsync: on the database's thread, never inline.
                        await self._queue(self._fold_wal)
                except sqlite3.Error as exc:
                    # Autocheckpoint is off: if this loop died the WAL would grow unbounded.
                    if _storage_fault(exc) is None:
                        log.exception("checkpointing the SQLite WAL failed; retrying")
                    else:  # a full disk: said by every write it refuses, no traceback here
                        log.debug("checkpointing the SQLite WAL failed: %s; retrying", exc)
                except Unavailable:
                    pass  # the RESTART fold, refused for the same reason
        finally:
            if passive is not None and not passive.done():
                await asyncio.wait([passive])
                if not passive.cancelled():
                    passive.exception()  # looked at: the loop ends, its outcome no longer matters
            conn.close()

    def _fold_wal(self) -> None:
        self._require().execute("PRAGMA wal_checkpoint(RESTART)").fetchone()

    def _open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        # Free pages can go back to the file system a few at a time (`reclaim`), not only by a
        # VACUUM that rewrites the whole file under a lock. It takes effect for a new file only
        # (before its first table); a file created without it keeps its free pages for reuse.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the
        # last transactions. That is the contract of every durable default here.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        if self._path != ":memory:":
            conn.execute("PRAGMA wal_autocheckpoint=0")  # see _checkpoint_wal
            conn.execute("PRAGMA journal_size_limit=67108864")  # the WAL file's size at rest
        conn.create_function("json_contains", 2, _json_contains, deterministic=True)
        conn.create_function("auth_matches", 2, _auth_matches, deterministic=True)
        migrate(conn)
        self._conn = conn

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._queue(conn.close)
        self._executor.shutdown(wait=True)

    async def _submit(self, fn: Callable[[], T]) -> T:
        """`fn` run inline if the connection is free, else queued on the database's thread."""
        if self._lock.acquire(blocking=False):
            try:
                return _translated(fn)()
            finally:
                self._lock.release()
        return await self._queue(fn)

    async def _queue(self, fn: Callable[[], T]) -> T:
        """`fn` run on the database's thread (the loop goes on meanwhile)."""
        job = _translated(fn)

        def locked() -> T:
            with self._lock:
                return job()

        return await asyncio.get_running_loop().run_in_executor(self._executor, locked)

    async def read(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(conn, ...)` as one job (a consistent snapshot: one job at a time)."""
        conn = self._require()
        return await self._submit(lambda: fn(conn, *args, **kwargs))

    async def write(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(conn, ...)` as one job, inside one IMMEDIATE transaction."""
        conn = self._require()

        def job() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args, **kwargs)
                # langgraph's saver commits itself (`SqliteSaver.cursor`); then nothing is left.
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except BaseException:
                # Whatever failed, even the COMMIT, the next job must find no open transaction.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return await self._submit(job)

    async def reclaim(self, pages_per_step: int = 256) -> int:
        """Return the file's free pages to the file system, `pages_per_step` at a time, each
        step a short job of its own so requests go on in between; the pages freed."""
        conn = self._require()

        def step() -> int:
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # not INCREMENTAL
                return 0
            free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            if free:
                # Through executescript: the pragma frees one page per step of its statement,
                # and `execute` steps it once. It is a transaction of its own (autocommit).
                conn.executescript(f"PRAGMA incremental_vacuum({pages_per_step})")
            return free - int(conn.execute("PRAGMA freelist_count").fetchone()[0])

        freed = 0
        while (done := await self._queue(step)) > 0:  # on the database thread, not the loop
            freed += done
            if done < pages_per_step:
                break
        return freed

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` as one job on the calling thread, once the connection is free, from
        synchronous code on any thread: a sync graph node calling the store runs on a worker
        thread of its own, and the connection must not be used from two threads at once."""
        conn = self._require()
        with self._lock:
            return _translated(lambda: fn(conn))()

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for code that runs only inside this database's jobs."""
        return self._require()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the SQLite database is not open")
        return self._conn


def dump(value: Any) -> str:
    return dumps(value).decode()


def load(text: str | None) -> Any:
    return None if text is None else loads(text)
