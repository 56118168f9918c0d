"""Graphs for the v2 streaming tests, after the ones the v2 contract was captured with
(`../shared/reference/capture-graphs/v2/v2graphs.py`). Deterministic: fake chat models only.

  tools_agent    a fake model streams a tool call (as tool-call chunks), a ToolNode runs it,
                 the model streams a text answer
  deep           root -> subgraph "mid" -> subgraph "leaf"; the leaf streams a fake reply
  nested_hitl    root node, then subgraph "child" whose node calls interrupt()
  two_interrupts two parallel nodes that each call interrupt() in one superstep
  lanes          a plain custom event and one on a named lane
  typist         a fake model streams TYPED_REPLY a token at a time, TYPING_DELAY seconds apart
                 (slow enough for a browser to watch the text grow and to reload mid-run)
"""
# The fake model's methods follow BaseChatModel's untyped signatures.
# mypy: ignore-errors

from __future__ import annotations

import asyncio
import json
import operator
import os
import re
from typing import Annotated, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt
from typing_extensions import TypedDict


class ChatState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


# --------------------------------------------------------------------------- fake tool model
class FakeToolModel(BaseChatModel):
    """First turn: a tool call to get_weather(city=Paris), streamed as chunks.
    After a ToolMessage: a text answer streamed word by word."""

    @property
    def _llm_type(self) -> str:
        return "fake-tool-model"

    def _plan(self, messages):
        if messages and isinstance(messages[-1], ToolMessage):
            return ("text", f"The weather tool says: {messages[-1].content}")
        return ("tool", None)

    def _generate(
        self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kw
    ):
        kind, text = self._plan(messages)
        if kind == "text":
            msg = AIMessage(content=text)
        else:
            msg = AIMessage(
                content="",
                tool_calls=[
                    {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_weather_1"}
                ],
            )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _chunks(self, messages):
        kind, text = self._plan(messages)
        if kind == "text":
            words = text.split(" ")
            for i, w in enumerate(words):
                yield AIMessageChunk(content=w + (" " if i < len(words) - 1 else ""))
            return
        args = json.dumps({"city": "Paris"})
        parts = [args[:5], args[5:11], args[11:]]
        yield AIMessageChunk(
            content="",
            tool_call_chunks=[
                {"name": "get_weather", "args": parts[0], "id": "call_weather_1", "index": 0}
            ],
        )
        for p in parts[1:]:
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[{"name": None, "args": p, "id": None, "index": 0}],
            )

    def _stream(
        self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kw
    ):
        for c in self._chunks(messages):
            chunk = ChatGenerationChunk(message=c)
            if run_manager:
                run_manager.on_llm_new_token(
                    c.content if isinstance(c.content, str) else "", chunk=chunk
                )
            yield chunk

    async def _astream(
        self, messages, stop=None, run_manager: AsyncCallbackManagerForLLMRun | None = None, **kw
    ):
        for c in self._chunks(messages):
            chunk = ChatGenerationChunk(message=c)
            if run_manager:
                await run_manager.on_llm_new_token(
                    c.content if isinstance(c.content, str) else "", chunk=chunk
                )
            yield chunk


@tool
def get_weather(city: str) -> str:
    """Return the weather for a city (deterministic)."""
    return f"sunny in {city}"


async def call_model(state: ChatState, config: RunnableConfig):
    resp = await FakeToolModel().ainvoke(state["messages"], config)
    return {"messages": [resp]}


def route(state: ChatState):
    last = state["messages"][-1]
    return "tools" if getattr(last, "tool_calls", None) else END


def _tools_builder():
    b = StateGraph(ChatState)
    b.add_node("model", call_model)
    b.add_node("tools", ToolNode([get_weather]))
    b.add_edge(START, "model")
    b.add_conditional_edges("model", route, ["tools", END])
    b.add_edge("tools", "model")
    return b


tools_agent = _tools_builder().compile()


# --------------------------------------------------------------------------- deep
async def leaf_talk(state: ChatState, config: RunnableConfig):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="leaf says hi")]))
    resp = await model.ainvoke(state["messages"], config)
    return {"messages": [resp]}


