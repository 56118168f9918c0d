"""Graphs the test suite serves. Deterministic: no model calls, fake chat models only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from langgraph_sdk.runtime import ServerRuntime
from typing_extensions import TypedDict  # pydantic needs it for JSON schemas before 3.12

assert os.environ.get("DISTAFF_TEST_GRAPHS") == "1", "the manifest's env section was not applied"


# agent: streams "Hello there friend" token by token; "boom" raises ValueError.
async def chat(state: MessagesState) -> dict[str, Any]:
    last = str(state["messages"][-1].content)
    if last == "boom":
        raise ValueError("boom requested")
    get_stream_writer()({"custom_key": "custom value from node"})
    model = GenericFakeChatModel(messages=iter([AIMessage("Hello there friend")]))
    return {"messages": [await model.ainvoke(state["messages"])]}


_agent = StateGraph(MessagesState)
_agent.add_node("chat", chat)
_agent.add_edge(START, "chat")
agent = _agent.compile()


# trivial: answers "ok" without streaming.
def echo(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("ok")]}


_trivial = StateGraph(MessagesState)
_trivial.add_node("echo", echo)
_trivial.add_edge(START, "echo")
trivial = _trivial.compile()


# hitl: asks a human, then says "done".
class HitlState(TypedDict, total=False):
    messages: Annotated[list[Any], add_messages]
    approved: str


def ask(state: HitlState) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "n": 1})
    return {"approved": str(answer), "messages": [AIMessage(f"human said {answer}")]}


def after(state: HitlState) -> dict[str, Any]:
    return {"messages": [AIMessage("done")]}


_hitl = StateGraph(HitlState)
_hitl.add_node("ask", ask)
_hitl.add_node("after", after)
_hitl.add_edge(START, "ask")
_hitl.add_edge("ask", "after")
hitl = _hitl.compile()


# parent: a node, then a subgraph.
def inner(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("from inner")]}


_child = StateGraph(MessagesState)
_child.add_node("inner", inner)
_child.add_edge(START, "inner")
child = _child.compile()


def outer(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("from outer")]}


_parent = StateGraph(MessagesState)
_parent.add_node("outer", outer)
_parent.add_node("child", child)
_parent.add_edge(START, "outer")
_parent.add_edge("outer", "child")
parent = _parent.compile()


# slow: emits a custom tick every `DELAY` seconds, `n` times (n = the last message's text).
DELAY = float(os.environ.get("DISTAFF_TEST_SLOW_DELAY", "0.2"))


async def tick(state: MessagesState) -> dict[str, Any]:
    writer = get_stream_writer()
    try:
        n = int(str(state["messages"][-1].content))
    except (ValueError, IndexError):
        n = 3
    for i in range(n):
        writer({"tick": i})
        await asyncio.sleep(DELAY)
    return {"messages": [AIMessage("slow done")]}


_slow = StateGraph(MessagesState)
_slow.add_node("tick", tick)
_slow.add_edge(START, "tick")
slow = _slow.compile()


# steps: `n` steps of `DELAY` seconds, one node run a superstep (n = the last message's text);
# each start is appended to the file DISTAFF_TEST_STEPS_LOG names, to show which ran twice.
class StepsState(MessagesState):
    done: int


async def step(state: StepsState) -> dict[str, Any]:
    done = state.get("done", 0)
    log = os.environ.get("DISTAFF_TEST_STEPS_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{done}\n")
    await asyncio.sleep(DELAY)
    return {"done": done + 1}


def _more(state: StepsState) -> str:
    try:
        n = int(str(state["messages"][-1].content))
    except (ValueError, IndexError):
        n = 3
    return "step" if state["done"] < n else "__end__"


_steps = StateGraph(StepsState)
_steps.add_node("step", step)
_steps.add_edge(START, "step")
_steps.add_conditional_edges("step", _more, ["step", "__end__"])
steps = _steps.compile()


# configured: reports what configuration and context reached the graph.
class Context(TypedDict, total=False):
    model: str
    tone: str


class ConfiguredState(TypedDict, total=False):
    messages: Annotated[list[Any], add_messages]
    seen: dict[str, Any]


def report(
    state: ConfiguredState, config: RunnableConfig, runtime: Runtime[Context]
) -> dict[str, Any]:
    configurable = config.get("configurable", {})
    return {
        "seen": {
            "context": dict(runtime.context or {}),
            "configurable": {k: v for k, v in configurable.items() if not k.startswith("__")},
            "tags": config.get("tags", []),
            "metadata_graph_id": config.get("metadata", {}).get("graph_id"),
        }
    }


_configured = StateGraph(ConfiguredState, context_schema=Context)
_configured.add_node("report", report)
_configured.add_edge(START, "report")
configured = _configured.compile()


# factory: built per run from the run's config.
def make_factory_graph(config: RunnableConfig) -> Any:
    greeting = config.get("configurable", {}).get("greeting", "hello")

    def greet(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"{greeting} from factory")]}

    builder = StateGraph(MessagesState)
    builder.add_node("greet", greet)
    builder.add_edge(START, "greet")
    return builder


# builder: gets the server's checkpointer and store injected once at start-up.
def build_with_checkpointer(checkpointer: Any, store: Any) -> Any:
    assert checkpointer is not None and store is not None

    def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("built")]}

    builder = StateGraph(MessagesState)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    return builder.compile(checkpointer=checkpointer, store=store)


# rich: answers with a message using every field a message can carry.
def rich_answer(state: MessagesState) -> dict[str, Any]:
    return {
        "messages": [
            AIMessage(
                content=[{"type": "text", "text": "part one"}, {"type": "text", "text": "two"}],
                name="assistant-bot",
                id="rich-1",
                additional_kwargs={"extra": {"nested": [1, 2]}},
                response_metadata={"model_name": "fake", "finish_reason": "stop"},
                tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "call-1"}],
                usage_metadata={"input_tokens": 3, "output_tokens": 5, "total_tokens": 8},
            )
        ]
    }


_rich = StateGraph(MessagesState)
_rich.add_node("answer", rich_answer)
_rich.add_edge(START, "answer")
rich = _rich.compile()


# remember: keeps every message it sees in the long-term store and reports how many it has.
async def note(state: MessagesState, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None, "the server did not give the graph its store"
    text = str(state["messages"][-1].content)
    await store.aput(("notes",), text, {"text": text, "length": len(text)})
    seen = await store.asearch(("notes",), limit=100)
    return {"messages": [AIMessage(f"{len(seen)} notes")]}


_remember = StateGraph(MessagesState)
_remember.add_node("note", note)
_remember.add_edge(START, "note")
remember = _remember.compile()


# recall: a *sync* node that files `docs` in the store and searches them by meaning; with
# store.index set, sync store calls cross to the server's loop and database thread.
class RecallState(TypedDict, total=False):
    namespace: list[str]
    docs: dict[str, str]
    query: str
    hits: list[Any]


def file_and_search(state: RecallState, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None, "the server did not give the graph its store"
    namespace = tuple(state["namespace"])
    for key, text in state.get("docs", {}).items():
        store.put(namespace, key, {"text": text})
    found = store.search(namespace, query=state["query"], limit=10)
    return {"hits": [[item.key, item.score] for item in found]}


_recall = StateGraph(RecallState)
_recall.add_node("file_and_search", file_and_search)
_recall.add_edge(START, "file_and_search")
recall = _recall.compile()


# templated: what the react-agent and memory-agent templates do. A dataclass context with
# defaults, read as attributes (`runtime.context.model`); a state with a managed value; a name
# given at compile time.
@dataclass(kw_only=True)
class TemplateContext:
    """How the templated graph answers."""

    model: str = "fake/default-model"
    system_prompt: str = "You are helpful."


class TemplatedState(MessagesState):
    remaining_steps: RemainingSteps


def templated_answer(state: TemplatedState, runtime: Runtime[TemplateContext]) -> dict[str, Any]:
    context = runtime.context
    return {"messages": [AIMessage(f"{context.model} | {context.system_prompt}")]}


_templated = StateGraph(TemplatedState, context_schema=TemplateContext)
_templated.add_node("answer", templated_answer)
_templated.add_edge(START, "answer")
templated = _templated.compile(name="Templated Agent")


# tooled: a model turn that calls a tool, then langgraph's ToolNode runs it.
@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def call_weather(state: MessagesState) -> dict[str, Any]:
    call = {"name": "get_weather", "args": {"city": "Paris"}, "id": f"call-{uuid.uuid4().hex}"}
    return {"messages": [AIMessage("", tool_calls=[call])]}


_tooled = StateGraph(MessagesState)
_tooled.add_node("call", call_weather)
_tooled.add_node("tools", ToolNode([get_weather]))
_tooled.add_edge(START, "call")
_tooled.add_edge("call", "tools")
tooled = _tooled.compile()


# runtime_factory: a factory taking langgraph_sdk's ServerRuntime besides the config, as an
# async context manager. Every call is noted in the store (namespace `factory_calls`, key the
# thread or "-"), and a run answers with what its runtime carried.
@contextlib.asynccontextmanager
async def make_runtime_graph(
    config: RunnableConfig, runtime: ServerRuntime[TemplateContext]
) -> AsyncIterator[Any]:
    execution = runtime.execution_runtime
    user = runtime.user.identity if runtime.user is not None else None
    model = execution.context.model if execution is not None else None
    thread_id = config.get("configurable", {}).get("thread_id") or "-"
    await runtime.store.aput(
        ("factory_calls", str(thread_id)),
        uuid.uuid4().hex,
        {"access": runtime.access_context, "user": user},
    )

    def answer(state: MessagesState) -> dict[str, Any]:
        text = f"access={runtime.access_context} model={model} user={user}"
        return {"messages": [AIMessage(text)]}

    builder = StateGraph(MessagesState, context_schema=TemplateContext)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    yield builder.compile()
