"""Graphs for the operations features (issue 17): a strict fake model, as model providers are.

strict_agent   model -> tools -> model. The model refuses a conversation in which an AI
               message's tool calls are not all answered by the tool messages right after it
               (OpenAI's and Anthropic's rule), and reports token usage on every answer:
               input 10 per message it was given, output 3 per word it answers (4 for a tool
               call), under the model name `strict-fake-1`.
               "slow ..." asks for `slow_lookup`, which takes STRICT_TOOL_SECONDS (a cancel
               cuts it); "weather ..." asks for `lookup`, which answers at once; anything else
               is answered "You said: ...". After a tool message: "The tool said: ...".
"""
# The fake model's methods follow BaseChatModel's untyped signatures.
# mypy: ignore-errors

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

MODEL_NAME = "strict-fake-1"
STRICT_TOOL_SECONDS = float(os.environ.get("DISTAFF_TEST_STRICT_TOOL_SECONDS", "60"))


class DanglingToolCalls(ValueError):
    pass


def check_tool_calls(messages: list[Any]) -> None:
    """Raise as a provider does when a tool call has no answer right after its message."""
    for i, message in enumerate(messages):
        calls = getattr(message, "tool_calls", None) if isinstance(message, AIMessage) else None
        if not calls:
            continue
        answered = set()
        for later in messages[i + 1 :]:
            if not isinstance(later, ToolMessage):
                break
            answered.add(later.tool_call_id)
        missing = [c["id"] for c in calls if c["id"] not in answered]
        if missing:
            raise DanglingToolCalls(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. Missing: {', '.join(missing)}"
            )


class StrictFakeModel(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "strict-fake"

    def _answer(self, messages: list[Any]) -> AIMessage:
        check_tool_calls(messages)
        last = messages[-1]
        usage_in = 10 * len(messages)
        if isinstance(last, ToolMessage):
            text = f"The tool said: {last.content}"
        else:
            said = str(last.content)
            tool_name = (
                "slow_lookup"
                if said.startswith("slow")
                else "lookup"
                if said.startswith("weather")
                else None
            )
            if tool_name is not None:
                call = {"name": tool_name, "args": {"query": said}, "id": f"call-{len(messages)}"}
                return self._message("", [call], usage_in, 4)
            text = f"You said: {said}"
        return self._message(text, [], usage_in, 3 * len(text.split()))

    @staticmethod
    def _message(text: str, calls: list[Any], usage_in: int, usage_out: int) -> AIMessage:
        return AIMessage(
            content=text,
            tool_calls=calls,
            usage_metadata={
                "input_tokens": usage_in,
                "output_tokens": usage_out,
                "total_tokens": usage_in + usage_out,
            },
            response_metadata={"model_name": MODEL_NAME},
        )

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kw):
        return self._generate(messages)


class StrictState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@tool
async def slow_lookup(query: str) -> str:
    """A lookup that takes a while."""
    await asyncio.sleep(STRICT_TOOL_SECONDS)
    return f"slow answer to {query}"


@tool
def lookup(query: str) -> str:
    """A lookup that answers at once."""
    return f"sunny, for {query}"


async def call_strict(state: StrictState, config: RunnableConfig) -> dict[str, Any]:
    return {"messages": [await StrictFakeModel().ainvoke(state["messages"], config)]}


def _route(state: StrictState) -> str:
    return "tools" if getattr(state["messages"][-1], "tool_calls", None) else END


_strict = StateGraph(StrictState)
_strict.add_node("model", call_strict)
_strict.add_node("tools", ToolNode([slow_lookup, lookup]))
_strict.add_edge(START, "model")
_strict.add_conditional_edges("model", _route, ["tools", END])
_strict.add_edge("tools", "model")
strict_agent = _strict.compile()