_leaf = StateGraph(ChatState)
_leaf.add_node("talk", leaf_talk)
_leaf.add_edge(START, "talk")
_leaf.add_edge("talk", END)
leaf_graph = _leaf.compile()


def mid_prep(state: ChatState):
    return {"messages": [AIMessage(content="mid prepared")]}


_mid = StateGraph(ChatState)
_mid.add_node("prep", mid_prep)
_mid.add_node("leaf", leaf_graph)
_mid.add_edge(START, "prep")
_mid.add_edge("prep", "leaf")
_mid.add_edge("leaf", END)
mid_graph = _mid.compile()


def root_start(state: ChatState):
    return {"messages": [AIMessage(content="root started")]}


_d = StateGraph(ChatState)
_d.add_node("start", root_start)
_d.add_node("mid", mid_graph)
_d.add_edge(START, "start")
_d.add_edge("start", "mid")
_d.add_edge("mid", END)
deep = _d.compile()


# --------------------------------------------------------------------------- nested_hitl
class HState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    approved: Any


def child_ask(state: HState):
    answer = interrupt({"question": "child approve?"})
    return {"approved": answer, "messages": [AIMessage(content=f"child got {answer}")]}


_hc = StateGraph(HState)
_hc.add_node("ask", child_ask)
_hc.add_edge(START, "ask")
_hc.add_edge("ask", END)
hitl_child = _hc.compile()


def nh_root(state: HState):
    return {"messages": [AIMessage(content="root before child")]}


_nh = StateGraph(HState)
_nh.add_node("root", nh_root)
_nh.add_node("child", hitl_child)
_nh.add_edge(START, "root")
_nh.add_edge("root", "child")
_nh.add_edge("child", END)
nested_hitl = _nh.compile()


# --------------------------------------------------------------------------- two_interrupts
class TwoState(TypedDict, total=False):
    answers: Annotated[list[str], operator.add]


def ask_a(state: TwoState):
    return {"answers": [f"a={interrupt({'question': 'A?'})}"]}


def ask_b(state: TwoState):
    return {"answers": [f"b={interrupt({'question': 'B?'})}"]}


_t = StateGraph(TwoState)
_t.add_node("ask_a", ask_a)
_t.add_node("ask_b", ask_b)
_t.add_edge(START, "ask_a")
_t.add_edge(START, "ask_b")
_t.add_edge("ask_a", END)
_t.add_edge("ask_b", END)
two_interrupts = _t.compile()


# --------------------------------------------------------------------------- lanes
class LaneState(TypedDict, total=False):
    done: bool


def lanes_work(state: LaneState) -> dict[str, Any]:
    """A plain custom event and one on the named lane `progress` (`custom:progress`)."""
    writer = get_stream_writer()
    writer({"step": 1})
    writer({"name": "progress", "payload": {"pct": 50}})
    return {"done": True}


_lanes = StateGraph(LaneState)
_lanes.add_node("work", lanes_work)
_lanes.add_edge(START, "work")
lanes = _lanes.compile()


# --------------------------------------------------------------------------- typist
TYPING_DELAY = float(os.environ.get("DISTAFF_TEST_TYPING_DELAY", "0.1"))
TYPED_REPLY = "alpha beta gamma delta epsilon zeta eta theta iota kappa"


class TypingModel(BaseChatModel):
    """Streams TYPED_REPLY token by token (words and the spaces between them), with a pause
    before each token."""

    @property
    def _llm_type(self) -> str:
        return "fake-typing-model"

    def _generate(
        self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kw
    ):
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=TYPED_REPLY))])

    async def _astream(
        self, messages, stop=None, run_manager: AsyncCallbackManagerForLLMRun | None = None, **kw
    ):
        tokens = re.split(r"(\s)", TYPED_REPLY)
        for i, token in enumerate(tokens):
            await asyncio.sleep(TYPING_DELAY)
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=token, chunk_position="last" if i == len(tokens) - 1 else None
                )
            )
            if run_manager:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


async def type_reply(state: ChatState, config: RunnableConfig):
    return {"messages": [await TypingModel().ainvoke(state["messages"], config)]}


_ty = StateGraph(ChatState)
_ty.add_node("type", type_reply)
_ty.add_edge(START, "type")
_ty.add_edge("type", END)
typist = _ty.compile()
