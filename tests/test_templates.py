"""The public LangGraph app templates run unchanged under distaff (issue 12).

`tests/templates/` holds `langchain-ai/react-agent`, `langchain-ai/memory-agent` and
`langchain-ai/new-langgraph-project` as published (their graphs, manifests and context classes
untouched) and, in `fakes/`, offline stand-ins for the provider packages they load:
`langchain_anthropic` (the chat model `init_chat_model` builds), `langchain_tavily` (react-agent's
search) and `langchain_openai` (memory-agent's store embeddings). See `tests/templates/README.md`.

Each template gets one real `distaff serve` on SQLite, started on its own `langgraph.json` with the
fakes and the template's `src/` on PYTHONPATH (what `pip install -e .` gives a real project), and
is driven with the real `langgraph_sdk` as Agent Chat UI drives it: the graph id as assistant, a
plain `{"messages": [...]}` input and no context, so the nodes' `runtime.context` comes from the
context class's defaults.

The fake model answers deterministically (see its module docstring): a statement makes it call the
first bound tool, a question (ending in "?") is answered, and every answer starts with
`[fake <model>]`, naming the model the graph asked for.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk.client import LangGraphClient

from tests.clients import sdk
from tests.conftest import ARTIFACTS
from tests.servers import Server

TEMPLATES = Path(__file__).parent / "templates"
FAKES = TEMPLATES / "fakes"
#: The provider packages are faked, but they want their keys as the real ones do.
FAKE_KEYS = {"ANTHROPIC_API_KEY": "fake", "TAVILY_API_KEY": "fake", "OPENAI_API_KEY": "fake"}
#: react-agent's and memory-agent's `Context.model` default, as the fake model names it.
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
WHO = f"[fake {DEFAULT_MODEL}]"


def template_server(name: str, tmp_path_factory: pytest.TempPathFactory) -> Server:
    root = TEMPLATES / name
    path = [str(FAKES), str(root / "src")]
    if inherited := os.environ.get("PYTHONPATH"):
        path.append(inherited)
    ARTIFACTS.mkdir(exist_ok=True)
    return Server(
        f"sqlite:///{tmp_path_factory.mktemp(name) / 'db.sqlite'}",
        manifest=root / "langgraph.json",
        env={"PYTHONPATH": os.pathsep.join(path), **FAKE_KEYS},
        log_path=ARTIFACTS / f"server-template-{name}.log",
    )


@pytest.fixture(scope="module")
def react_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with template_server("react-agent", tmp_path_factory) as srv:
        yield srv


@pytest.fixture(scope="module")
def memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with template_server("memory-agent", tmp_path_factory) as srv:
        yield srv


@pytest.fixture(scope="module")
def project_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with template_server("new-langgraph-project", tmp_path_factory) as srv:
        yield srv


@pytest.fixture
async def react(react_server: Server) -> AsyncIterator[LangGraphClient]:
    async with sdk(react_server) as lg:
        yield lg


@pytest.fixture
async def memory(memory_server: Server) -> AsyncIterator[LangGraphClient]:
    async with sdk(memory_server) as lg:
        yield lg


@pytest.fixture
async def project(project_server: Server) -> AsyncIterator[LangGraphClient]:
    async with sdk(project_server) as lg:
        yield lg


def user_says(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def new_thread(client: LangGraphClient) -> str:
    return str((await client.threads.create())["thread_id"])


async def system_assistant(client: LangGraphClient) -> dict[str, Any]:
    """The assistant the server made for graph `agent`, found as the studio finds it."""
    found = await client.assistants.search(graph_id="agent", metadata={"created_by": "system"})
    assert len(found) == 1, found
    return dict(found[0])


async def stream_messages(
    client: LangGraphClient, thread_id: str | None, input: dict[str, Any], **kwargs: Any
) -> tuple[list[str], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """A `messages-tuple` stream's event names and its (message, metadata) pairs."""
    events: list[str] = []
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    async for part in client.runs.stream(
        thread_id, "agent", input=input, stream_mode="messages-tuple", **kwargs
    ):
        events.append(part.event)
        assert part.event != "error", part.data
        if part.event == "messages":
            message, metadata = part.data
            pairs.append((message, metadata))
    return events, pairs


