"""The one place that wires distaff together: backend, graphs, broker, worker, services.

Handlers reach the result through `Runtime`, yielded as typed lifespan state; nothing else
imports this module except `app.py` and `cli.py`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from distaff.auth import OPEN, SYSTEM, Authorizer, Gate, load_auth, set_principal
from distaff.backends.base import Backend
from distaff.backends.encrypted import EncryptedBackend
from distaff.backends.relay import Relay
from distaff.engine.broker import Broker
from distaff.engine.cluster import Cluster
from distaff.engine.control import RunControl
from distaff.engine.executor import Executor
from distaff.engine.peers import Peers, Solo
from distaff.engine.protocol.hub import EventHub
from distaff.engine.sweeper import Job, Sweeper
from distaff.engine.webhooks import Webhooks
from distaff.engine.worker import Worker
from distaff.errors import ConfigError
from distaff.graphs import GraphRegistry
from distaff.persistence import open_persistence
from distaff.services.assistants import AssistantService
from distaff.services.crons import CronService
from distaff.services.protocol import ProtocolService
from distaff.services.retention import RetentionService
from distaff.services.run_creation import RunCreator
from distaff.services.runs import RunService
from distaff.services.store import StoreService
from distaff.services.threads import ThreadService
from distaff.settings import Settings

log = logging.getLogger("distaff")


def _default_ttl(settings: Settings) -> dict[str, object] | None:
    if settings.thread_ttl_minutes is None:
        return None
    return {"strategy": settings.thread_ttl_strategy, "ttl": settings.thread_ttl_minutes}


def _relay(backend: Backend, settings: Settings) -> Relay | None:
    """`_event_relay`, with the events it logs sealed when the backend encrypts at rest."""
    relay = _event_relay(backend, settings)
    if relay is not None and isinstance(backend, EncryptedBackend):
        return backend.wrap_relay(relay)
    return relay


def _event_relay(backend: Backend, settings: Settings) -> Relay | None:
    """The backend's relay, with Redis carrying the stream events when `redis_url` is set."""
    if settings.redis_url is None:
        return backend.relay
    if backend.relay is None:
        raise ConfigError(
            "redis_url needs a PostgreSQL database_url: with one process per database (memory,"
            " SQLite) there is nothing to relay"
        )
    try:
        from distaff.backends.redis import RedisRelay
    except ImportError as exc:
        raise ConfigError(
            f"redis_url needs distaff's redis extra (pip install 'distaff[redis]'): {exc}"
        ) from None
    return RedisRelay(settings.redis_url, backend.relay, settings.resumable_stream_ttl_seconds)


def _gate(settings: Settings) -> Gate:
    """The custom auth `auth.path` names, if any (its handlers are checked at start-up)."""
    if settings.auth is None:
        return OPEN
    return Gate(Authorizer(load_auth(settings.auth.path), cache=settings.auth.cache))


