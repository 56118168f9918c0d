"""The backend under test, and the other processes a test may play beside it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from langgraph.store.base import TTLConfig

from distaff.backends.base import Backend
from distaff.backends.registry import open_backend
from tests.backends import SHARED

#: The PostgreSQL backend's lease under test: short, so a test can let a claim lapse (nothing
#: heartbeats here unless a test does). It changes nothing else a test can see: leases only
#: decide what another process may take back, and which checkpoint writes are refused.
LEASE_SECONDS = 0.2

#: As `Runtime.open` configures the store (TTL enabled, refreshed on read).
STORE_TTL: TTLConfig = {"refresh_on_read": True}


@dataclass
class Harness:
    """The backend under test (`backend`), and what a test needs to play several processes,
    or a restart, on its database."""

    name: str
    url: str
    backend: Backend
    #: Everything opened for the test; closes the rest before `_current`.
    _stack: contextlib.AsyncExitStack
    #: What holds `backend` open, alone, so that a restart can close it.
    _current: contextlib.AsyncExitStack

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, name: str, url: str) -> AsyncIterator[Harness]:
        lease = LEASE_SECONDS if name in SHARED else 20.0
        async with contextlib.AsyncExitStack() as stack:
            current = contextlib.AsyncExitStack()
            backend = await current.enter_async_context(
                open_backend(url, store_ttl=STORE_TTL, lease_seconds=lease)
            )
            harness = cls(name, url, backend, stack, current)
            stack.push_async_callback(lambda: harness._current.aclose())
            yield harness

    @property
    def shared(self) -> bool:
        """Whether several processes may share this database."""
        return self.name in SHARED

    async def another(self, *, lease_seconds: float = 20.0) -> Backend:
        """Another process on the same database (PostgreSQL only)."""
        assert self.shared, f"{self.name} serves one process per database"
        return await self._stack.enter_async_context(
            open_backend(self.url, store_ttl=STORE_TTL, lease_seconds=lease_seconds)
        )

    async def successor(self) -> Backend:
        """The process holding `backend` dies: the backend that then recovers its runs.

        Memory: the same backend (nothing survives a real restart, so its start-up
        `recover` is all there is to see). SQLite: the file opened again, the old backend
        closed first. PostgreSQL: another process on the database, the old one left open but
        silent (it never heartbeats), so its claims lapse after `LEASE_SECONDS`; the new one's
        lease is as short, so that it may die in turn.
        """
        if self.name == "memory":
            return self.backend
        if not self.shared:
            await self._current.aclose()
            self._current = contextlib.AsyncExitStack()
            self.backend = await self._current.enter_async_context(
                open_backend(self.url, store_ttl=STORE_TTL)
            )
            return self.backend
        return await self.another(lease_seconds=LEASE_SECONDS)
