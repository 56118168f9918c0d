"""Assistants: the system assistant of every graph, user-made ones, versions, and graph
introspection (drawing, JSON schemas, subgraphs)."""

from __future__ import annotations

from typing import Any

from distaff.backends.base import Backend
from distaff.errors import InvalidInput, NotFound
from distaff.graphs import GraphRegistry
from distaff.ids import canonical_uuid, is_uuid, now_iso, system_assistant_id, uuid7
from distaff.models import Assistant, AssistantQuery, AssistantVersion, Json, Page


def require_uuid(assistant_id: str) -> str:
    if not is_uuid(assistant_id):
        raise InvalidInput("Invalid assistant ID: must be a UUID")
    return canonical_uuid(assistant_id)


def with_context_in_configurable(config: Json, context: Json) -> Json:
    """Assistant `context` is mirrored into `config.configurable` for graphs that read it there."""
    if not context:
        return config
    return {**config, "configurable": {**(config.get("configurable") or {}), **context}}


class AssistantService:
    def __init__(self, backend: Backend, graphs: GraphRegistry) -> None:
        self._repo = backend.assistants
        self._graphs = graphs

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
                    "name": graph_id,
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

    async def resolve(self, assistant_id: str) -> Assistant:
        """An assistant by UUID or by graph name (the graph's system assistant)."""
        if assistant_id in self._graphs:
            assistant_id = system_assistant_id(assistant_id)
        elif not is_uuid(assistant_id):
            raise InvalidInput(
                f"Invalid assistant: '{assistant_id}'. Must be either:\n- A valid assistant UUID,"
                f" or\n- One of the registered graphs: {', '.join(self._graphs.graph_ids)}"
            )
        assistant = await self._repo.get(canonical_uuid(assistant_id))
        if assistant is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        return assistant

    async def create(self, body: Json) -> Assistant:
        self._check_graph(body["graph_id"])
        now = now_iso()
        context = body.get("context") or {}
        assistant_id = body.get("assistant_id")
        assistant: Assistant = {
            "assistant_id": canonical_uuid(assistant_id) if assistant_id else uuid7(),
            "graph_id": body["graph_id"],
            "config": with_context_in_configurable(body.get("config") or {}, context),
            "context": context,
            "metadata": body.get("metadata") or {},
            "name": body.get("name") or "Untitled",
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "description": body.get("description"),
        }
        return await self._repo.create(assistant, do_nothing=body.get("if_exists") == "do_nothing")

    async def get(self, assistant_id: str) -> Assistant:
        assistant = await self._repo.get(require_uuid(assistant_id))
        if assistant is None:
            raise NotFound()
        return assistant

    async def update(self, assistant_id: str, body: Json) -> Assistant:
        assistant_id = require_uuid(assistant_id)
        changes = {k: v for k, v in body.items() if v is not None}
        if "graph_id" in changes:
            self._check_graph(changes["graph_id"])
        if "context" in changes:
            current = await self.get(assistant_id)
            config = changes.get("config", current["config"])
            changes["config"] = with_context_in_configurable(config, changes["context"])
        return await self._repo.update(assistant_id, changes)

    async def delete(self, assistant_id: str) -> None:
        if not await self._repo.delete(require_uuid(assistant_id)):
            raise NotFound()

    async def search(self, query: AssistantQuery, page: Page) -> list[Assistant]:
        return await self._repo.search(query, page)

    async def count(self, query: AssistantQuery) -> int:
        return await self._repo.count(query)

    async def versions(
        self, assistant_id: str, metadata: Json, page: Page
    ) -> list[AssistantVersion]:
        await self.get(assistant_id)
        return await self._repo.versions(require_uuid(assistant_id), metadata, page)

    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        return await self._repo.set_latest(require_uuid(assistant_id), version)

    # -- introspection -----------------------------------------------------------------------

    async def draw(self, assistant_id: str, xray: bool | int) -> Json:
        assistant = await self.resolve(assistant_id)
        async with self._graphs.graph(assistant["graph_id"], assistant["config"]) as graph:
            drawable = await graph.aget_graph(xray=xray)
        data = drawable.to_json()
        nodes = []
        for node in data["nodes"]:
            if node["id"] == "__end__":
                nodes.append({"id": node["id"]})
                continue
            node_data = node.get("data")
            name = node_data.get("name", node["id"]) if isinstance(node_data, dict) else node["id"]
            nodes.append(
                {"id": node["id"], "type": node.get("type", "runnable"), "data": {"name": name}}
            )
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
        async with self._graphs.graph(assistant["graph_id"], assistant["config"]) as graph:
            return {"graph_id": assistant["graph_id"], **graph_schemas(graph)}

    async def subgraphs(self, assistant_id: str, namespace: str | None, recurse: bool) -> Json:
        assistant = await self.get(assistant_id)
        async with self._graphs.graph(assistant["graph_id"], assistant["config"]) as graph:
            return {
                ns: graph_schemas(sub)
                async for ns, sub in graph.aget_subgraphs(namespace=namespace, recurse=recurse)
            }


def _schema(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None


def graph_schemas(graph: Any) -> Json:
    builder = getattr(graph, "builder", None)
    state_schema = None
    if builder is not None and getattr(builder, "state_schema", None) is not None:
        from pydantic import TypeAdapter

        state_schema = _schema(lambda: TypeAdapter(builder.state_schema).json_schema())
    return {
        "input_schema": _schema(graph.get_input_jsonschema),
        "output_schema": _schema(graph.get_output_jsonschema),
        "state_schema": state_schema,
        "config_schema": _schema(graph.get_config_jsonschema),
        "context_schema": _schema(graph.get_context_jsonschema),
    }