def _recover_job(
    backend: Backend, max_attempts: int, worker: Worker | None
) -> Callable[[], Awaitable[int]]:
    async def recover() -> int:
        taken = await backend.runs.recover(max_attempts)
        if taken and worker is not None:
            # Requeued runs, or runs queued behind the ones that ended, may start now. The
            # database's wake-up reaches the other processes; a process ignores its own.
            worker.wake()
        return len(taken)

    return recover


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    backend: Backend
    graphs: GraphRegistry
    broker: Broker
    events: EventHub
    worker: Worker | None
    assistants: AssistantService
    threads: ThreadService
    run_creator: RunCreator
    runs: RunService
    store: StoreService
    crons: CronService
    protocol: ProtocolService
    retention: RetentionService
    auth: Gate

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, graphs: GraphRegistry) -> AsyncIterator[Runtime]:
        async with contextlib.AsyncExitStack() as stack:
            backend = await stack.enter_async_context(open_persistence(settings))
            stack.push_async_callback(graphs.aclose)
            await graphs.start(backend.checkpointer, backend.store)
            gate = _gate(settings)
            # Work no request started (the worker, sweepers, crons) runs as the server itself;
            # tasks created from here on inherit it.
            set_principal(SYSTEM)
            broker = Broker(settings.resumable_stream_ttl_seconds)
            webhooks = Webhooks(settings.webhooks)
            stack.push_async_callback(webhooks.aclose)  # after the worker stops (LIFO)
            events = EventHub(backend.events, keep=settings.stream_events_per_thread)
            await events.start()
            stack.push_async_callback(events.stop)  # after the worker (LIFO): its runs' ends
            # Other processes on this database, through the backend's relay; or none at all,
            # and `Solo` answers for them: the one place that asks which.
            relay = _relay(backend, settings)
            cluster = Cluster(relay, broker, backend.runs, events) if relay is not None else None
            peers: Peers = cluster if cluster is not None else Solo()
            worker = None
            shared = backend.relay is not None
            if settings.run_worker:
                executor = Executor(backend, graphs, broker, peers, webhooks, settings, events)
                worker = Worker(
                    backend.runs,
                    executor,
                    slots=settings.max_concurrent_runs,
                    poll_seconds=settings.queue_poll_seconds,
                    lease_seconds=settings.lease_seconds if shared else None,
                )
            if cluster is not None:
                await cluster.start(worker)
                stack.push_async_callback(cluster.stop)  # after the worker drained (LIFO)
            control = RunControl(backend, broker, worker, peers)
            assistants = AssistantService(backend, graphs, gate)
            run_creator = RunCreator(
                backend, graphs, assistants, broker, control, webhooks, settings, gate
            )
            runs = RunService(backend, broker, control, peers, gate)
            threads = ThreadService(backend, graphs, control, broker, _default_ttl(settings), gate)
            runtime = cls(
                settings=settings,
                backend=backend,
                graphs=graphs,
                broker=broker,
                events=events,
                worker=worker,
                assistants=assistants,
                threads=threads,
                run_creator=run_creator,
                runs=runs,
                store=StoreService(backend.store, gate),
                crons=CronService(backend, assistants, run_creator, webhooks, gate),
                protocol=ProtocolService(backend, run_creator, runs, threads, events, gate),
                retention=RetentionService(backend, settings, assistants, gate),
                auth=gate,
            )
            await assistants.ensure_system_assistants()
            # Everything alive now (langchain, langgraph, pydantic, the graphs) lives as long as
            # the process. Out of the collector's way, a full collection walks only what runs
            # create: it took ~100 ms per gen-2 pass before, a stall every client saw.
            gc.collect()
            gc.freeze()
            jobs: list[Job] = [
                ("expired threads", settings.ttl_sweep_seconds, runtime.threads.sweep_expired),
                ("expired store items", settings.store_sweep_seconds, backend.sweep_store),
                ("due crons", settings.cron_tick_seconds, runtime.crons.fire_due),
                (
                    "checkpoints (retention)",
                    settings.retention_sweep_seconds,
                    runtime.retention.sweep,
                ),
            ]
            if relay is not None:
                retention = settings.resumable_stream_ttl_seconds

                async def prune_events() -> int:
                    assert relay is not None
                    return await relay.prune(retention)

                jobs += [
                    (
                        "runs of lost processes",
                        settings.lease_seconds / 4,
                        _recover_job(backend, settings.max_run_attempts, worker),
                    ),
                    ("logged stream events", 60.0, prune_events),
                ]
            sweeper = Sweeper(jobs)
            sweeper.start()
            stack.push_async_callback(sweeper.stop)
            if worker is not None:
                taken = await backend.runs.recover(settings.max_run_attempts)
                if taken:
                    log.info("took back %d run(s) left running by the last shutdown", len(taken))
                worker.start()
                stack.push_async_callback(worker.stop, settings.shutdown_grace_seconds)
            yield runtime
