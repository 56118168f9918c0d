"""The bundled example: `echo` answers without a model; `chat` streams tokens from a fake model
and asks a human before answering when the message contains "approve"."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt


def echo_node(state: MessagesState) -> dict[str, list[AIMessage]]:
    last = state["messages"][-1].content if state["messages"] else ""
    return {"messages": [AIMessage(f"echo: {last}")]}


_echo = StateGraph(MessagesState)
_echo.add_node("echo", echo_node)
_echo.add_edge(START, "echo")
graph = _echo.compile()


async def respond(state: MessagesState) -> dict[str, list[AIMessage]]:
    text = str(state["messages"][-1].content)
    if "approve" in text:
        answer = interrupt({"question": "approve?"})
        text = f"{text} (approved: {answer})"
    model = GenericFakeChatModel(messages=iter([AIMessage(f"You said: {text}")]))
    return {"messages": [await model.ainvoke(state["messages"])]}


_chat = StateGraph(MessagesState)
_chat.add_node("respond", respond)
_chat.add_edge(START, "respond")
chat = _chat.compile()
