"""Graphs for the studio's browser tests. Deterministic, no model calls: `chat` types its answer
token by token with a pause between tokens (so a browser can watch it grow) and calls a tool
when asked about the weather; `counter` has no messages channel (the studio's input editor)."""

from __future__ import annotations

import asyncio
import operator
import os
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from typing_extensions import TypedDict

#: Seconds between two streamed tokens.
TYPING_DELAY = float(os.environ.get("DISTAFF_TEST_TYPING_DELAY", "0.12"))


class TypingModel(BaseChatModel):
    """A fake chat model that streams `reply` a token at a time, `delay` seconds apart."""

    reply: str
    delay: float = TYPING_DELAY

    @property
    def _llm_type(self) -> str:
        return "typing-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        tokens = re.split(r"(\s)", self.reply)
        for i, token in enumerate(tokens):
            await asyncio.sleep(self.delay)
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=token, chunk_position="last" if i == len(tokens) - 1 else None
                )
            )
            if run_manager:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


# chat: answers by streaming; "weather" makes it call get_weather first.
async def assistant(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    if isinstance(last, ToolMessage):
        reply = f"In Paris it is {last.content}."
    elif "weather" in str(last.content).lower():
        call = {"name": "get_weather", "args": {"city": "Paris"}, "id": "call-weather-1"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}
    else:
        reply = f"You said: {last.content}. This answer streams one token at a time."
    return {"messages": [await TypingModel(reply=reply).ainvoke(state["messages"])]}


def get_weather(state: MessagesState) -> dict[str, Any]:
    call = state["messages"][-1].tool_calls[0]  # type: ignore[union-attr]
    return {"messages": [ToolMessage("sunny, 21 °C", tool_call_id=call["id"], name=call["name"])]}


def route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


_chat = StateGraph(MessagesState)
_chat.add_node("assistant", assistant)
_chat.add_node("tools", get_weather)
_chat.add_edge(START, "assistant")
_chat.add_conditional_edges("assistant", route, ["tools", END])
_chat.add_edge("tools", "assistant")
chat = _chat.compile()


# counter: no messages; doubles `count`, then writes a summary.
class CounterInput(TypedDict):
    count: int


class CounterState(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


def double(state: CounterState) -> dict[str, Any]:
    get_stream_writer()({"doubling": state["count"]})
    return {"count": state["count"] * 2, "log": [f"doubled {state['count']}"]}


def summarize(state: CounterState) -> dict[str, Any]:
    return {"log": [f"count is {state['count']}"]}


_counter = StateGraph(CounterState, input_schema=CounterInput)
_counter.add_node("double", double)
_counter.add_node("summarize", summarize)
_counter.add_edge(START, "double")
_counter.add_edge("double", "summarize")
counter = _counter.compile()
