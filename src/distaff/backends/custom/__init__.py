"""A backend whose checkpointer or store the manifest replaces (`checkpointer.path`,
`store.path`): the backend keeps assistants, threads, runs, crons and events; graphs checkpoint
to the custom saver and the store API and graphs use the custom store."""

from __future__ import annotations

import inspect
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from distaff.backends.base import (
    AssistantRepo,
    Backend,
    CheckpointAdmin,
    CronRepo,
    EventLog,
    RunRepo,
    ThreadRepo,
)
from distaff.backends.custom.admin import SaverCheckpointAdmin, implements
from distaff.backends.relay import Relay

__all__ = ["CustomPersistence", "SaverCheckpointAdmin", "implements", "with_custom_persistence"]


class CustomPersistence:
    """`inner` with its checkpointer and/or store replaced; everything else is `inner`'s."""

    def __init__(
        self,
        inner: Backend,
        saver: BaseCheckpointSaver[Any] | None,
        store: BaseStore | None,
    ) -> None:
        self._inner = inner
        self._saver = saver
        self._store = store
        self._admin: CheckpointAdmin = (
            SaverCheckpointAdmin(saver) if saver is not None else inner.checkpoints
        )

    @property
    def assistants(self) -> AssistantRepo:
        return self._inner.assistants

    @property
    def threads(self) -> ThreadRepo:
        return self._inner.threads

    @property
    def runs(self) -> RunRepo:
        return self._inner.runs

    @property
    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        return self._saver if self._saver is not None else self._inner.checkpointer

    @property
    def store(self) -> BaseStore:
        return self._store if self._store is not None else self._inner.store

    @property
    def checkpoints(self) -> CheckpointAdmin:
        return self._admin

    @property
    def crons(self) -> CronRepo:
        return self._inner.crons

    @property
    def events(self) -> EventLog:
        return self._inner.events

    @property
    def location(self) -> str:
        parts = [self._inner.location]
        if self._saver is not None:
            parts.append(f"checkpoints in {type(self._saver).__name__}")
        if self._store is not None:
            parts.append(f"store in {type(self._store).__name__}")
        return "; ".join(parts)

    @property
    def relay(self) -> Relay | None:
        return self._inner.relay

    async def check(self) -> None:
        await self._inner.check()

    async def sweep_store(self) -> int:
        if self._store is None:
            return await self._inner.sweep_store()
        # langgraph's stores name it differently; one without TTL support has nothing to do.
        for name in ("asweep_ttl", "sweep_ttl", "asweep"):
            sweep = getattr(self._store, name, None)
            if callable(sweep):
                swept = sweep()
                if inspect.isawaitable(swept):
                    swept = await swept
                return swept if isinstance(swept, int) else 0
        return 0

    async def reclaim_space(self) -> int:
        return await self._inner.reclaim_space()


def with_custom_persistence(
    backend: Backend, saver: BaseCheckpointSaver[Any] | None, store: BaseStore | None
) -> Backend:
    return CustomPersistence(backend, saver, store)