def final_text(pairs: list[tuple[dict[str, Any], dict[str, Any]]], node: str) -> list[str]:
    """The text chunks of the last model message streamed from `node`."""
    chunks = [(m, meta) for m, meta in pairs if meta.get("langgraph_node") == node]
    last_id = chunks[-1][0]["id"]
    return [m["content"] for m, _ in chunks if m["id"] == last_id]


# react-agent: a model with a search tool, in a loop ---------------------------------------------

QUESTION = "Look up who spun wool with a distaff"
#: The fake model's answer once react-agent's search tool (faked Tavily) has run.
ANSWER = f"{WHO} The tool said: 10 results, the first: Fake result 1 for {QUESTION!r}"


async def test_react_agent_runs_its_tool_loop_with_the_default_context(
    react: LangGraphClient,
) -> None:
    thread_id = await new_thread(react)
    values = await react.runs.wait(thread_id, "agent", input=user_says(QUESTION))

    messages = values["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"], messages
    human, call, result, answer = messages
    assert human["content"] == QUESTION
    # The model (the context's default, anthropic/claude-sonnet-4-5-...) asked for the tool...
    assert [(c["name"], c["args"]) for c in call["tool_calls"]] == [("search", {"query": QUESTION})]
    # ...the ToolNode ran it, and the tool read the context's default max_search_results (10)
    # through get_runtime(Context)...
    assert result["name"] == "search"
    assert result["tool_call_id"] == call["tool_calls"][0]["id"]
    found = json.loads(result["content"])
    assert found["query"] == QUESTION
    assert len(found["results"]) == 10
    # ...and the model answered from the tool's result.
    assert answer["content"] == ANSWER
    assert answer["tool_calls"] == []

    state = await react.threads.get_state(thread_id)
    assert [m["id"] for m in state["values"]["messages"]] == [m["id"] for m in messages]
    assert state["next"] == []
    assert (await react.threads.get(thread_id))["status"] == "idle"


async def test_react_agent_streams_the_tool_call_the_tool_result_and_the_answer_token_by_token(
    react: LangGraphClient,
) -> None:
    thread_id = await new_thread(react)
    events, pairs = await stream_messages(react, thread_id, user_says(QUESTION))
    assert events[0] == "metadata"
    assert set(events) == {"metadata", "messages"}

    nodes = [meta["langgraph_node"] for _, meta in pairs]
    assert nodes[0] == "call_model" and "tools" in nodes and nodes[-1] == "call_model", nodes
    # The tool call came in chunks, named in the first.
    call_chunks = [m for m, meta in pairs if m.get("tool_call_chunks")]
    assert len(call_chunks) == 2
    assert call_chunks[0]["tool_call_chunks"][0]["name"] == "search"
    assert json.loads("".join(c["tool_call_chunks"][0]["args"] for c in call_chunks)) == {
        "query": QUESTION
    }
    # The tool's result as one message from the tools node.
    tool_messages = [m for m, meta in pairs if m["type"] == "tool"]
    assert len(tool_messages) == 1
    assert pairs[nodes.index("tools")][0]["type"] == "tool"
    assert len(json.loads(tool_messages[0]["content"])["results"]) == 10
    # The answer, a token at a time.
    tokens = final_text(pairs, "call_model")
    assert len(tokens) > 5
    assert "".join(tokens) == ANSWER
    model_nodes = [m for m, meta in pairs if meta["langgraph_node"] == "call_model"]
    assert {m["type"] for m in model_nodes} == {"AIMessageChunk"}

    # The thread keeps the same conversation the stream showed.
    state = await react.threads.get_state(thread_id)
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai", "tool", "ai"]
    assert state["values"]["messages"][-1]["content"] == ANSWER
    runs = await react.runs.list(thread_id)
    assert [r["status"] for r in runs] == ["success"]


