"""The benchmark's graphs: `bench`, one node that answers "ok", `chat`, a fake chat model
streaming 20 tokens (for the streaming rows), and `steps` (for bench_drain.py). No real model,
no I/O: what is measured is the server (or langgraph itself, for the in-process baseline), not
the graph."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph


def answer(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("ok")]}


builder = StateGraph(MessagesState)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
graph = builder.compile()


async def chat(state: MessagesState) -> dict[str, Any]:
    """A fake chat model streaming 20 tokens: what time to first token measures."""
    model = GenericFakeChatModel(messages=iter([AIMessage(" ".join(f"w{i}" for i in range(20)))]))
    return {"messages": [await model.ainvoke(state["messages"])]}


chat_builder = StateGraph(MessagesState)
chat_builder.add_node("chat", chat)
chat_builder.add_edge(START, "chat")
chat_graph = chat_builder.compile()


# steps: `n` steps of STEP_SECONDS (n = the last message's text), one node a superstep, for
# bench_drain.py: a SIGTERM lands mid-step and the run drains at the step's end.
STEP_SECONDS = float(os.environ.get("DISTAFF_BENCH_STEP_SECONDS", "0.5"))


class StepsState(MessagesState):
    done: int


async def step(state: StepsState) -> dict[str, Any]:
    await asyncio.sleep(STEP_SECONDS)
    return {"done": state.get("done", 0) + 1}


def more(state: StepsState) -> str:
    return "step" if state["done"] < int(str(state["messages"][-1].content)) else "__end__"


steps_builder = StateGraph(StepsState)
steps_builder.add_node("step", step)
steps_builder.add_edge(START, "step")
steps_builder.add_conditional_edges("step", more, ["step", "__end__"])
steps_graph = steps_builder.compile()
