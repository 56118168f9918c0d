"""Graph loading and the registry the engine asks for a runnable graph.

A graph source is one of:
- a compiled graph (`Pregel`); if it has no checkpointer it gets the server's, and the store;
- an uncompiled `StateGraph`, compiled here with the server's checkpointer and store;
- a builder `(checkpointer, store) -> graph` (sync or async), called once at start-up;
- a factory `(config) -> graph`, `(runtime) -> graph` or `(config, runtime) -> graph` (sync,
  async, or an async context manager), called whenever the server needs the graph: for each
  run, and for state reads, state writes and introspection. `runtime` is langgraph_sdk's
  `ServerRuntime`: why the graph is wanted (`access_context`), the user, the store, and for a
  run its context. Which argument is which is read from the annotations (`RunnableConfig`,
  `ServerRuntime`), else from the names (`runtime`), as the reference server does.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from distaff.errors import ConfigError
from distaff.imports import import_reference
from distaff.manifest import GraphSpec

FactoryKind = Literal["builder", "config", "nullary"]
#: Why the server wants a graph (langgraph_sdk's `AccessContext`).
Access = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]
#: What one parameter of a per-call factory receives.
Role = Literal["config", "runtime"]
#: Any compiled graph, whatever its state, context, input and output types.
CompiledGraph = Pregel[Any, Any, Any, Any]


def import_target(spec: GraphSpec) -> Any:
    """Import the graph source a manifest entry names."""
    try:
        return import_reference(spec.target, spec.base_dir, f"graph {spec.graph_id!r}")
    except ConfigError as exc:
        missing = isinstance(exc.__cause__, ImportError)
        if missing and spec.install_hint is not None:
            raise ConfigError(f"{exc.message}; {spec.install_hint}") from exc.__cause__
        raise


async def settle(built: Any, stack: contextlib.AsyncExitStack) -> Any:
    """What a factory returned, awaited and entered (a factory may be a coroutine function or
    a context manager that closes resources when the graph is no longer used)."""
    if inspect.isawaitable(built):
        built = await built
    if hasattr(built, "__aenter__"):
        return await stack.enter_async_context(built)
    if hasattr(built, "__enter__"):
        return stack.enter_context(built)
    return built


def _role(param: inspect.Parameter) -> Role:
    annotation = param.annotation
    text = annotation if isinstance(annotation, str) else repr(annotation)
    if param.annotation is not inspect.Parameter.empty:
        if "ServerRuntime" in text or "_ExecutionRuntime" in text or "_ReadRuntime" in text:
            return "runtime"
        if "RunnableConfig" in text:
            return "config"
    return "runtime" if param.name == "runtime" else "config"


def factory_roles(fn: Callable[..., Any]) -> tuple[Role, ...]:
    """What to pass a per-call factory, positionally: the run's config, the server runtime, or
    both, as its parameters ask."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return ("config",)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    roles: list[Role] = []
    for param in params:
        if param.kind not in positional:
            break
        role = _role(param)
        # A parameter with a default is the factory's own option, unless it asks for the runtime.
        if param.default is not inspect.Parameter.empty and role != "runtime":
            break
        roles.append(role)
    return tuple(roles) or ("config",)


def factory_kind(fn: Callable[..., Any]) -> FactoryKind:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "config"
    names = {p.name for p in params}
    if not params:
        return "nullary"
    if names & {"checkpointer", "store"}:
        return "builder"
    return "config"


@dataclass(slots=True)
class _Entry:
    graph_id: str
    description: str | None
    stateful: CompiledGraph | None = None  #: with the server's checkpointer (or the graph's own)
    stateless: CompiledGraph | None = None  #: without checkpointer, for threadless runs
    factory: Callable[..., Any] | None = None  #: per-call factory
    roles: tuple[Role, ...] = ()  #: what the factory's parameters receive
    #: The graph's name when it was given one (`compile(name=...)`); factories: unknown.
    name: str | None = None
    #: The graph's context schema, once a graph of this id has been seen.
    context_schema: Any = None
    schema_known: bool = False


