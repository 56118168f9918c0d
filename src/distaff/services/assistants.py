"""Assistants: the system assistant of every graph, user-made ones, versions, and graph
introspection (drawing, JSON schemas, subgraphs)."""

from __future__ import annotations

import dataclasses
import weakref
from contextlib import AbstractAsyncContextManager
from typing import Any

from distaff.auth import OPEN, Filter, Gate, matches, owned
from distaff.backends.base import Backend
from distaff.errors import Conflict, InvalidInput, NotFound, Refused
from distaff.graphs import CompiledGraph, GraphRegistry
from distaff.ids import canonical_uuid, is_uuid, now_iso, system_assistant_id, uuid7
from distaff.models import Assistant, AssistantQuery, AssistantVersion, Json, Page
from distaff.serde import dumps, loads


def require_uuid(assistant_id: str) -> str:
    if not is_uuid(assistant_id):
        raise InvalidInput("Invalid assistant ID: must be a UUID")
    return canonical_uuid(assistant_id)


def with_context_in_configurable(config: Json, context: Json) -> Json:
    """Assistant `context` is mirrored into `config.configurable` for graphs that read it there."""
    if not context:
        return config
    return {**config, "configurable": {**(config.get("configurable") or {}), **context}}


def is_system(assistant: Assistant) -> bool:
    """One of the assistants the server made for its graphs: they belong to no one, so an auth
    filter does not hide them (a handler that refuses still refuses)."""
    return assistant["metadata"].get("created_by") == "system"


#: Assistants `resolve(cached=True)` keeps at most (the oldest go first).
CACHED_ASSISTANTS = 256

#: What an auth filter on assistants is widened to.
SYSTEM_ASSISTANTS: Filter = {"created_by": "system"}


