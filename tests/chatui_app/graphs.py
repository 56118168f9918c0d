"""The graph Agent Chat UI talks to in tests/test_chatui.py.

chat: a fake chat model streams the reply a word (or space) at a time, TOKEN_DELAY seconds
apart, and the reply gets a `weather` UI component; then the graph asks, with an interrupt in
the Agent Inbox shape that Agent Chat UI renders (`action_request`, `config`, `description`),
whether to send the forecast, and says what the answer was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.ui import AnyUIMessage, push_ui_message, ui_message_reducer
from langgraph.types import interrupt
from typing_extensions import TypedDict

#: Seconds between two tokens: the reply takes about a second to stream in.
TOKEN_DELAY = 0.05


def reply_to(city: str) -> str:
    return f"Sunny skies over {city} today with a light breeze from the sea and no rain"


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    ui: Annotated[Sequence[AnyUIMessage], ui_message_reducer]


def _city(state: State) -> str:
    return str(state["messages"][0].content)


async def answer(state: State, config: RunnableConfig) -> dict[str, Any]:
    model = GenericFakeChatModel(messages=iter([AIMessage(reply_to(_city(state)))]))
    reply: AIMessageChunk | None = None
    async for chunk in model.astream(state["messages"], config):
        reply = chunk if reply is None else reply + chunk
        # The model makes its next token only when asked for it: this paces the stream.
        await asyncio.sleep(TOKEN_DELAY)
    assert reply is not None
    message = AIMessage(content=reply.content, id=reply.id)
    push_ui_message("weather", {"city": _city(state), "sky": "sunny"}, message=message)
    return {"messages": [message]}


def approve(state: State) -> dict[str, Any]:
    [response] = interrupt(
        [
            {
                "action_request": {"action": "send_forecast", "args": {"city": _city(state)}},
                "config": {
                    "allow_accept": True,
                    "allow_edit": False,
                    "allow_respond": False,
                    "allow_ignore": False,
                },
                "description": "Send this forecast to the subscribers?",
            }
        ]
    )
    return {"messages": [AIMessage(f"Forecast sent ({response['type']})")]}


_builder = StateGraph(State)
_builder.add_node("answer", answer)
_builder.add_node("approve", approve)
_builder.add_edge(START, "answer")
_builder.add_edge("answer", "approve")
_builder.add_edge("approve", END)
chat = _builder.compile()
