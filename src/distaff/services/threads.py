"""Threads and their state: CRUD, search, copy, prune, and the checkpoint views (state,
history, update) read through the thread's graph."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

from langchain_core.runnables import RunnableConfig

from distaff.auth import OPEN, Gate, matches, owned
from distaff.backends.base import Backend, ThreadRepo, require
from distaff.engine.broker import Broker
from distaff.engine.control import RunControl
from distaff.errors import BadRequest, Conflict, InvalidInput, NotFound
from distaff.graphs import Access, CompiledGraph, GraphRegistry
from distaff.ids import canonical_uuid, is_uuid, now_iso, uuid7
from distaff.models import Json, Page, Thread, ThreadQuery
from distaff.state import EMPTY_STATE, snapshot_from, snapshot_of, state_json, thread_config

log = logging.getLogger("distaff")


def thread_id_or_404(thread_id: str) -> str:
    if not is_uuid(thread_id):
        raise NotFound(f"Thread with ID {thread_id} not found")
    return canonical_uuid(thread_id)


async def visible_thread(
    repo: ThreadRepo,
    gate: Gate,
    thread_id: str,
    action: str,
    value: Json | None = None,
    *,
    missing: str | None = None,
) -> Thread:
    """The thread, if the current principal may do `action` on it (`Gate.load`); a thread
    the filter hides is answered as missing."""
    tid = thread_id_or_404(thread_id)
    value = {} if value is None else value  # the caller reads back what the handler changed
    value["thread_id"] = tid
    thread = await gate.load("threads", action, value, lambda: repo.get(tid))
    if thread is None:
        raise NotFound(missing or f"Thread with ID {thread_id} not found")
    return thread


class ThreadService:
    def __init__(
        self,
        backend: Backend,
        graphs: GraphRegistry,
        control: RunControl,
        broker: Broker,
        default_ttl: Json | None = None,
        gate: Gate = OPEN,
    ) -> None:
        self._backend = backend
        self._repo = backend.threads
        self._graphs = graphs
        self._control = control
        self._broker = broker
        self._default_ttl = default_ttl
        self._gate = gate

    async def _visible(self, thread_id: str, action: str, value: Json | None = None) -> Thread:
        return await visible_thread(self._repo, self._gate, thread_id, action, value)

    async def create(self, body: Json) -> Thread:
        now = now_iso()
        value: Json = {
            "thread_id": canonical_uuid(body["thread_id"]) if body.get("thread_id") else None,
            "metadata": dict(body.get("metadata") or {}),
            "if_exists": body.get("if_exists"),
            "ttl": body.get("ttl"),
        }
        flt = await self._gate.authorize("threads", "create", value)
        # Made to match its creator's filter, or its creator could not see it.
        metadata = {**(value.get("metadata") or {}), **owned(flt)}
        supersteps = body.get("supersteps")
        if supersteps and metadata.get("graph_id") not in self._graphs:
            # The reference creates the thread anyway and answers 201 with an error (quirk 6);
            # refusing before anything is written leaves no half-made thread behind.
            raise InvalidInput("supersteps need metadata.graph_id naming a registered graph")
        thread_id = body.get("thread_id")
        thread: Thread = {
            "thread_id": canonical_uuid(thread_id) if thread_id else uuid7(),
            "created_at": now,
            "updated_at": now,
            "state_updated_at": now,
            "metadata": metadata,
            "status": "idle",
            "config": {},
            "values": None,
        }
        if body.get("ttl") or self._default_ttl:
            thread["ttl"] = body.get("ttl") or self._default_ttl
        created = await self._repo.create(thread, do_nothing=body.get("if_exists") == "do_nothing")
        if created is not thread and not matches(created["metadata"], flt):
            # Someone else's thread under that id: neither hand it over nor say whose it is.
            raise Conflict(f"Thread with ID {thread['thread_id']} already exists")
        if supersteps:
            # Applied to an existing thread too (`if_exists: "do_nothing"`), as the reference
            # does: a client seeding a thread it may already have made gets the same state.
            await self._apply_supersteps(
                created, str(metadata["graph_id"]), supersteps, new=created is thread
            )
            refreshed = await self._repo.get(thread["thread_id"])
            assert refreshed is not None
            return refreshed
        return created

    async def _apply_supersteps(
        self, thread: Thread, graph_id: str, supersteps: list[Json], *, new: bool
    ) -> None:
        tid = thread["thread_id"]
        async with self._graph(graph_id, "threads.update", tid) as graph:
            try:
                await graph.abulk_update_state(
                    thread_config(tid),
                    [[_state_update(u) for u in step.get("updates", [])] for step in supersteps],
                )
            except Exception as exc:
                if new:  # leave nothing half-made behind a refused seed
                    await self._repo.delete(tid)
                    await self._backend.checkpoints.delete_thread(tid)
                raise BadRequest(f"supersteps could not be applied: {exc}") from exc
            await self._state_changed(graph, thread)

    async def _state_changed(self, graph: CompiledGraph, thread: Thread) -> None:
        """A state write outside runs: refresh the thread's stored values, and tell the
        thread's streams (`stream_modes=state_update`) the state it is in now."""
        tid = thread["thread_id"]
        state = await graph.aget_state(thread_config(tid))
        await self._repo.set_state(tid, snapshot_from(state))
        if self._broker.watches_thread(tid):
            payload = {"state": state_json(state), "thread_id": tid}
            self._broker.publish_thread(tid, "state_update", payload)

    async def get(self, thread_id: str) -> Thread:
        return await self._visible(thread_id, "read")

    async def update(self, thread_id: str, body: Json) -> Thread:
        value = {"metadata": body.get("metadata")}
        thread = await self._visible(thread_id, "update", value)
        return await self._repo.update(
            thread["thread_id"], metadata=value["metadata"], ttl=body.get("ttl")
        )

    async def delete(self, thread_id: str) -> None:
        thread = await self._visible(thread_id, "delete")
        await self._delete(thread["thread_id"], thread_id)

    async def _delete(self, tid: str, asked_as: str) -> None:
        require(self._backend.checkpoints, "delete_thread")  # before the thread goes
        cancelled = await self._control.cancel_and_wait("interrupt", thread_id=tid)
        # A stateless run's thread goes with the run when it is cancelled: then it is deleted
        # as asked, not missing.
        if not await self._repo.delete(tid) and not cancelled:
            raise NotFound(f"Thread with ID {asked_as} not found")
        await self._backend.checkpoints.delete_thread(tid)

    async def _limited(self, query: ThreadQuery, page: Page | None = None) -> ThreadQuery:
        """The query, as the current principal may run it: the search handler may change its
        conditions, and its filter narrows it."""
        value: Json = {
            "metadata": dict(query.metadata),
            "values": dict(query.values),
            "status": query.status,
            "ids": list(query.ids) if query.ids is not None else None,
        }
        if page is not None:
            value.update(limit=page.limit, offset=page.offset)
        flt = await self._gate.authorize("threads", "search", value)
        return dataclasses.replace(
            query,
            metadata=value.get("metadata") or {},
            values=value.get("values") or {},
            status=value.get("status"),
            auth=flt,
        )

    async def search(self, query: ThreadQuery, page: Page) -> list[Thread]:
        return await self._repo.search(await self._limited(query, page), page)

    async def count(self, query: ThreadQuery) -> int:
        return await self._repo.count(await self._limited(query))

    async def copy(self, thread_id: str) -> Thread:
        source = await self._visible(thread_id, "read")
        now = now_iso()
        value: Json = {"thread_id": uuid7(), "metadata": dict(source["metadata"])}
        flt = await self._gate.authorize("threads", "create", value)
        copy: Thread = {
            "thread_id": value["thread_id"],
            "created_at": now,
            "updated_at": now,
            "state_updated_at": now,
            "metadata": {**(value.get("metadata") or {}), **owned(flt)},
            "status": "idle",
            "config": source["config"],
            "values": source.get("values"),
        }
        await self._repo.create(copy, do_nothing=False)
        await self._backend.checkpoints.copy_thread(source["thread_id"], copy["thread_id"])
        graph_id = await self._graph_id(source)
        if graph_id is not None:
            async with self._graph(graph_id, "threads.read", copy["thread_id"]) as graph:
                await self._repo.set_state(
                    copy["thread_id"], await snapshot_of(graph, copy["thread_id"])
                )
        copied = await self._repo.get(copy["thread_id"])
        if copied is None:
            raise NotFound(f"Thread with ID {copy['thread_id']} not found")  # deleted meanwhile
        return copied

    async def storage(self, thread_id: str) -> Json:
        """The bytes the thread's checkpoints occupy (the reference's `/storage` report)."""
        if not is_uuid(thread_id):
            raise InvalidInput("Invalid thread ID: must be a UUID")
        thread = await self._visible(thread_id, "read")
        tid = thread["thread_id"]
        return (await self._backend.checkpoints.storage(tid)).to_json(tid)

    async def usage(self, thread_id: str) -> Json:
        """The tokens the thread's runs used, summed (`distaff.usage`)."""
        thread = await self._visible(thread_id, "read")
        tid = thread["thread_id"]
        return {"thread_id": tid, **await self._backend.runs.thread_usage(tid)}

    async def prune(self, thread_ids: list[str], strategy: str) -> int:
        require(
            self._backend.checkpoints, "delete_thread" if strategy == "delete" else "keep_latest"
        )
        pruned = 0
        for raw_id in thread_ids:
            try:
                thread = await self._visible(raw_id, "delete" if strategy == "delete" else "update")
            except NotFound:
                continue
            if strategy == "delete":
                with contextlib.suppress(NotFound):  # deleted meanwhile
                    await self._delete(thread["thread_id"], raw_id)
            else:
                await self._backend.checkpoints.keep_latest(thread["thread_id"])
            pruned += 1
        return pruned

    async def sweep_expired(self, limit: int = 100) -> int:
        """Apply the TTL of every thread idle past it: delete it, or keep only its latest
        checkpoint (and restart its clock). Returns how many threads were swept."""
        expired = await self._repo.expired(limit)
        for thread_id, strategy in expired:
            if strategy == "keep_latest":
                if (reason := self._backend.checkpoints.cannot("keep_latest")) is not None:
                    log.warning(
                        "thread %s: TTL strategy keep_latest skipped: %s", thread_id, reason
                    )
                else:
                    await self._backend.checkpoints.keep_latest(thread_id)
                await self._repo.touch(thread_id)
            else:
                with contextlib.suppress(NotFound):  # deleted meanwhile: nothing left to do
                    await self._delete(thread_id, thread_id)
        return len(expired)

    # -- state ---------------------------------------------------------------------------------

    def _graph(
        self, graph_id: str, access: Access, thread_id: str
    ) -> AbstractAsyncContextManager[CompiledGraph]:
        """The thread's graph; a factory is given the thread in its config."""
        config = thread_config(thread_id)
        return self._graphs.graph(graph_id, config, access=access, user=self._gate.user())

    async def _graph_id(self, thread: Thread) -> str | None:
        graph_id = thread["metadata"].get("graph_id")
        return graph_id if isinstance(graph_id, str) and graph_id in self._graphs else None

    def _config(self, thread: Thread, checkpoint: Json | None = None) -> RunnableConfig:
        configurable: dict[str, Any] = {"thread_id": thread["thread_id"], "checkpoint_ns": ""}
        if checkpoint:
            configurable.update(
                {k: v for k, v in checkpoint.items() if v is not None and k != "thread_id"}
            )
        return {"configurable": configurable}

    async def state(
        self, thread_id: str, *, subgraphs: bool = False, checkpoint: Json | None = None
    ) -> Json:
        thread = await self._visible(thread_id, "read")
        graph_id = await self._graph_id(thread)
        if graph_id is None:
            return dict(EMPTY_STATE)
        async with self._graph(graph_id, "threads.read", thread["thread_id"]) as graph:
            snapshot = await graph.aget_state(self._config(thread, checkpoint), subgraphs=subgraphs)
        if snapshot.created_at is None and checkpoint and checkpoint.get("checkpoint_id"):
            raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found")
        return state_json(snapshot)

    async def history(
        self,
        thread_id: str,
        *,
        limit: int,
        before: str | Json | None = None,
        metadata: Json | None = None,
        checkpoint: Json | None = None,
    ) -> list[Json]:
        thread = await self._visible(thread_id, "read")
        graph_id = await self._graph_id(thread)
        if graph_id is None:
            return []
        before_config = None
        if isinstance(before, str):
            before_config = {"configurable": {"checkpoint_id": before}}
        elif isinstance(before, dict):
            before_config = {"configurable": before}
        async with self._graph(graph_id, "threads.read", thread["thread_id"]) as graph:
            return [
                state_json(s)
                async for s in graph.aget_state_history(
                    self._config(thread, checkpoint),
                    filter=metadata or None,
                    before=before_config,  # type: ignore[arg-type]
                    limit=limit,
                )
            ]

    async def update_state(self, thread_id: str, body: Json) -> Json:
        thread = await self._visible(thread_id, "update")
        graph_id = await self._graph_id(thread)
        if graph_id is None:
            raise BadRequest(
                f"Thread '{thread['thread_id']}' has no assigned graph ID. Run it once, or set"
                " metadata.graph_id on the thread, before updating its state."
            )
        checkpoint = body.get("checkpoint") or (
            {"checkpoint_id": body["checkpoint_id"]} if body.get("checkpoint_id") else None
        )
        async with self._graph(graph_id, "threads.update", thread["thread_id"]) as graph:
            try:
                config = await graph.aupdate_state(
                    self._config(thread, checkpoint),
                    body.get("values"),
                    as_node=body.get("as_node"),
                )
            except Exception as exc:
                # An unknown node or a value the graph's reducers refuse (langchain raises
                # NotImplementedError for a message it cannot coerce) is the caller's mistake.
                raise BadRequest(f"{type(exc).__name__}: {exc}") from exc
            await self._state_changed(graph, thread)
        conf = config["configurable"]
        ref = {
            "thread_id": conf["thread_id"],
            "checkpoint_ns": conf.get("checkpoint_ns", ""),
            "checkpoint_id": conf["checkpoint_id"],
        }
        return {"checkpoint": ref, "configurable": ref, "checkpoint_id": conf["checkpoint_id"]}


def _state_update(update: Json) -> Any:
    from langgraph.types import StateUpdate

    return StateUpdate(update.get("values"), update.get("as_node"))