async def test_react_agent_context_and_declared_configurable_keys_reach_the_nodes(
    react: LangGraphClient,
) -> None:
    # A stateless run, as a script would start one, with an explicit context.
    values = await react.runs.wait(
        None,
        "agent",
        input=user_says(QUESTION),
        context={"model": "anthropic/claude-haiku-fake", "max_search_results": 3},
    )
    assert len(json.loads(values["messages"][2]["content"])["results"]) == 3
    assert values["messages"][-1]["content"].startswith("[fake claude-haiku-fake] The tool said: 3")
    # A configurable key that the context class declares fills the context too.
    values = await react.runs.wait(
        None, "agent", input=user_says(QUESTION), config={"configurable": {"max_search_results": 2}}
    )
    assert len(json.loads(values["messages"][2]["content"])["results"]) == 2
    assert values["messages"][-1]["content"].startswith(f"{WHO} The tool said: 2 results")


async def test_react_agent_schemas_show_its_context_class(react: LangGraphClient) -> None:
    assistant = await system_assistant(react)
    assert assistant["name"] == "ReAct Agent"
    schemas = await react.assistants.get_schemas(assistant["assistant_id"])
    context = schemas["context_schema"]
    assert set(context["properties"]) == {"system_prompt", "model", "max_search_results"}
    assert context["properties"]["model"]["default"] == f"anthropic/{DEFAULT_MODEL}"
    assert context["properties"]["max_search_results"]["default"] == 10
    assert "{system_time}" in context["properties"]["system_prompt"]["default"]
    assert "messages" in schemas["input_schema"]["properties"]


# memory-agent: memories written to the store and found again by semantic search -----------------

BOAT = "Remember that my boat is a blue dinghy called Spindle"


async def _remember(client: LangGraphClient, thread_id: str, **kwargs: Any) -> str:
    """Tell the agent something; return the key of the memory its tool call stored."""
    values = await client.runs.wait(thread_id, "agent", input=user_says(BOAT), **kwargs)
    messages = values["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"], messages
    _, call, stored, answer = messages
    assert [(c["name"], c["args"]) for c in call["tool_calls"]] == [
        ("upsert_memory", {"content": BOAT, "context": BOAT})
    ]
    assert stored["tool_call_id"] == call["tool_calls"][0]["id"]
    assert stored["content"].startswith("Stored memory ")
    key = stored["content"].removeprefix("Stored memory ")
    assert answer["content"] == f"{WHO} The tool said: Stored memory {key}"
    return str(key)


# A run sent with no context and no user gets the class's default user ("default"): the context
# is built from the caller's configuration, not from distaff's own `configurable.user_id = ""`.
async def test_memory_agent_plain_run_remembers_for_the_default_user(
    memory: LangGraphClient,
) -> None:
    key = await _remember(memory, await new_thread(memory))
    found = await memory.store.search_items(["memories", "default"])
    assert [item["key"] for item in found["items"]] == [key]


# The caller's own `config.configurable.user_id` reaches the context.
async def test_memory_agent_takes_the_user_from_the_configurable(memory: LangGraphClient) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    key = await _remember(
        memory, await new_thread(memory), config={"configurable": {"user_id": user}}
    )
    found = await memory.store.search_items(["memories", user])
    assert [item["key"] for item in found["items"]] == [key]


