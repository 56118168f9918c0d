"""At-rest encryption of everything a backend stores that can hold user data.

`encrypted_backend` wraps an opened backend (any: built-in, registered or with a custom saver or
store) so that the deployment's `langgraph_sdk.Encryption` handlers seal data before the backend
writes it and open it after the backend reads it: checkpoints and pending writes
(`saver.py`), store values (`store.py`), the repositories' JSON fields and the v2 event log
(`repos.py`), and the stream events a relay logs for resumable streams and other processes
(`relay.py`, through `wrap_relay`). Checkpoint maintenance (`checkpoints`) is the inner
backend's: it copies, prunes and measures stored bytes without decoding them, so sealed values
need no key there.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore
from langgraph_sdk import Encryption

from distaff.backends.base import Backend, CheckpointAdmin
from distaff.backends.encrypted.cipher import Cipher, EncryptionError
from distaff.backends.encrypted.relay import EncryptedRelay
from distaff.backends.encrypted.repos import (
    EncryptedAssistants,
    EncryptedCrons,
    EncryptedEvents,
    EncryptedRuns,
    EncryptedThreads,
)
from distaff.backends.encrypted.saver import EncryptedSaver
from distaff.backends.encrypted.store import EncryptedStore
from distaff.backends.relay import Relay

__all__ = ["EncryptedBackend", "EncryptionError", "encrypted_backend"]


class EncryptedBackend:
    def __init__(self, inner: Backend, encryption: Encryption) -> None:
        cipher = Cipher(encryption)
        self._cipher = cipher
        self._inner = inner
        self._assistants = EncryptedAssistants(inner.assistants, cipher)
        self._threads = EncryptedThreads(inner.threads, cipher)
        self._events = EncryptedEvents(inner.events, cipher)
        self._runs = EncryptedRuns(inner.runs, cipher, self._events)
        self._crons = EncryptedCrons(inner.crons, cipher)
        self._saver = EncryptedSaver(inner.checkpointer, cipher)
        self._store = EncryptedStore(inner.store, cipher)

    @property
    def assistants(self) -> EncryptedAssistants:
        return self._assistants

    @property
    def threads(self) -> EncryptedThreads:
        return self._threads

    @property
    def runs(self) -> EncryptedRuns:
        return self._runs

    @property
    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        return self._saver

    @property
    def store(self) -> BaseStore:
        return self._store

    @property
    def checkpoints(self) -> CheckpointAdmin:
        return self._inner.checkpoints

    @property
    def crons(self) -> EncryptedCrons:
        return self._crons

    @property
    def events(self) -> EncryptedEvents:
        return self._events

    @property
    def location(self) -> str:
        return f"{self._inner.location}; encrypted at rest"

    @property
    def relay(self) -> Relay | None:
        # The database's own, as it is: what carries the events (it, or Redis over it) is
        # chosen at start-up and sealed there, by `wrap_relay`.
        return self._inner.relay

    def wrap_relay(self, relay: Relay) -> Relay:
        """`relay` with the event data it logs sealed, and opened when read back."""
        return EncryptedRelay(relay, self._cipher)

    async def check(self) -> None:
        await self._inner.check()

    async def sweep_store(self) -> int:
        return await self._inner.sweep_store()

    async def reclaim_space(self) -> int:
        return await self._inner.reclaim_space()


def encrypted_backend(backend: Backend, encryption: Encryption) -> Backend:
    return EncryptedBackend(backend, encryption)
