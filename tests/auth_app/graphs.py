"""`whoami`: tells who the run's user is, as a graph sees it."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime


def answer(state: MessagesState, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
    configurable = config["configurable"]
    user = configurable.get("langgraph_auth_user")
    server_user = runtime.server_info.user if runtime.server_info else None
    seen = {
        "config_user": user["identity"] if user else None,
        "config_user_attr": getattr(user, "identity", None),
        "user_id": configurable.get("langgraph_auth_user_id"),
        "permissions": configurable.get("langgraph_auth_permissions"),
        "runtime_user": server_user.identity if server_user else None,
        "tenant": configurable.get("x-tenant"),
        "authorization": configurable.get("authorization"),
    }
    return {"messages": [AIMessage(str(sorted(seen.items())))]}


_whoami = StateGraph(MessagesState)
_whoami.add_node("answer", answer)
_whoami.add_edge(START, "answer")
whoami = _whoami.compile()
