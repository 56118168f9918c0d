"""The benchmark's graphs: `bench`, one node that answers "ok", and `chat`, a fake chat model
streaming 20 tokens (for the streaming rows). No real model, no I/O: what is measured is the
server (or langgraph itself, for the in-process baseline), not the graph."""

from __future__ import annotations

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
