"""The benchmark's graph: one node that answers "ok". No model, no I/O: what is measured is the
server (or langgraph itself, for the in-process baseline), not the graph."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph


def answer(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("ok")]}


builder = StateGraph(MessagesState)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
graph = builder.compile()
