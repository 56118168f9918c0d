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