class AssistantService:
    def __init__(self, backend: Backend, graphs: GraphRegistry, gate: Gate = OPEN) -> None:
        self._repo = backend.assistants
        self._runs = backend.runs
        self._graphs = graphs
        self._gate = gate
        #: Assistants as runs last read them (`resolve(cached=True)`): a run made from one
        #: is inserted only if the assistant is still as read (`RunRepo.insert`'s
        #: `assistant_as_of`), so a change made here or by another process is never missed;
        #: the entry only saves the read.
        self._cache: dict[str, Assistant] = {}

    async def _visible(
        self, assistant_id: str, action: str, value: Json | None = None
    ) -> Assistant:
        """The assistant, if the current principal may do `action` on it (404 when the
        handler's filter hides it, 403 when the handler refuses)."""
        aid = require_uuid(assistant_id)
        value = {} if value is None else value  # the caller reads back what the handler changed
        value["assistant_id"] = aid
        found = await self._gate.load(
            "assistants", action, value, lambda: self._repo.get(aid), exempt=is_system
        )
        if found is None:
            raise NotFound()
        return found

    async def ensure_system_assistants(self) -> None:
        now = now_iso()
        await self._repo.ensure(
            [
                {
                    "assistant_id": system_assistant_id(graph_id),
                    "graph_id": graph_id,
                    "config": {},
                    "context": {},
                    "metadata": {"created_by": "system"},
                    "name": self._graphs.name(graph_id) or graph_id,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                    "description": self._graphs.description(graph_id),
                }
                for graph_id in self._graphs.graph_ids
            ]
        )

    def _check_graph(self, graph_id: str) -> None:
        if graph_id not in self._graphs:
            raise InvalidInput(
                f"Invalid graph_id {graph_id!r}: registered graphs are "
                f"{', '.join(self._graphs.graph_ids)}"
            )

    async def resolve(
        self, assistant_id: str, *, authorized: bool = False, cached: bool = False
    ) -> Assistant:
        """An assistant by UUID or by graph name (the graph's system assistant); with
        `authorized`, only one the current principal may read. With `cached`, perhaps as last
        read (for a run, whose insert checks it is still so): not to be changed."""
        if assistant_id in self._graphs:
            assistant_id = system_assistant_id(assistant_id)
        elif not is_uuid(assistant_id):
            raise InvalidInput(
                f"Invalid assistant: '{assistant_id}'. Must be either:\n- A valid assistant UUID,"
                f" or\n- One of the registered graphs: {', '.join(self._graphs.graph_ids)}"
            )
        aid = canonical_uuid(assistant_id)
        assistant = self._cache.get(aid) if cached else None
        if assistant is None:
            assistant = await self._repo.get(aid)
            if assistant is None:
                raise NotFound(f"Assistant {assistant_id} not found")
            if cached:
                if len(self._cache) >= CACHED_ASSISTANTS:
                    del self._cache[next(iter(self._cache))]
                self._cache[aid] = assistant
        if authorized and self._gate.enabled and not is_system(assistant):
            await self._visible(assistant["assistant_id"], "read")
        return assistant

    async def create(self, body: Json) -> Assistant:
        self._check_graph(body["graph_id"])
        now = now_iso()
        context = body.get("context") or {}
        assistant_id = body.get("assistant_id")
        value: Json = {
            "assistant_id": canonical_uuid(assistant_id) if assistant_id else None,
            "graph_id": body["graph_id"],
            "config": body.get("config") or {},
            "context": context,
            "metadata": dict(body.get("metadata") or {}),
            "if_exists": body.get("if_exists"),
            "name": body.get("name"),
        }
        flt = await self._gate.authorize("assistants", "create", value)
        assistant: Assistant = {
            "assistant_id": canonical_uuid(assistant_id) if assistant_id else uuid7(),
            "graph_id": body["graph_id"],
            "config": with_context_in_configurable(body.get("config") or {}, context),
            "context": context,
            # Made to match its creator's filter, or its creator could not see it.
            "metadata": {**(value.get("metadata") or {}), **owned(flt)},
            "name": body.get("name") or "Untitled",
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "description": body.get("description"),
        }
        created = await self._repo.create(
            assistant, do_nothing=body.get("if_exists") == "do_nothing"
        )
        if created is not assistant and not matches(created["metadata"], flt):
            raise Conflict(f"Assistant {assistant['assistant_id']} already exists")
        return created

    async def get(self, assistant_id: str) -> Assistant:
        return await self._visible(assistant_id, "read")

    async def usage(self, assistant_id: str) -> Json:
        """The tokens the assistant's runs used, summed over all of them (`distaff.usage`)."""
        aid = (await self._visible(assistant_id, "read"))["assistant_id"]
        if await self._gate.authorize("threads", "search", {}):
            raise Refused(
                "The assistant's usage sums every user's runs; not for a user limited to some"
            )
        return {"assistant_id": aid, **await self._runs.assistant_usage(aid)}

    async def update(self, assistant_id: str, body: Json) -> Assistant:
        value: Json = {k: v for k, v in body.items() if v is not None}
        current = await self._visible(assistant_id, "update", value)
        changes = {k: v for k, v in value.items() if v is not None and k != "assistant_id"}
        if "graph_id" in changes:
            self._check_graph(changes["graph_id"])
        if "context" in changes:
            config = changes.get("config", current["config"])
            changes["config"] = with_context_in_configurable(config, changes["context"])
        self.forget(current["assistant_id"])
        return await self._repo.update(current["assistant_id"], changes)

    def forget(self, assistant_id: str) -> None:
        """Drop the cached copy (it changed here, or a run found it stale)."""
        self._cache.pop(assistant_id, None)

    async def delete(self, assistant_id: str) -> None:
        assistant = await self._visible(assistant_id, "delete")
        self.forget(assistant["assistant_id"])
        if not await self._repo.delete(assistant["assistant_id"]):
            raise NotFound()

    async def _limited(self, query: AssistantQuery, page: Page | None = None) -> AssistantQuery:
        value: Json = {"graph_id": query.graph_id, "metadata": dict(query.metadata)}
        if page is not None:
            value.update(limit=page.limit, offset=page.offset)
        flt = await self._gate.authorize("assistants", "search", value)
        return dataclasses.replace(
            query,
            graph_id=value.get("graph_id"),
            metadata=value.get("metadata") or {},
            auth=None if flt is None else {"$or": [flt, SYSTEM_ASSISTANTS]},
        )

    async def search(self, query: AssistantQuery, page: Page) -> list[Assistant]:
        return await self._repo.search(await self._limited(query, page), page)

    async def count(self, query: AssistantQuery) -> int:
        return await self._repo.count(await self._limited(query))

    async def versions(
        self, assistant_id: str, metadata: Json, page: Page
    ) -> list[AssistantVersion]:
        assistant = await self._visible(assistant_id, "read")
        return await self._repo.versions(assistant["assistant_id"], metadata, page)

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        assistant = await self._visible(assistant_id, "update", {"version": version})
        self.forget(assistant["assistant_id"])
        return await self._repo.set_latest(assistant["assistant_id"], version)

    # -- introspection -----------------------------------------------------------------------

    def _graph(self, assistant: Assistant) -> AbstractAsyncContextManager[CompiledGraph]:
        return self._graphs.graph(
            assistant["graph_id"],
            assistant["config"],
            access="assistants.read",
            user=self._gate.user(),
        )

    async def draw(self, assistant_id: str, xray: bool | int) -> Json:
        assistant = await self.resolve(assistant_id, authorized=True)
        async with self._graph(assistant) as graph:
            drawable = await graph.aget_graph(xray=xray)
        data = drawable.to_json()
        nodes = []
        for node in data["nodes"]:
            if node["id"] == "__end__":
                nodes.append({"id": node["id"]})
                continue
            node_data = node.get("data")
            name = node_data.get("name", node["id"]) if isinstance(node_data, dict) else node["id"]
            drawn: Json = {"id": node["id"], "type": node.get("type", "runnable")}
            drawn["data"] = {"name": name}
            if node.get("metadata"):  # e.g. a ToolNode's `{"__tools": [...]}`
                drawn["metadata"] = node["metadata"]
            nodes.append(drawn)
        edges = []
        for edge in data["edges"]:
            out: Json = {"source": edge["source"], "target": edge["target"]}
            if edge.get("conditional"):
                out["conditional"] = True
            if edge.get("data") is not None:
                out["data"] = edge["data"]
            edges.append(out)
        return {"nodes": nodes, "edges": edges}

    async def schemas(self, assistant_id: str) -> Json:
        assistant = await self.get(assistant_id)
        async with self._graph(assistant) as graph:
            return {"graph_id": assistant["graph_id"], **graph_schemas(graph)}

    async def subgraphs(self, assistant_id: str, namespace: str | None, recurse: bool) -> Json:
        assistant = await self.get(assistant_id)
        async with self._graph(assistant) as graph:
            return {
                ns: graph_schemas(sub)
                async for ns, sub in graph.aget_subgraphs(namespace=namespace, recurse=recurse)
            }