async def test_memory_agent_writes_a_memory_and_uses_it_in_another_thread(
    memory: LangGraphClient,
) -> None:
    # An explicit user in the context; everything else (model, system prompt) comes from the
    # context class's defaults.
    user = f"u{uuid.uuid4().hex[:8]}"
    key = await _remember(memory, await new_thread(memory), context={"user_id": user})

    # The memory is in the store, under the user's namespace, and indexed: a semantic search
    # (store.index in the template's manifest, embedded by the fake OpenAI embeddings) scores it.
    found = (await memory.store.search_items(["memories", user]))["items"]
    assert [(i["key"], i["value"]) for i in found] == [(key, {"content": BOAT, "context": BOAT})]
    ranked = (await memory.store.search_items(["memories", user], query="blue dinghy"))["items"]
    assert [i["key"] for i in ranked] == [key]
    assert ranked[0]["score"] is not None and ranked[0]["score"] > 0.2

    # A second thread: the graph finds the memory by semantic search and the model is given it.
    thread_id = await new_thread(memory)
    events, pairs = await stream_messages(
        memory, thread_id, user_says("What is my boat called?"), context={"user_id": user}
    )
    assert set(events) == {"metadata", "messages"}
    answer = "".join(final_text(pairs, "call_model"))
    assert answer.startswith(f"{WHO} You said: What is my boat called? I remember: [{key}]: ")
    assert "blue dinghy called Spindle" in answer
    assert "(similarity: " in answer and "(similarity: None)" not in answer
    state = await memory.threads.get_state(thread_id)
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]
    assert state["values"]["messages"][-1]["content"] == answer

    # Another user's memories are their own.
    values = await memory.runs.wait(
        None, "agent", input=user_says("What is my boat called?"), context={"user_id": user + "x"}
    )
    assert values["messages"][-1]["content"] == f"{WHO} You said: What is my boat called?"


async def test_memory_agent_schemas_show_its_context_class(memory: LangGraphClient) -> None:
    assistant = await system_assistant(memory)
    assert assistant["name"] == "MemoryAgent"
    schemas = await memory.assistants.get_schemas(assistant["assistant_id"])
    context = schemas["context_schema"]
    assert set(context["properties"]) == {"user_id", "model", "system_prompt"}
    assert context["properties"]["user_id"]["default"] == "default"
    assert context["properties"]["model"]["default"] == f"anthropic/{DEFAULT_MODEL}"


# new-langgraph-project: one node, a TypedDict context without defaults -------------------------


async def test_new_project_runs_without_context_and_with_one(project: LangGraphClient) -> None:
    thread_id = await new_thread(project)
    # No context at all: the node reads `(runtime.context or {}).get(...)`.
    values = await project.runs.wait(thread_id, "agent", input={"changeme": "hello"})
    assert values == {"changeme": "output from call_model. Configured with None"}

    values = await project.runs.wait(
        thread_id, "agent", input={"changeme": "hello"}, context={"my_configurable_param": "blue"}
    )
    assert values == {"changeme": "output from call_model. Configured with blue"}
    values = await project.runs.wait(
        None,
        "agent",
        input={"changeme": "hello"},
        config={"configurable": {"my_configurable_param": "green"}},
    )
    assert values == {"changeme": "output from call_model. Configured with green"}

    # Streamed as a chat client would ask (no model here, so no message events), with updates.
    seen: list[tuple[str, Any]] = []
    async for part in project.runs.stream(
        thread_id, "agent", input={"changeme": "again"}, stream_mode=["messages-tuple", "updates"]
    ):
        seen.append((part.event, part.data))
    assert [event for event, _ in seen] == ["metadata", "updates"], seen
    unset = {"changeme": "output from call_model. Configured with None"}
    assert seen[1][1] == {"call_model": unset}
    assert (await project.threads.get_state(thread_id))["values"] == unset


async def test_new_project_schemas_show_its_context_class(project: LangGraphClient) -> None:
    assistant = await system_assistant(project)
    assert assistant["name"] == "New Graph"
    schemas = await project.assistants.get_schemas(assistant["assistant_id"])
    assert schemas["context_schema"]["properties"] == {
        "my_configurable_param": {"title": "My Configurable Param", "type": "string"}
    }
    assert schemas["context_schema"]["required"] == ["my_configurable_param"]
    assert schemas["input_schema"]["properties"]["changeme"]["default"] == "example"
