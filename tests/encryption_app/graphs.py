"""A graph whose sync node uses the store (run on a worker thread): through the encrypted
store, its calls cross to the server's event loop, where the async handlers run."""

from __future__ import annotations

from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict


class FileState(TypedDict, total=False):
    key: str
    text: str
    read_back: Any


def file_it(state: FileState, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None, "the server did not give the graph its store"
    store.put(("sync",), state["key"], {"text": state["text"]})
    item = store.get(("sync",), state["key"])
    return {"read_back": None if item is None else item.value}


_filer = StateGraph(FileState)
_filer.add_node("file_it", file_it)
_filer.add_edge(START, "file_it")
filer = _filer.compile()


# A sync node invoking a compiled subgraph with `.invoke`: the subgraph inherits the run's
# checkpointer (the encrypted one) and calls its sync methods from the node's worker thread.
class NestState(TypedDict, total=False):
    notes: list[str]


def _inner_step(state: NestState) -> dict[str, Any]:
    return {"notes": [*state.get("notes", []), "from inner"]}


_inner = StateGraph(NestState)
_inner.add_node("inner_step", _inner_step)
_inner.add_edge(START, "inner_step")
_inner_graph = _inner.compile()


def call_inner(state: NestState) -> dict[str, Any]:
    out = _inner_graph.invoke({"notes": [*state.get("notes", []), "from outer"]})
    return {"notes": out["notes"]}


_nested = StateGraph(NestState)
_nested.add_node("call_inner", call_inner)
_nested.add_edge(START, "call_inner")
nested = _nested.compile()