def _schema(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _state_schema(builder: Any) -> Json | None:
    """The state's JSON schema without its managed values (`is_last_step`,
    `remaining_steps`): langgraph fills those in, a client never sends or reads them."""
    from pydantic import TypeAdapter

    schema: Json = TypeAdapter(builder.state_schema).json_schema()
    managed = set(getattr(builder, "managed", None) or ())
    if managed and isinstance(schema.get("properties"), dict):
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in managed}
        if isinstance(schema.get("required"), list):
            schema["required"] = [k for k in schema["required"] if k not in managed]
    return schema


def _config_schema(graph: Any) -> Json:
    """The schema of `config.configurable`, as the reference gives it: `{}` when the graph
    declares none, else that one object's schema (for a graph with a context schema, the
    context's, which langgraph also accepts in `configurable`)."""
    import warnings

    from pydantic import TypeAdapter

    with warnings.catch_warnings():  # deprecated in langgraph 1.0, still what clients show
        warnings.simplefilter("ignore")
        model = graph.config_schema()
    field = (getattr(model, "model_fields", None) or {}).get("configurable")
    if field is None or field.annotation is None:
        return {}
    schema: Json = TypeAdapter(field.annotation).json_schema()
    if isinstance(props := schema.get("properties"), dict):
        schema["properties"] = {k: v for k, v in props.items() if not k.startswith("__")}
    return schema


#: Schemas by graph object: a static graph is one object for the process, and pydantic takes
#: about 60 ms to make a message graph's schemas (an MCP `tools/list` of 100 assistants of
#: one graph took 6 s). A factory's graph is a new object per call, so never a stale hit.
_SCHEMAS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def graph_schemas(graph: Any) -> Json:
    """The graph's input, output, state, config and context JSON schemas (a fresh copy: the
    callers may change theirs)."""
    try:
        cached = _SCHEMAS.get(graph)
    except TypeError:  # not weakly referable or not hashable: nothing is cached
        return _graph_schemas(graph)
    if cached is None:
        cached = _SCHEMAS[graph] = dumps(_graph_schemas(graph))
    result: Json = loads(cached)
    return result


def _graph_schemas(graph: Any) -> Json:
    builder = getattr(graph, "builder", None)
    state_schema = None
    if builder is not None and getattr(builder, "state_schema", None) is not None:
        state_schema = _schema(lambda: _state_schema(builder))
    return {
        "input_schema": _schema(graph.get_input_jsonschema),
        "output_schema": _schema(graph.get_output_jsonschema),
        "state_schema": state_schema,
        "config_schema": _schema(lambda: _config_schema(graph)),
        "context_schema": _schema(graph.get_context_jsonschema),
    }
