"""A graph whose state holds an object of a class of this module, and which says what class
the value it finds in its state has when the next run reads it back from a checkpoint."""

from __future__ import annotations

import dataclasses
from typing import Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict


@dataclasses.dataclass
class Box:
    label: str


class BoxState(TypedDict, total=False):
    # `Any`, not `Box`: langgraph allows the types its state schema names by itself.
    box: Any
    seen: str | None


def look(state: BoxState) -> dict[str, Any]:
    box = state.get("box")
    return {"box": box or Box("first"), "seen": None if box is None else type(box).__name__}


_graph = StateGraph(BoxState)
_graph.add_node("look", look)
_graph.add_edge(START, "look")
graph = _graph.compile()