class GraphRegistry:
    """Maps graph ids to runnable graphs. Built once at start-up, read-only afterwards."""

    def __init__(self, sources: Mapping[str, Any], descriptions: Mapping[str, str | None] = {}):
        if not sources:
            raise ConfigError("no graphs given: pass graphs={'name': graph} or a langgraph.json")
        self._sources = dict(sources)
        self._descriptions = dict(descriptions)
        self._entries: dict[str, _Entry] = {}
        self._checkpointer: BaseCheckpointSaver[Any] | None = None
        self._runtime_types: tuple[type[Any], type[Any]] | None = None
        self._store: BaseStore | None = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def graph_ids(self) -> list[str]:
        return list(self._sources)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._sources

    async def start(self, checkpointer: BaseCheckpointSaver[Any], store: BaseStore) -> None:
        self._checkpointer, self._store = checkpointer, store
        for graph_id, source in self._sources.items():
            entry = _Entry(graph_id, self._descriptions.get(graph_id))
            try:
                await self._prepare(entry, source)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(
                    f"graph {graph_id!r}: building it failed: {type(exc).__name__}: {exc}"
                ) from exc
            self._entries[graph_id] = entry

    async def aclose(self) -> None:
        await self._stack.aclose()

    async def _prepare(self, entry: _Entry, source: Any) -> None:
        if isinstance(source, Pregel | StateGraph):
            self._set_static(entry, source)
            return
        if not callable(source):
            raise ConfigError(
                f"graph {entry.graph_id!r}: expected a compiled graph, a StateGraph or a "
                f"factory, got {type(source).__name__}"
            )
        kind = factory_kind(source)
        if kind == "config":
            entry.factory = source
            entry.roles = factory_roles(source)
            if "runtime" in entry.roles:
                self._runtime_types = _server_runtime_types(entry.graph_id)
            return
        args = {"checkpointer": self._checkpointer, "store": self._store}
        params = inspect.signature(source).parameters
        built = source(**{k: v for k, v in args.items() if k in params})
        built = await settle(built, self._stack)
        self._set_static(entry, built)

    def _set_static(self, entry: _Entry, graph: Any) -> None:
        compiled = self._attach(entry.graph_id, graph)
        entry.stateful = compiled
        entry.stateless = compiled.copy(update={"checkpointer": None})
        # langgraph names every graph "LangGraph" unless told otherwise.
        entry.name = compiled.name if compiled.name != "LangGraph" else None
        entry.context_schema, entry.schema_known = compiled.context_schema, True

    def _attach(self, graph_id: str, graph: Any) -> CompiledGraph:
        """Give a graph the server's checkpointer and store unless it brought its own."""
        if isinstance(graph, StateGraph):
            return graph.compile(checkpointer=self._checkpointer, store=self._store)
        if not isinstance(graph, Pregel):
            raise ConfigError(
                f"graph {graph_id!r}: the factory returned {type(graph).__name__}, not a graph"
            )
        update: dict[str, Any] = {}
        if graph.checkpointer is None:
            update["checkpointer"] = self._checkpointer
        if graph.store is None:
            update["store"] = self._store
        return graph.copy(update=update) if update else graph

    def description(self, graph_id: str) -> str | None:
        return self._descriptions.get(graph_id)

    def node_names(self, graph_id: str) -> frozenset[str] | None:
        """The graph's nodes, for checking a request that names them; None when only running
        the graph tells (a factory builds it per call)."""
        graph = self._entries[graph_id].stateful
        return None if graph is None else frozenset(graph.nodes)

    def name(self, graph_id: str) -> str | None:
        """The name the graph was compiled with, if it was given one."""
        return self._entries[graph_id].name

    async def context_schema(self, graph_id: str, user: Any = None) -> Any:
        """The graph's context schema (None when it has none). A factory's graph is built once,
        for introspection, the first time this is asked."""
        entry = self._entries[graph_id]
        if not entry.schema_known:
            async with self.graph(graph_id, access="assistants.read", user=user):
                pass  # building it records the schema
        return entry.context_schema

    @contextlib.asynccontextmanager
    async def graph(
        self,
        graph_id: str,
        config: Mapping[str, Any] | None = None,
        *,
        stateless: bool = False,
        access: Access = "assistants.read",
        user: Any = None,
        context: Any = None,
    ) -> AsyncIterator[CompiledGraph]:
        """The graph to run, read, update or introspect (`access` says which), for one call
        with `config`; `user` and, for a run, `context` are what a factory's runtime carries."""
        entry = self._entries[graph_id]
        if entry.factory is None:
            graph = entry.stateless if stateless else entry.stateful
            assert graph is not None
            yield graph
            return
        args = [
            dict(config or {}) if role == "config" else self._runtime(access, user, context)
            for role in entry.roles
        ]
        async with contextlib.AsyncExitStack() as stack:
            built = await settle(entry.factory(*args), stack)
            compiled = self._attach(graph_id, built)
            entry.context_schema, entry.schema_known = compiled.context_schema, True
            yield compiled.copy(update={"checkpointer": None}) if stateless else compiled

    def _runtime(self, access: Access, user: Any, context: Any) -> Any:
        """langgraph_sdk's `ServerRuntime`: the execution variant for a run, else the read one."""
        assert self._runtime_types is not None
        execution, read = self._runtime_types
        if access == "threads.create_run":
            return execution(access_context=access, user=user, store=self._store, context=context)
        return read(access_context=access, user=user, store=self._store)


def _server_runtime_types(graph_id: str) -> tuple[type[Any], type[Any]]:
    """The two `ServerRuntime` variants, from the installed langgraph_sdk (0.3.5 and later)."""
    try:
        from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime
    except ImportError:
        raise ConfigError(
            f"graph {graph_id!r}: its factory takes a ServerRuntime, which needs"
            " langgraph-sdk 0.3.5 or later (pip install -U langgraph-sdk)"
        ) from None
    return _ExecutionRuntime, _ReadRuntime


def registry_from_specs(specs: tuple[GraphSpec, ...]) -> GraphRegistry:
    return GraphRegistry(
        {spec.graph_id: import_target(spec) for spec in specs},
        {spec.graph_id: spec.description for spec in specs},
    )
