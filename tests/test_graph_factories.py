"""Graph factories that take langgraph_sdk's `ServerRuntime` (`graph(config, runtime)`, as an
async context manager): called for runs, state reads, state writes and introspection, each
with the access context the reference passes, the store, and for a run its context.

`runtime_factory` (tests/graphs/graphs.py) notes every call in the store, under
`("factory_calls", <thread id or "-">)`, and a run answers with what its runtime carried.
"""

from __future__ import annotations

import httpx
from langgraph_sdk.client import LangGraphClient

MSG = {"messages": [{"role": "user", "content": "x"}]}


async def _calls(client: LangGraphClient, key: str) -> list[str]:
    found = await client.store.search_items(["factory_calls", key], limit=100)
    return sorted(str(item["value"]["access"]) for item in found["items"])


async def test_a_run_gets_the_execution_runtime_with_its_context(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    values = await client.runs.wait(tid, "runtime_factory", input=MSG)
    assert isinstance(values, dict)
    answer = values["messages"][-1]["content"]
    # The context reached the factory built from the schema's defaults, as an object.
    assert answer == "access=threads.create_run model=fake/default-model user=None"
    values = await client.runs.wait(tid, "runtime_factory", input=MSG, context={"model": "m2"})
    assert isinstance(values, dict)
    assert values["messages"][-1]["content"] == "access=threads.create_run model=m2 user=None"
    stateless = await client.runs.wait(None, "runtime_factory", input=MSG)
    assert isinstance(stateless, dict)
    assert stateless["messages"][-1]["content"].startswith("access=threads.create_run")


async def test_reads_writes_and_introspection_get_their_access_context(
    client: LangGraphClient, http: httpx.AsyncClient
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "runtime_factory", input=MSG)
    before = await _calls(client, tid)
    assert "threads.create_run" in before
    await client.threads.get_state(tid)
    await client.threads.get_history(tid)
    after_reads = await _calls(client, tid)
    assert after_reads.count("threads.read") >= before.count("threads.read") + 2
    await client.threads.update_state(tid, {"messages": [{"type": "ai", "content": "manual"}]})
    assert "threads.update" in await _calls(client, tid)
    # Introspection has no thread: the factory sees an empty config.
    introspected = len(await _calls(client, "-"))
    assistant = (await client.assistants.search(graph_id="runtime_factory"))[0]
    for path in ("schemas", "graph", "subgraphs"):
        r = await http.get(f"/assistants/{assistant['assistant_id']}/{path}")
        assert r.status_code == 200, (path, r.text)
    calls = await _calls(client, "-")
    assert len(calls) >= introspected + 3
    assert set(calls) <= {"assistants.read", "threads.create_run"}
    schemas = (await http.get(f"/assistants/{assistant['assistant_id']}/schemas")).json()
    assert schemas["context_schema"]["title"] == "TemplateContext"
