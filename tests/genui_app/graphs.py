"""The generative-UI test graphs (tests/test_genui.py).

- genui: answers with an AI message and pushes UI messages: `weather` tied to that message
  (pushed, then merged into), and `note` tied to none.
- plain: the same without a `ui` entry in langgraph.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.ui import AnyUIMessage, push_ui_message, ui_message_reducer
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    ui: Annotated[Sequence[AnyUIMessage], ui_message_reducer]


def forecast(state: State) -> dict[str, Any]:
    messages = state.get("messages") or []
    city = str(messages[-1].content) if messages else "Paris"
    reply = AIMessage(id=f"reply-{len(messages)}", content=f"The weather in {city}")
    push_ui_message("weather", {"city": city, "temp": 21}, id="weather-1", message=reply)
    push_ui_message("weather", {"sky": "clear"}, id="weather-1", message=reply, merge=True)
    push_ui_message("note", {"text": "unbound note"}, id="note-1")
    return {"messages": [reply]}


def _graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("forecast", forecast)
    builder.add_edge(START, "forecast")
    builder.add_edge("forecast", END)
    return builder.compile()


genui = _graph()
plain = _graph()
